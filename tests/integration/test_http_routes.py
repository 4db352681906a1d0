"""The routes that work: /healthz (also over keep-alive), the SSE response
head and preamble of /events and /stream."""

import re

from helpers import BRIDGE_ID, TEST_CONCRETE_CHANNELS, expect_body, sse_block, wait_until
from sse_client import HTTPConnection, SSEClient, get

COUNTERS = ("connections_opened", "connections_closed", "slow_consumer_drops", "messages_received",
            "messages_malformed", "messages_oversize", "events_sent", "heartbeats_sent", "requests_rejected",
            "redis_reconnects")

# The contract writes this block "retry: N\nevent: connected\ndata: ...", but
# also says every block is ordered event, id, retry, data; both orders are
# accepted until the contract settles (see the suite's report).
PREAMBLE_RE = re.compile(rb"\A: sse-bridge 0\.1\.0\n\nevent: connected\n(?:id: ([^\n]*)\n)?retry: (\d+)"
                         rb"\ndata: ([^\n]*)\n\n")


def test_healthz_returns_json_with_status_bridge_version_redis_draining_connections_and_counters(bridge):
    b = bridge()
    wait_until(lambda: b.healthz()["redis"] == "up", 10, what="healthz redis 'up'")
    r = get(b.port, "/healthz")
    assert r.status == 200, r
    assert r.header("Content-Type").split(";")[0].strip() == "application/json", r
    assert int(r.header("Content-Length")) == len(r.body)
    h = r.json()
    assert h["status"] == "ok"
    assert h["bridge"] == BRIDGE_ID
    assert h["version"] == "0.1.0"
    assert h["redis"] == "up"
    assert h["draining"] is False
    assert h["connections"] == 0
    assert set(COUNTERS) <= set(h["counters"]), "missing counters: %s" % (set(COUNTERS) - set(h["counters"]))
    for k in COUNTERS:
        assert isinstance(h["counters"][k], int) and h["counters"][k] >= 0, (k, h["counters"][k])
    assert h["counters"]["connections_opened"] == 0
    assert h["counters"]["requests_rejected"] == 0


def test_healthz_counts_open_streams_and_opened_and_closed_connections(bridge, clients):
    b = bridge()
    c1 = clients.sse(b.port, "/events?channels=alpha")
    c2 = clients.sse(b.port, "/stream?channel=beta")
    c1.connected()
    c2.connected()
    h = b.healthz()
    assert h["connections"] == 2
    assert h["counters"]["connections_opened"] == 2
    assert h["counters"]["connections_closed"] == 0
    c1.close()
    wait_until(lambda: b.healthz()["connections"] == 1, 5, what="connections == 1 after a client left")
    assert b.counters()["connections_closed"] == 1


def test_keepalive_two_healthz_requests_on_one_socket_are_both_answered(bridge):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        for i in range(2):
            conn.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            r = conn.read_response(5)
            assert r.status == 200, "request %d on the same socket: %r" % (i + 1, r)
            assert (r.header("Connection") or "").lower() != "close", r
            assert r.json()["status"] == "ok"
        assert not conn.eof, "the bridge closed a keep-alive connection"
    finally:
        conn.close()


def test_keepalive_pipelined_healthz_requests_are_answered_in_order(bridge):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        r1 = conn.read_response(5)
        r2 = conn.read_response(5)
        assert r1.status == 200, r1
        assert r2.status == 404, r2
    finally:
        conn.close()


def test_connection_close_request_is_answered_then_closed_by_the_bridge(bridge):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = conn.read_response(5)
        assert r.status == 200, r
        assert conn.wait_closed(3), "the bridge kept the socket open after Connection: close"
    finally:
        conn.close()


def test_http_1_0_request_is_answered_then_closed_by_the_bridge(bridge):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = conn.read_response(5)
        assert r.status == 200, r
        assert r.json()["status"] == "ok"
        assert conn.wait_closed(3), "the bridge kept an HTTP/1.0 socket open"
    finally:
        conn.close()


def test_sse_response_has_200_event_stream_headers_and_no_content_length(bridge, clients):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha")
    r = c.read_head()
    assert r.status_line == "HTTP/1.1 200 OK"
    assert r.header("Content-Type") == "text/event-stream; charset=utf-8"
    assert r.header("Cache-Control") == "no-cache"
    assert r.header("X-Accel-Buffering") == "no"
    assert r.header("Content-Length") is None
    assert r.header("Transfer-Encoding") is None


def test_stream_body_starts_with_version_comment_then_connected_event_with_jittered_retry(bridge, clients):
    b = bridge("--retry-ms", "2000")
    retries = []
    for i in range(6):
        c = clients.sse(b.port, "/events?channels=alpha,beta&client_id=tab-%d" % i)
        ev = c.connected()
        m = PREAMBLE_RE.match(c.body)
        assert m, "preamble not as specified: %r" % c.body
        n = int(m.group(2))
        # the id is the stream's resume cursor: one position per channel
        assert m.group(1) == b"0-0@alpha,0-0@beta", m.group(1)
        assert 1000 <= n <= 3000, "retry %d outside [retry_ms/2, retry_ms*3/2] for --retry-ms 2000" % n
        retries.append(n)
        info = ev.json()
        assert info["bridge"] == BRIDGE_ID
        assert info["client_id"] == "tab-%d" % i
        assert info["channels"] == ["alpha", "beta"]
        assert info["heartbeat_interval"] == 3600
        assert info["resumed"] is False
    assert c.parser.comments[0] == " sse-bridge 0.1.0"


def test_connected_event_has_null_client_id_when_none_is_given(bridge, clients):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha")
    assert c.connected().json()["client_id"] is None


def test_events_without_channels_param_subscribes_every_concrete_allowlisted_channel(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/events")
    ev = c.connected()
    assert sorted(ev.json()["channels"]) == sorted(TEST_CONCRETE_CHANNELS)
    redis_server.wait_subscribed(TEST_CONCRETE_CHANNELS)
    assert redis_server.publish("gamma", "g1") >= 1
    assert redis_server.publish("alpha", "a1") >= 1
    expect_body(c, ev, sse_block("gamma", "g1") + sse_block("alpha", "a1"))


def test_default_allowlist_is_summary_progress_summary_complete_and_system(bridge, clients):
    b = bridge(channels=None)
    c = clients.sse(b.port, "/events")
    assert sorted(c.connected().json()["channels"]) == ["summary_complete", "summary_progress", "system"]


def test_stream_route_defaults_to_channel_sse_and_delivers_flask_sse_messages(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/stream")
    ev = c.connected()
    assert ev.json()["channels"] == ["sse"]
    redis_server.wait_subscribed(["sse"])
    assert redis_server.publish("sse", '{"data": "hello", "type": "greeting"}') >= 1
    expect_body(c, ev, b"event: greeting\ndata: hello\n\n")


def test_stream_route_with_channel_param_delivers_plain_messages(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/stream?channel=alpha&client_id=s1")
    ev = c.connected()
    assert ev.json()["channels"] == ["alpha"]
    assert ev.json()["client_id"] == "s1"
    redis_server.wait_subscribed(["alpha"])
    assert redis_server.publish("alpha", "hi") >= 1
    expect_body(c, ev, b"event: alpha\ndata: hi\n\n")


def test_stream_opens_on_a_connection_kept_alive_after_a_healthz_request(bridge, clients, redis_server):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.read_response(5).status == 200
        c = SSEClient(b.port, "/events?channels=alpha", conn=conn, name="stream after healthz")
        ev = c.connected()
        redis_server.wait_subscribed(["alpha"])
        assert redis_server.publish("alpha", "reused") >= 1
        expect_body(c, ev, sse_block("alpha", "reused"))
    finally:
        conn.close()


def test_stream_request_pipelined_after_a_healthz_request_opens_the_stream(bridge, redis_server):
    b = bridge()
    conn = HTTPConnection(b.port)
    try:
        conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        assert conn.read_response(5).status == 200
        c = SSEClient(b.port, "/events?channels=alpha", conn=conn, send=False, name="pipelined stream")
        ev = c.connected()
        redis_server.wait_subscribed(["alpha"])
        assert redis_server.publish("alpha", "pipelined") >= 1
        expect_body(c, ev, sse_block("alpha", "pipelined"))
    finally:
        conn.close()


def test_duplicate_channel_in_request_never_duplicates_delivery(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha,beta,alpha")
    r = c.read_head()
    if r.status != 200:  # rejecting the request is acceptable too
        assert r.status == 400, r
        return
    ev = c.connected()
    redis_server.wait_subscribed(["alpha", "beta"])
    assert redis_server.publish("alpha", "once") >= 1
    assert redis_server.publish("beta", "end") >= 1
    expect_body(c, ev, sse_block("alpha", "once") + sse_block("beta", "end"))
