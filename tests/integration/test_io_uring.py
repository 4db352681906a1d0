"""--io-uring: a flush's socket writes leave in one io_uring submit. Every
mode delivers the same bytes; the batched path reports itself in /metrics
(fewer submits than sends); where io_uring is forbidden (as under Docker's
default seccomp profile) 'auto' falls back to one write per connection and
'on' refuses to start."""

import os
import sys
import time

import pytest

from helpers import expect_body, sse_block
from sse_client import SSEClient, get

HERE = os.path.dirname(os.path.abspath(__file__))
NO_IO_URING = [sys.executable, os.path.join(HERE, "no_io_uring.py")]


def metric(port, name):
    """The value of sse_bridge_<name> (no labels) in /metrics."""
    r = get(port, "/metrics")
    assert r.status == 200, r
    for line in r.body.decode().splitlines():
        if line.startswith("sse_bridge_%s " % name):
            return float(line.split(" ", 1)[1])
    raise AssertionError("sse_bridge_%s not in /metrics" % name)


def open_streams(port, n, channel="alpha", **kw):
    streams = [SSEClient(port, "/events?channels=%s" % channel, name="s%d" % i, **kw) for i in range(n)]
    return streams, [s.connected() for s in streams]


def burst_then_check(redis_server, streams, marks, count=200):
    """Publishes count messages in one pipeline (they reach the bridge in a
    few reads, so several are queued per stream in one flush) and checks
    every stream's bytes after its connected event."""
    redis_server.wait_subscribed(["alpha"])
    pipe = redis_server.client().pipeline(transaction=False)
    expected = b""
    for i in range(count):
        data = "m%04d %s" % (i, "x" * (i % 50))
        pipe.publish("alpha", data)
        expected += sse_block("alpha", data)
    assert pipe.execute() == [1] * count  # one subscriber: the bridge
    for s, ev in zip(streams, marks):
        expect_body(s, ev, expected, timeout=15)


@pytest.mark.parametrize("mode", ["on", "auto"])
def test_batched_sends_deliver_bursts_byte_exact_with_fewer_system_calls_than_sends(bridge, redis_server, mode):
    b = bridge("--io-uring", mode)
    assert "io_uring: on; each flush's writes leave in one system call" in b.stderr()
    streams, marks = open_streams(b.port, 40)
    try:
        burst_then_check(redis_server, streams, marks)
        assert metric(b.port, "io_uring") == 1
        sends = metric(b.port, "batched_sends_total")
        submits = metric(b.port, "batch_submits_total")
        # 40 connected events + the burst, at least one send per stream per
        # message read: far more sends than the system calls that carried them.
        assert sends >= 80, sends
        assert 1 <= submits < sends / 10, (submits, sends)
    finally:
        for s in streams:
            s.close()


def test_off_writes_each_connection_itself_and_delivers_the_same_bytes(bridge, redis_server):
    b = bridge("--io-uring", "off")
    assert "io_uring: off; writing one connection at a time" in b.stderr()
    streams, marks = open_streams(b.port, 40)
    try:
        burst_then_check(redis_server, streams, marks)
        assert metric(b.port, "io_uring") == 0
        assert metric(b.port, "batched_sends_total") == 0
        assert metric(b.port, "batch_submits_total") == 0
    finally:
        for s in streams:
            s.close()


def test_a_message_larger_than_the_socket_takes_goes_out_whole_after_a_partial_batched_send(bridge, redis_server):
    # A tiny receive window: the batched send takes only part of the message,
    # the rest waits in the bridge until the reader catches up.
    b = bridge("--io-uring", "on", "--max-message-bytes", "2097152", "--max-queue-bytes", "4194304")
    small = SSEClient(b.port, "/events?channels=alpha", rcvbuf=4096, name="small-window")
    fast = SSEClient(b.port, "/events?channels=alpha", name="fast")
    try:
        ev_small, ev_fast = small.connected(), fast.connected()
        redis_server.wait_subscribed(["alpha"])
        big = "".join(chr(ord("a") + i % 26) for i in range(1500000))
        r = redis_server.client()
        sends_before = metric(b.port, "batched_sends_total")
        assert r.publish("alpha", big) == 1
        assert r.publish("alpha", "after") == 1
        expected = sse_block("alpha", big) + sse_block("alpha", "after")
        expect_body(fast, ev_fast, expected, timeout=15)
        time.sleep(0.3)  # the small window stays full a while
        expect_body(small, ev_small, expected, timeout=30)
        # Both streams took the big message's first bytes through the batch.
        assert metric(b.port, "batched_sends_total") - sends_before >= 2
    finally:
        small.close()
        fast.close()


def test_where_io_uring_is_forbidden_auto_falls_back_and_delivers(bridge, redis_server):
    b = bridge("--io-uring", "auto", wrap=NO_IO_URING)
    assert "io_uring: unavailable (Operation not permitted); writing one connection at a time" in b.stderr()
    streams, marks = open_streams(b.port, 20)
    try:
        burst_then_check(redis_server, streams, marks, count=100)
        assert metric(b.port, "io_uring") == 0
        assert metric(b.port, "batched_sends_total") == 0
    finally:
        for s in streams:
            s.close()


def test_where_io_uring_is_forbidden_on_refuses_to_start_with_the_reason(bridge):
    b = bridge("--io-uring", "on", wrap=NO_IO_URING, wait=False)
    assert b.wait_exit(10) == 1
    assert ("io_uring: cannot set up a ring: Operation not permitted "
            "(--io-uring on requires it; use auto or off)") in b.stderr()
    assert "listening on" not in b.stderr()


@pytest.mark.parametrize("value", ["yes", "", "ON"])
def test_an_invalid_io_uring_value_exits_2_with_the_allowed_values(bridge, value):
    b = bridge("--io-uring", value, wait=False)
    assert b.wait_exit(10) == 2
    assert "sse-bridge: invalid value '%s' for --io-uring: expected auto, on or off" % value in b.stderr()


def test_an_invalid_SSE_IO_URING_exits_2_naming_the_variable(bridge):
    b = bridge(env={"SSE_IO_URING": "maybe"}, wait=False)
    assert b.wait_exit(10) == 2
    assert "SSE_IO_URING" in b.stderr() and "expected auto, on or off" in b.stderr(), b.stderr()
