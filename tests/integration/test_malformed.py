"""Bad publications: malformed envelopes and flask-sse payloads, oversize
payloads. Each is dropped, counted in /healthz (and logged), never
delivered, and the next good message still arrives."""

import json

from helpers import expect_body, sse_block

MALFORMED_ENVELOPES = [
    b"\x1e{not json",
    b"\x1e",
    b"\x1e[1,2,3]",
    b'\x1e"just a string"',
    b'\x1e{"event":"x","id":"1"}',  # no data
    b'\x1e{"data":"x","event":5}',  # event not a string
    b'\x1e{"data":"x","id":[1]}',  # id neither string nor integer
    b'\x1e{"data":"x","retry":"soon"}',  # retry not an integer
    b'\x1e{"data":"x","target":7}',  # target not a string
    b'\x1e{"data":"x","ts":"yesterday"}',  # ts not a number
    b'\x1e{"data":"x"',  # truncated
]

MALFORMED_FLASK = [
    b"not json at all",
    b"[1, 2]",
    b'{"type": "t", "id": "1"}',  # no data
    b'{"data": "x", "type": 3}',  # type not a string
    b'{"data": "x", "retry": "later"}',  # retry not an integer
]


def warn_lines(text):
    return [ln for ln in text.splitlines() if "warn" in ln.lower()]


def test_malformed_envelopes_are_dropped_counted_and_logged_and_the_next_message_arrives(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha"])
    warns_before = len(warn_lines(b.stderr()))
    for p in MALFORMED_ENVELOPES:
        assert redis_server.publish("alpha", p) >= 1
    assert redis_server.cli_publish("alpha", b'\x1e{"data":"via cli","event":7}') >= 1
    assert redis_server.publish("alpha", "good") >= 1
    expect_body(c, ev, sse_block("alpha", "good"))
    n = len(MALFORMED_ENVELOPES) + 1
    counters = b.counters()
    assert counters["messages_malformed"] == n, counters
    assert counters["messages_received"] >= n + 1, counters
    assert counters["messages_oversize"] == 0, counters
    assert len(warn_lines(b.stderr())) - warns_before >= n, "expected a WARN line per malformed envelope:\n" + b.stderr()
    assert b.alive()


def test_malformed_flask_sse_payloads_are_dropped_counted_and_the_next_message_arrives(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/stream")
    ev = c.connected()
    redis_server.wait_subscribed(["sse"])
    for p in MALFORMED_FLASK:
        assert redis_server.publish("sse", p) >= 1
    assert redis_server.publish("sse", json.dumps({"data": "fine", "type": "ok"})) >= 1
    expect_body(c, ev, b"event: ok\ndata: fine\n\n")
    assert b.counters()["messages_malformed"] == len(MALFORMED_FLASK)


def test_payload_over_max_message_bytes_is_dropped_and_counted_and_one_at_the_limit_arrives(bridge, clients, redis_server):
    b = bridge("--max-message-bytes", "1024")
    c = clients.sse(b.port, "/events?channels=alpha,sse")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha", "sse"])
    assert redis_server.publish("alpha", b"o" * 1025) >= 1
    assert redis_server.publish("alpha", b"\x1e" + json.dumps({"data": "e" * 2000}).encode()) >= 1
    assert redis_server.publish("sse", json.dumps({"data": "f" * 2000}).encode()) >= 1
    assert redis_server.publish("alpha", b"k" * 1024) >= 1
    assert redis_server.publish("alpha", "next") >= 1
    expect_body(c, ev, sse_block("alpha", "k" * 1024) + sse_block("alpha", "next"))
    counters = b.counters()
    assert counters["messages_oversize"] == 3, counters
    assert counters["messages_malformed"] == 0, counters
    assert b.alive()


def test_default_max_message_bytes_is_one_mebibyte(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha"])
    assert redis_server.publish("alpha", b"v" * (1048576 + 1)) >= 1
    assert redis_server.publish("alpha", b"w" * 1048576) >= 1
    expect_body(c, ev, sse_block("alpha", "w" * 1048576), timeout=15)
    assert b.counters()["messages_oversize"] == 1
