"""Graceful shutdown: SIGTERM/SIGINT stop accepting, tell every stream,
close them, and exit 0 within --drain-timeout."""

import json
import re
import signal
import time

import pytest

from helpers import BRIDGE_ID, expect_body, sse_block
from sse_client import HTTPConnection

# The contract writes this block "retry: N\nevent: system\ndata: ...", but also
# says every block is ordered event, id, retry, data: both orders accepted.
SHUTDOWN_RE = re.compile(rb"\A(?:retry: (\d+)\nevent: system|event: system\nretry: (\d+))\ndata: ([^\n]*)\n\n\Z")


def new_stream_refused(port):
    """True when a new client cannot get a stream: connection refused, or
    closed/reset without a 200, or a non-200 answer."""
    try:
        conn = HTTPConnection(port, timeout=3)
    except OSError:
        return True
    try:
        try:
            conn.send(b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n\r\n")
            r = conn.read_response(3, head_only=True)
        except Exception:  # refused, reset, closed or timed out: no stream
            return True
        return r.status != 200
    finally:
        conn.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_sends_shutdown_event_to_every_stream_closes_them_and_exits_0(bridge, clients, redis_server, sig):
    b = bridge("--drain-timeout", "5", "--retry-ms", "2000")
    streams = [clients.sse(b.port, "/events?channels=alpha", name="s1"),
               clients.sse(b.port, "/events?channels=beta&client_id=x", name="s2"),
               clients.sse(b.port, "/stream", name="s3")]
    for c in streams:
        c.connected()
    t0 = time.monotonic()
    b.signal(sig)
    for c in streams:
        ev = c.wait_event(lambda e: e.type == "system", 5, what="the shutdown event")
        m = SHUTDOWN_RE.match(ev.raw)
        assert m, "shutdown block not as specified: %r" % ev.raw
        retry = int(m.group(1) or m.group(2))
        assert 1000 <= retry <= 3000, "retry %d outside [1000, 3000] for --retry-ms 2000" % retry
        info = json.loads(m.group(3))
        assert info["status"] == "shutdown", info
        assert info["bridge"] == BRIDGE_ID, info
    assert new_stream_refused(b.port), "a new stream was accepted after the shutdown began"
    for c in streams:
        assert c.wait_closed(7), "%s: the bridge did not close the stream on shutdown" % c.name
    rc = b.wait_exit(max(0.1, 7 - (time.monotonic() - t0)))
    assert rc is not None, "the bridge did not exit within --drain-timeout 5 (+2 s) of the signal"
    assert rc == 0, "exit code %r after %s" % (rc, sig.name)


def test_sigterm_exits_0_within_drain_timeout_even_when_a_stream_never_reads(bridge, clients, redis_server):
    b = bridge("--drain-timeout", "2", "--max-queue-bytes", str(64 * 1024 * 1024))
    reader = clients.sse(b.port, "/events?channels=alpha", name="reader")
    ev = reader.connected()
    stuck = HTTPConnection(b.port, rcvbuf=4096)
    try:
        stuck.send(b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while b.healthz()["connections"] < 2:
            assert time.monotonic() < deadline, "the stuck stream never opened"
            time.sleep(0.02)
        redis_server.wait_subscribed(["alpha"])
        big = b"y" * (256 * 1024)
        expected = b""
        pub = redis_server.client()
        for i in range(24):  # 6 MiB: more than the kernel buffers of the stuck socket hold
            assert pub.publish("alpha", big) >= 1
            expected += sse_block("alpha", big)
        expect_body(reader, ev, expected, timeout=20)
        assert b.counters()["slow_consumer_drops"] == 0
        t0 = time.monotonic()
        b.signal(signal.SIGTERM)
        sd = reader.wait_event(lambda e: e.type == "system", 5, what="the shutdown event")
        assert sd.json()["status"] == "shutdown"
        rc = b.wait_exit(max(0.1, 5 - (time.monotonic() - t0)))
        assert rc is not None, "the bridge did not exit within --drain-timeout 2 (+3 s) with a stuck client"
        assert rc == 0, rc
        assert reader.wait_closed(2)
    finally:
        stuck.close()


def test_sigterm_while_redis_is_down_still_tells_streams_and_exits_0(bridge, clients, redis_server):
    redis_server.kill()
    b = bridge("--drain-timeout", "3", wait_redis=False)
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    b.signal(signal.SIGTERM)
    ev = c.wait_event(lambda e: e.type == "system" and e.json().get("status") == "shutdown", 4, what="the shutdown event")
    assert ev.json()["bridge"] == BRIDGE_ID
    assert c.wait_closed(4)
    rc = b.wait_exit(5)
    assert rc == 0, "exit code %r (None: still running 5 s after SIGTERM)" % rc


def test_sigterm_with_no_clients_exits_0_promptly(bridge):
    b = bridge()
    assert b.healthz()["status"] == "ok"
    t0 = time.monotonic()
    b.signal(signal.SIGTERM)
    rc = b.wait_exit(5)
    assert rc == 0, "exit code %r (None: still running 5 s after SIGTERM)" % rc
    assert time.monotonic() - t0 < 2.0, "idle bridge took %.1f s to exit" % (time.monotonic() - t0)


def test_sigterm_does_not_wait_the_drain_window_for_an_idle_keep_alive_connection(bridge):
    """A browser keeps the socket it fetched /sse-client.js on open and idle;
    the bridge shuts it down and closes it soon, not at --drain-timeout."""
    b = bridge("--drain-timeout", "20")
    conn = HTTPConnection(b.port)
    try:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive: the socket stays
        assert conn.read_response(5).status == 200
        t0 = time.monotonic()
        b.signal(signal.SIGTERM)
        rc = b.wait_exit(10)
        elapsed = time.monotonic() - t0
        assert rc == 0, "exit code %r (None: still running 10 s after SIGTERM)" % rc
        assert elapsed < 3.0, "an idle keep-alive connection held the shutdown for %.1f s" % elapsed
    finally:
        conn.close()
