"""Resource protection under hostile load: the per-IP rate limit of new
streams, a reader that keeps receiving every message while 1,000 bad
requests hit the bridge, and 500 slowloris connections closed at the header
timeout without blocking new clients."""

import socket
import threading
import time

from helpers import assert_json_error, wait_until
from sse_client import get, http_request

BAD_REQUESTS = [
    b"GET /events?channels=alpha&pad=" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",      # 414
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n",             # 431
    b"GET /events?channels=bad%20name HTTP/1.1\r\nHost: x\r\n\r\n",                          # 400
    b"GET /events?channels=forbidden HTTP/1.1\r\nHost: x\r\n\r\n",                           # 403
    b"GET /events?channels=alpha&client_id=a/b HTTP/1.1\r\nHost: x\r\n\r\n",                 # 400
    b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",                        # 405
    b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",                                                # 404
    b"BREW /events HTTP/1.1\r\n\r\n",                                                        # 400
    b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # 400
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,                          # TLS hello: 400
]


def send_bad(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        head = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            head += chunk
        return head.split(b" ", 2)[1] if head.startswith(b"HTTP/1.1 ") else b""
    except OSError:
        return b"reset"
    finally:
        s.close()


def test_rate_limit_refuses_a_burst_over_the_bucket_and_admits_again_after_the_refill(bridge, clients):
    b = bridge("--rate-limit", "2", "--rate-limit-burst", "3", "--trusted-proxies", "127.0.0.1")
    streams = [clients.sse(b.port, "/events?channels=alpha") for _ in range(3)]
    for s in streams:
        s.connected()
    r = http_request(b.port, b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_json_error(r, 429, "rate_limited")
    assert r.header("Retry-After") == "1"
    # Another client behind the trusted proxy has its own bucket.
    other = clients.sse(b.port, "/events?channels=alpha", headers=[("X-Forwarded-For", "198.51.100.7")])
    other.connected()
    time.sleep(0.6)  # 2 tokens per second: one is back
    again = clients.sse(b.port, "/events?channels=alpha")
    again.connected()
    assert b.counters()["rate_limited"] == 1


def test_a_reader_gets_every_message_while_a_thousand_bad_requests_hit_the_bridge(bridge, clients, redis_server):
    b = bridge()
    reader = clients.sse(b.port, "/events?channels=alpha")
    reader.connected()
    redis_server.wait_subscribed(["alpha"])
    statuses = {}
    done = threading.Event()

    def attack():
        try:
            for i in range(1000):
                st = send_bad(b.port, BAD_REQUESTS[i % len(BAD_REQUESTS)])
                statuses[st] = statuses.get(st, 0) + 1
        finally:
            done.set()

    t = threading.Thread(target=attack)
    t.start()
    pub = redis_server.client()
    sent = 0
    while not done.is_set() and sent < 2000:
        pub.publish("alpha", "m%d" % sent)
        sent += 1
        time.sleep(0.002)
    t.join(120)
    assert done.is_set()
    got = [reader.next_event(timeout=10).data for _ in range(sent)]
    assert got == ["m%d" % i for i in range(sent)]
    assert sent >= 10, "the attack ended before any message was published"
    assert set(statuses) <= {b"400", b"403", b"404", b"405", b"414", b"431"}, statuses
    assert sum(statuses.values()) == 1000
    assert b.alive()
    h = b.healthz()
    assert h["counters"]["requests_rejected"] == 1000
    # Each refusal is counted under its own code, in /healthz and /metrics.
    assert h["rejected_by_code"] == {
        "uri_too_long": 100, "headers_too_large": 100, "invalid_channel": 100, "channel_forbidden": 100,
        "invalid_client_id": 100, "method_not_allowed": 100, "not_found": 100, "bad_request": 300}, h
    metrics = get(b.port, "/metrics").body.decode()
    assert 'sse_bridge_http_errors_by_code_total{code="uri_too_long"} 100' in metrics
    assert 'sse_bridge_http_errors_by_code_total{code="bad_request"} 300' in metrics


SLOW_REQUEST = b"GET /events?channels=alpha HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 64


def test_five_hundred_slowloris_connections_are_closed_at_the_header_timeout_and_block_no_one(
        bridge, clients, redis_server):
    b = bridge("--header-timeout", "2")
    socks = [socket.create_connection(("127.0.0.1", b.port), timeout=5) for _ in range(500)]
    t0 = time.monotonic()
    answers = {}
    closed = set()
    step = 0
    fresh = None
    while len(closed) < len(socks) and time.monotonic() - t0 < 15:
        # One byte a second from each, never finishing the headers.
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.sendall(SLOW_REQUEST[step:step + 1])
                s.setblocking(False)
                try:
                    data = s.recv(4096)
                    answers[i] = data
                    closed.add(i)
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
            except OSError:
                closed.add(i)
        if fresh is None:
            # Meanwhile a new client opens a stream and is served.
            fresh = clients.sse(b.port, "/events?channels=alpha")
            fresh.connected(timeout=5)
            redis_server.wait_subscribed(["alpha"])
            redis_server.publish("alpha", "not blocked")
            assert fresh.next_event(timeout=5).data == "not blocked"
            assert not closed, "slowloris connections closed before the header timeout"
        step += 1
        time.sleep(1.0)
    elapsed = time.monotonic() - t0
    for s in socks:
        s.close()
    assert len(closed) == 500, "%d of 500 slowloris connections still open after %.1f s" % (
        500 - len(closed), elapsed)
    assert 2 <= elapsed < 10, "closing took %.1f s for a 2 s header timeout" % elapsed
    bad = [a[:40] for a in answers.values() if a and not a.startswith(b"HTTP/1.1 408")]
    assert not bad, "closed with another answer than 408: %r" % bad[:3]
    assert b.healthz()["connections"] == 1  # the fresh stream is still there


def _get(port, target, headers=()):
    req = "GET %s HTTP/1.1\r\nHost: x\r\n" % target + "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return http_request(port, req.encode())


def test_the_url_and_header_limits_follow_their_flags_just_under_works_just_over_is_refused(bridge):
    b = bridge("--max-url-bytes", "300", "--max-header-bytes", "1500", "--max-headers", "10")
    base = "/healthz?pad="
    assert _get(b.port, base + "a" * (300 - len(base))).status == 200
    r = _get(b.port, base + "a" * (301 - len(base)))
    body = assert_json_error(r, 414, "uri_too_long")
    assert body["error"] == "request target longer than 300 bytes"
    # "Host: x" is 5 bytes of names and values; one header fills the rest.
    assert _get(b.port, "/healthz", [("X-Pad", "a" * (1500 - 5 - 5))]).status == 200
    r = _get(b.port, "/healthz", [("X-Pad", "a" * (1500 - 5 - 5 + 1))])
    assert assert_json_error(r, 431, "headers_too_large")["error"] == "request headers larger than 1500 bytes"
    nine = [("X-H%d" % i, "v") for i in range(9)]  # with Host: 10 lines
    assert _get(b.port, "/healthz", nine).status == 200
    r = _get(b.port, "/healthz", nine + [("X-H9", "v")])
    assert assert_json_error(r, 431, "headers_too_large")["error"] == "more than 10 request headers"
    # A larger URL limit lets a long request through.
    b2 = bridge("--max-url-bytes", "10000", bridge_id="wide")
    assert _get(b2.port, "/healthz?pad=" + "a" * 9000).status == 200


def test_a_token_longer_than_any_fits_in_the_authorization_buffer_is_refused_as_too_large(bridge):
    b = bridge("--auth-secret", "x" * 40, "--max-header-bytes", "65536")
    r = _get(b.port, "/events?channels=alpha", [("Authorization", "Bearer " + "a" * 20000)])
    assert_json_error(r, 401, "token_too_large")
