"""Delivery: what publishers put on Redis reaches the subscribed streams,
byte-exact, in all three formats; only subscribed channels; target."""

import json
import time

from helpers import expect_body, now_ms, sse_block

RS = b"\x1e"


def envelope(obj):
    return RS + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_messages_from_redis_py_and_redis_cli_reach_every_client_byte_exact_in_all_three_formats(
        bridge, clients, redis_server):
    b = bridge()
    target = "/events?channels=alpha,sse"
    streams = [
        clients.sse(b.port, target + "&client_id=c1", name="socket c1"),
        clients.sse(b.port, target + "&client_id=c2", name="socket c2"),
        clients.sse(b.port, target, name="socket anonymous"),
        clients.curl(b.port, target + "&client_id=curl1", name="curl"),
    ]
    connected = [c.connected(10) for c in streams]
    redis_server.wait_subscribed(["alpha", "sse"])
    ts = now_ms()
    py, cli = redis_server.publish, redis_server.cli_publish

    # (publisher, channel, payload, expected block, client ids that get it or None for all)
    plan = [
        # 1. plain payloads
        (py, "alpha", b"hello world", sse_block("alpha", "hello world"), None),
        (cli, "alpha", b"line1\nline2\r\nline3\rline4", b"event: alpha\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n", None),
        (py, "alpha", b"trailing newline\n", b"event: alpha\ndata: trailing newline\ndata: \n\n", None),
        (cli, "alpha", b"", b"event: alpha\ndata: \n\n", None),
        (py, "alpha", b"\r\n\r\n", b"event: alpha\ndata: \ndata: \ndata: \n\n", None),
        (py, "alpha", b"a\r\rb\n\nc", b"event: alpha\ndata: a\ndata: \ndata: b\ndata: \ndata: c\n\n", None),
        (cli, "alpha", "h\u00e9llo \u2603 \u20ac".encode(), "event: alpha\ndata: h\u00e9llo \u2603 \u20ac\n\n".encode(), None),
        (py, "alpha", b"data: not a field\nevent: neither", b"event: alpha\ndata: data: not a field\ndata: event: neither\n\n", None),
        (py, "alpha", b"nul\x00inside", b"event: alpha\ndata: nul\x00inside\n\n", None),
        # 2. envelopes
        (py, "alpha", envelope({"data": "env data\nsecond line", "event": "custom", "id": "evt-1", "retry": 4000, "ts": ts}),
         b"event: custom\nid: evt-1\nretry: 4000\ndata: env data\ndata: second line\n\n", None),
        (py, "alpha", envelope({"data": "for c1 only", "event": "private", "id": "p-1", "retry": 1500, "target": "c1", "ts": ts}),
         b"event: private\nid: p-1\nretry: 1500\ndata: for c1 only\n\n", {"c1"}),
        (cli, "alpha", envelope({"data": {"a": 1, "b": [True, None, "x"]}, "id": 17}),
         b'event: alpha\nid: 17\ndata: {"a":1,"b":[true,null,"x"]}\n\n', None),
        (py, "alpha", envelope({"data": 42}), b"event: alpha\ndata: 42\n\n", None),
        (cli, "alpha", envelope({"data": "x", "event": "bad\r\nid: 666\nevil", "id": "a\nb\rc"}),
         b"event: badid: 666evil\nid: abc\ndata: x\n\n", None),
        (py, "alpha", envelope({"data": "cr\r\nlf", "retry": 0}), b"event: alpha\nretry: 0\ndata: cr\ndata: lf\n\n", None),
        (py, "alpha", RS + b'{ "data" : "spaced json" , "event" : "sp" }', b"event: sp\ndata: spaced json\n\n", None),
        # 3. flask-sse (the payload flask_sse.publish() produces: json.dumps of the message dict)
        (py, "sse", json.dumps({"data": "flask hello", "type": "greeting"}).encode(), b"event: greeting\ndata: flask hello\n\n", None),
        (cli, "sse", json.dumps({"data": {"k": "v", "n": [1, 2]}, "type": "update", "id": "99", "retry": 2500}).encode(),
         b'event: update\nid: 99\nretry: 2500\ndata: {"k":"v","n":[1,2]}\n\n', None),
        (py, "sse", json.dumps({"data": "no type\nline 2"}).encode(), b"data: no type\ndata: line 2\n\n", None),
        (py, "sse", json.dumps({"data": "int id", "id": 5}).encode(), b"id: 5\ndata: int id\n\n", None),
        (py, "alpha", b"END", sse_block("alpha", "END"), None),
    ]
    ids = ["c1", "c2", None, "curl1"]
    expected = [b""] * len(streams)
    for pub, chan, payload, block, only in plan:
        n = pub(chan, payload)
        assert n >= 1, "publish on %s reached no subscriber" % chan
        for i, cid in enumerate(ids):
            if only is None or cid in only:
                expected[i] += block
    for c, ev, exp in zip(streams, connected, expected):
        expect_body(c, ev, exp)
    # and the browser-side view agrees: the parsed events of c1
    evs = streams[0].events[1:]
    assert [e.type for e in evs] == ["alpha"] * 9 + ["custom", "private", "alpha", "alpha", "badid: 666evil", "alpha", "sp",
                                                     "greeting", "update", "message", "message", "alpha"]
    assert evs[1].data == "line1\nline2\nline3\nline4"
    assert evs[9].data == "env data\nsecond line" and evs[9].id == "evt-1" and evs[9].retry == 4000


def test_client_on_one_channel_gets_nothing_published_on_another(bridge, clients, redis_server):
    b = bridge()
    on_a = clients.sse(b.port, "/events?channels=alpha", name="on alpha")
    on_b = clients.sse(b.port, "/events?channels=beta", name="on beta")
    ea, eb = on_a.connected(), on_b.connected()
    redis_server.wait_subscribed(["alpha", "beta"])
    assert redis_server.publish("beta", "for beta") >= 1
    redis_server.publish("gamma", "for gamma")  # nobody here listens to gamma
    assert redis_server.publish("alpha", "for alpha") >= 1
    expect_body(on_b, eb, sse_block("beta", "for beta"))
    # the first thing after "connected" on alpha is alpha's message, and nothing else
    nxt = on_a.next_event(5)
    assert (nxt.type, nxt.data) == ("alpha", "for alpha")
    expect_body(on_a, ea, sse_block("alpha", "for alpha"))


def test_channel_family_delivers_only_the_channels_a_stream_asked_for(bridge, clients, redis_server):
    b = bridge()
    one = clients.sse(b.port, "/events?channels=fam.one", name="fam.one")
    two = clients.sse(b.port, "/events?channels=fam.two", name="fam.two")
    e1, e2 = one.connected(), two.connected()
    redis_server.wait_subscribed(["fam.one", "fam.two"])
    assert redis_server.publish("fam.two", "two") >= 1
    redis_server.publish("fam.three", "three")  # allowed, but nobody asked for it
    assert redis_server.publish("fam.one", "one") >= 1
    expect_body(two, e2, sse_block("fam.two", "two"))
    expect_body(one, e1, sse_block("fam.one", "one"))


def test_stream_on_several_channels_gets_their_messages_in_publish_order(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha,beta,gamma")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha", "beta", "gamma"])
    expected = b""
    for i, ch in enumerate(["gamma", "alpha", "beta", "alpha", "gamma", "beta"]):
        assert redis_server.publish(ch, "m%d" % i) >= 1
        expected += sse_block(ch, "m%d" % i)
    expect_body(c, ev, expected)


def test_target_reaches_only_streams_with_that_client_id_on_that_channel(bridge, clients, redis_server):
    b = bridge()
    c1 = clients.sse(b.port, "/events?channels=alpha&client_id=c1", name="c1")
    c2 = clients.sse(b.port, "/events?channels=alpha&client_id=c2", name="c2")
    c22 = clients.sse(b.port, "/events?channels=alpha&client_id=c22", name="c22")
    anon = clients.sse(b.port, "/events?channels=alpha", name="anonymous")
    c2_beta = clients.sse(b.port, "/events?channels=beta&client_id=c2", name="c2 on beta")
    everyone = [c1, c2, c22, anon, c2_beta]
    evs = [c.connected() for c in everyone]
    redis_server.wait_subscribed(["alpha", "beta"])
    assert redis_server.publish("alpha", envelope({"data": "secret", "target": "c2"})) >= 1
    assert redis_server.publish("alpha", envelope({"data": "to nobody", "target": "nobody"})) >= 1
    assert redis_server.publish("alpha", envelope({"data": "second secret", "target": "c2", "event": "dm", "id": 3})) >= 1
    assert redis_server.publish("alpha", "public") >= 1
    assert redis_server.publish("beta", "beta public") >= 1
    public = sse_block("alpha", "public")
    expect_body(c2, evs[1], sse_block("alpha", "secret") + b"event: dm\nid: 3\ndata: second secret\n\n" + public)
    expect_body(c1, evs[0], public)
    expect_body(c22, evs[2], public)
    expect_body(anon, evs[3], public)
    expect_body(c2_beta, evs[4], sse_block("beta", "beta public"))
    time.sleep(0.1)
    assert c1.quiet_for(0.2) == b""


def test_flask_channels_flag_chooses_which_channels_carry_flask_sse_json(bridge, clients, redis_server):
    b = bridge("--flask-channels", "legacy", channels="alpha,sse,legacy")
    c = clients.sse(b.port, "/events?channels=legacy,sse")
    ev = c.connected()
    redis_server.wait_subscribed(["legacy", "sse"])
    flask_payload = json.dumps({"data": "hi", "type": "greet", "id": "1"})
    assert redis_server.publish("legacy", flask_payload) >= 1
    assert redis_server.publish("sse", flask_payload) >= 1  # "sse" is a plain channel now
    expect_body(c, ev, b"event: greet\nid: 1\ndata: hi\n\n" + sse_block("sse", flask_payload))
