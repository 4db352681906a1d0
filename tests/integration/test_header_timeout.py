"""--header-timeout: a client that has not sent complete request headers in
time is disconnected (slowloris), others are served meanwhile, and open
streams are not affected."""

import socket
import time

from helpers import expect_body, sse_block
from sse_client import HTTPConnection, get

HEADER_TIMEOUT = 1
LIMIT = HEADER_TIMEOUT + 2  # the server must have closed by then


def assert_closed_by_server_in_time(conn, t0, what):
    closed = conn.wait_closed(LIMIT - (time.monotonic() - t0))
    elapsed = time.monotonic() - t0
    assert closed, "%s: still open %.1f s after connecting with --header-timeout %d" % (what, elapsed, HEADER_TIMEOUT)
    assert elapsed >= HEADER_TIMEOUT * 0.5, "%s: closed after only %.2f s" % (what, elapsed)
    if conn.buf:
        assert bytes(conn.buf).startswith(b"HTTP/1.1 408"), "%s: unexpected answer %r" % (what, bytes(conn.buf[:200]))


def test_client_with_partial_headers_is_disconnected_after_header_timeout_while_others_are_served(
        bridge, clients, redis_server):
    b = bridge("--header-timeout", str(HEADER_TIMEOUT))
    stream = clients.sse(b.port, "/events?channels=alpha", name="stream")
    ev = stream.connected()
    redis_server.wait_subscribed(["alpha"])
    t0 = time.monotonic()
    slow = HTTPConnection(b.port)
    try:
        slow.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        time.sleep(0.3)
        # meanwhile: a plain request and a stream message are served
        r = get(b.port, "/healthz")
        assert r.status == 200, r
        assert redis_server.publish("alpha", "during slowloris") >= 1
        expect_body(stream, ev, sse_block("alpha", "during slowloris"), timeout=2)
        assert_closed_by_server_in_time(slow, t0, "partial headers")
    finally:
        slow.close()
    assert not stream.closed


def test_client_trickling_header_bytes_is_disconnected_after_header_timeout(bridge):
    b = bridge("--header-timeout", str(HEADER_TIMEOUT))
    t0 = time.monotonic()
    conn = HTTPConnection(b.port)
    closed = False
    try:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ")
        while time.monotonic() - t0 < LIMIT:
            try:
                conn.send(b"a")
            except OSError:  # EPIPE / ECONNRESET: the server closed
                closed = True
                break
            conn.sock.settimeout(0.2)
            try:
                chunk = conn.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            conn.buf += chunk
        elapsed = time.monotonic() - t0
        assert closed, "a client trickling one header byte every 0.2 s was still connected after %.1f s" % elapsed
        assert elapsed >= HEADER_TIMEOUT * 0.5, "closed after only %.2f s" % elapsed
        if conn.buf:
            assert bytes(conn.buf).startswith(b"HTTP/1.1 408"), bytes(conn.buf[:200])
    finally:
        conn.close()
    assert get(b.port, "/healthz").status == 200


def test_client_that_sends_nothing_is_disconnected_after_header_timeout(bridge):
    b = bridge("--header-timeout", str(HEADER_TIMEOUT))
    t0 = time.monotonic()
    conn = HTTPConnection(b.port)
    try:
        assert_closed_by_server_in_time(conn, t0, "silent client")
    finally:
        conn.close()


def test_open_stream_is_not_cut_by_header_timeout(bridge, clients, redis_server):
    b = bridge("--header-timeout", str(HEADER_TIMEOUT))
    c = clients.sse(b.port, "/events?channels=alpha")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha"])
    assert c.quiet_for(HEADER_TIMEOUT + 1.5) == b""
    assert not c.closed, "the stream was closed by the header timeout"
    assert redis_server.publish("alpha", "still here") >= 1
    expect_body(c, ev, sse_block("alpha", "still here"))
