"""Bad requests: each gets its status and JSON code, is counted, the
connection is closed, and the bridge goes on serving streams afterwards."""

import pytest

from helpers import assert_json_error, expect_body, sse_block
from sse_client import HTTPConnection


def request(target, method="GET", headers=None, version="HTTP/1.1"):
    hs = headers if headers is not None else [("Host", "127.0.0.1")]
    return ("%s %s %s\r\n" % (method, target, version) + "".join("%s: %s\r\n" % h for h in hs) + "\r\n").encode("latin-1")


FAM17 = ",".join("fam.%d" % i for i in range(17))

BAD_REQUESTS = [
    # id, raw request, status, code
    ("unknown-path", request("/nope"), 404, "not_found"),
    ("unknown-path-prefix-of-route", request("/eventsx?channels=alpha"), 404, "not_found"),
    ("post-events", request("/events?channels=alpha", "POST", [("Host", "x"), ("Content-Length", "0")]), 405, "method_not_allowed"),
    ("delete-healthz", request("/healthz", "DELETE"), 405, "method_not_allowed"),
    ("put-stream", request("/stream", "PUT", [("Host", "x"), ("Content-Length", "0")]), 405, "method_not_allowed"),
    ("options-events", request("/events?channels=alpha", "OPTIONS"), 405, "method_not_allowed"),
    ("garbage", b"GARBAGE\r\n\r\n", 400, "bad_request"),
    ("header-without-colon", b"GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", 400, "bad_request"),
    ("bad-content-length", b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "bad_request"),
    ("target-2049-bytes", request("/healthz?pad=" + "a" * (2049 - len("/healthz?pad="))), 414, "uri_too_long"),
    ("target-3000-bytes", request("/events?channels=alpha&pad=" + "a" * 3000), 414, "uri_too_long"),
    ("one-9000-byte-header", request("/healthz", headers=[("Host", "x"), ("X-Pad", "a" * 9000)]), 431, "headers_too_large"),
    ("200-small-headers", request("/healthz", headers=[("Host", "x")] + [("X-H%03d" % i, "v" * 40) for i in range(200)]),
     431, "headers_too_large"),
    ("channel-with-space", request("/events?channels=bad%20name"), 400, "invalid_channel"),
    ("channel-with-slash", request("/events?channels=alpha,al/pha"), 400, "invalid_channel"),
    ("channel-empty-list", request("/events?channels="), 400, "invalid_channel"),
    ("channel-129-bytes", request("/events?channels=fam." + "x" * 125), 400, "invalid_channel"),
    ("stream-channel-with-bang", request("/stream?channel=bad!"), 400, "invalid_channel"),
    ("channel-not-allowed", request("/events?channels=delta"), 403, "channel_forbidden"),
    ("one-of-channels-not-allowed", request("/events?channels=alpha,delta"), 403, "channel_forbidden"),
    ("channel-outside-family", request("/events?channels=famx"), 403, "channel_forbidden"),
    ("stream-channel-not-allowed", request("/stream?channel=delta"), 403, "channel_forbidden"),
    ("seventeen-channels", request("/events?channels=" + FAM17), 400, "too_many_channels"),
    ("client-id-with-slash", request("/events?channels=alpha&client_id=bad/id"), 400, "invalid_client_id"),
    ("client-id-empty", request("/events?channels=alpha&client_id="), 400, "invalid_client_id"),
    ("client-id-129-bytes", request("/events?channels=alpha&client_id=" + "c" * 129), 400, "invalid_client_id"),
    ("client-id-with-space", request("/events?channels=alpha&client_id=a%20b"), 400, "invalid_client_id"),
    ("bad-percent-in-channels", request("/events?channels=%zz"), 400, "invalid_query"),
    ("truncated-percent-in-client-id", request("/events?channels=alpha&client_id=ab%4"), 400, "invalid_query"),
]


def assert_bridge_still_streams(b, clients, redis_server, tag):
    c = clients.sse(b.port, "/events?channels=alpha", name="after-" + tag)
    ev = c.connected()
    redis_server.wait_subscribed(["alpha"])
    assert redis_server.publish("alpha", "still serving after " + tag) >= 1
    expect_body(c, ev, sse_block("alpha", "still serving after " + tag))


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_gets_status_and_json_code_then_close_and_bridge_keeps_serving(bridge, clients, redis_server, case):
    name, raw, status, code = case
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(raw)
        resp = conn.read_response(5)
        assert_json_error(resp, status, code)
        if status == 405:
            assert resp.header("Allow") == "GET", "405 without 'Allow: GET': %r" % resp
        assert conn.wait_closed(3), "the bridge kept the connection open after a %d" % status
    finally:
        conn.close()
    assert b.counters()["requests_rejected"] == 1
    assert_bridge_still_streams(b, clients, redis_server, name)


def test_request_target_of_exactly_2048_bytes_is_accepted(bridge):
    b = bridge()
    target = "/healthz?pad=" + "a" * (2048 - len("/healthz?pad="))
    assert len(target) == 2048
    conn = HTTPConnection(b.port)
    try:
        conn.send(request(target))
        resp = conn.read_response(5)
        assert resp.status == 200, resp
    finally:
        conn.close()


def test_request_headers_of_about_6000_bytes_are_accepted(bridge):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(request("/healthz", headers=[("Host", "x"), ("X-Pad", "p" * 6000)]))
        resp = conn.read_response(5)
        assert resp.status == 200, resp
    finally:
        conn.close()


def test_sixteen_channels_are_accepted_with_the_default_limit(bridge, clients):
    b = bridge()
    chans = ["fam.%d" % i for i in range(16)]
    c = clients.sse(b.port, "/events?channels=" + ",".join(chans))
    assert sorted(c.connected().json()["channels"]) == sorted(chans)


def test_max_channels_per_connection_flag_sets_the_limit(bridge, clients):
    b = bridge("--max-channels-per-connection", "2")
    ok = clients.sse(b.port, "/events?channels=alpha,beta")
    assert sorted(ok.connected().json()["channels"]) == ["alpha", "beta"]
    conn = HTTPConnection(b.port)
    try:
        conn.send(request("/events?channels=alpha,beta,gamma"))
        assert_json_error(conn.read_response(5), 400, "too_many_channels")
    finally:
        conn.close()


def test_channel_and_client_id_of_128_bytes_are_accepted(bridge, clients):
    b = bridge()
    chan = "fam." + "x" * 124
    cid = "c" * 128
    c = clients.sse(b.port, "/events?channels=%s&client_id=%s" % (chan, cid))
    info = c.connected().json()
    assert info["channels"] == [chan]
    assert info["client_id"] == cid
