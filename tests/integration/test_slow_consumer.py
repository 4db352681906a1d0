"""Slow consumers: a stream whose pending bytes pass --max-queue-bytes is
closed by the bridge and counted; other streams get every message."""

import socket
import time

from helpers import expect_body, sse_block, wait_until
from sse_client import HTTPConnection

MSG_SIZE = 64 * 1024
N_MSGS = 200


def payload(i):
    head = b"%05d:" % i
    return head + b"x" * (MSG_SIZE - len(head))


def test_client_that_stops_reading_is_dropped_at_the_queue_cap_while_a_reading_client_gets_every_message(
        bridge, clients, redis_server):
    b = bridge("--max-queue-bytes", "65536")
    reader = clients.sse(b.port, "/events?channels=alpha", name="reader")
    ev = reader.connected()
    # The slow client: a small receive window, opens the stream and never recv()s.
    slow = HTTPConnection(b.port, rcvbuf=4096)
    try:
        slow.send(b"GET /events?channels=alpha&client_id=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        wait_until(lambda: b.healthz()["connections"] == 2, 5, what="both streams open")
        redis_server.wait_subscribed(["alpha"])

        # Publish in lockstep with the reader (message i+1 only once the reader
        # has message i), so the reader never lags and only the client that
        # does not read can pass the cap.
        pub = redis_server.client()
        expected = b""
        for i in range(N_MSGS):
            assert pub.publish("alpha", payload(i)) >= 1
            expected += sse_block("alpha", payload(i))
            reader.read_until(lambda c: len(c.events) >= i + 2, 10, "message %d" % i)
        assert pub.publish("alpha", "END") >= 1
        expected += sse_block("alpha", "END")
        expect_body(reader, ev, expected, timeout=10)

        wait_until(lambda: b.counters()["slow_consumer_drops"] == 1, 5, what="slow_consumer_drops == 1")
        h = b.healthz()
        assert h["connections"] == 1, h
        assert h["counters"]["connections_closed"] == 1, h

        # the slow socket, read now: what it got is a prefix of the stream, then the bridge's close
        deadline = time.monotonic() + 10
        got = bytearray()
        closed = False
        while time.monotonic() < deadline:
            slow.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = slow.sock.recv(1 << 20)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            got += chunk
        assert closed, "the slow stream was not closed by the bridge (read %d bytes, still open)" % len(got)
        if got:
            assert got.startswith(b"HTTP/1.1 200 OK\r\n"), bytes(got[:200])
        # far less than everything was accepted for it
        assert len(got) < len(expected) // 2, len(got)
    finally:
        slow.close()
    assert not reader.closed
