"""scripts/sse_publish.py, the Python publishing helper: the exact bytes it puts
on Redis (read back with a redis-py subscriber), its history stream, its
errors (raised before anything reaches Redis), and end to end through the
real sse-bridge to a real SSE client."""

import json
import sys
import time
from pathlib import Path

import pytest
import redis as redis_py

from helpers import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from sse_publish import (  # noqa: E402
    InvalidChannel,
    InvalidEvent,
    PayloadTooLarge,
    PublishConnectionError,
    SSEPublishError,
    history_key,
    publish,
    publish_plain,
)

RS = b"\x1e"


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def id_tuple(event_id):
    """(ms, seq) of a history event id "<ms>-<seq>@<channel>"."""
    entry_id, _, _ = event_id.partition("@")
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def entry_of(event_id, channel):
    """The stream entry id inside a history event id, checking its channel."""
    entry_id, at, chan = event_id.partition("@")
    assert at == "@" and chan == channel, event_id
    return entry_id


class Tap:
    """A redis-py subscriber that hands back the raw payloads published on channels."""

    def __init__(self, r, *channels):
        self.p = r.pubsub()
        self.p.subscribe(*channels)
        deadline = time.monotonic() + 5
        confirmed = 0
        while confirmed < len(channels):  # the subscription is live once confirmed
            assert time.monotonic() < deadline, "no subscribe confirmation"
            m = self.p.get_message(timeout=0.5)
            if m and m["type"] == "subscribe":
                confirmed += 1

    def next(self, timeout=5.0):
        """(channel, payload bytes) of the next message."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message within %.1fs" % timeout)
            m = self.p.get_message(timeout=remaining)
            if m and m["type"] == "message":
                return m["channel"].decode(), m["data"]

    def close(self):
        self.p.close()


@pytest.fixture
def r(redis_server):
    return redis_server.client()


@pytest.fixture
def tap(r):
    made = []

    def make(*channels):
        t = Tap(r, *channels)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def open_stream(clients, redis_server, b, channels, client_id=None):
    target = "/events?channels=%s" % channels + ("&client_id=%s" % client_id if client_id else "")
    c = clients.sse(b.port, target, name=client_id or target)
    c.connected(10)
    return c


# ---------------------------------------------------------------------------
# What goes on Redis
# ---------------------------------------------------------------------------


def test_envelope_without_history_is_0x1e_plus_compact_json_with_exactly_the_given_keys(r, tap):
    t = tap("alpha")
    before = int(time.time() * 1000)
    n = publish(r, "alpha", "h\u00e9llo\nworld", event="progress", id="evt-1", retry=1500, target="c1", history=False)
    after = int(time.time() * 1000)
    assert n == 1  # history=False: PUBLISH's receivers
    chan, raw = t.next()
    assert chan == "alpha" and raw[:1] == RS
    obj = json.loads(raw[1:].decode("utf-8"))
    assert before <= obj["ts"] <= after and isinstance(obj["ts"], int)
    # exact bytes: key order id, event, data, retry, target, ts; compact; UTF-8, not \u escapes
    assert raw == RS + compact({"id": "evt-1", "event": "progress", "data": "h\u00e9llo\nworld", "retry": 1500,
                                "target": "c1", "ts": obj["ts"]})

    # the minimum: no event (the bridge defaults it to the channel), no id, no ts
    publish(r, "alpha", "x", history=False, ts=False)
    assert t.next()[1] == RS + b'{"data":"x"}'
    publish(r, "alpha", "x", history=False, ts=1234.5, id=-17)
    assert t.next()[1] == RS + b'{"id":-17,"data":"x","ts":1234.5}'
    assert not r.exists(history_key("alpha"))  # history=False writes no stream


@pytest.mark.parametrize("data, encoded", [
    ("plain str, verbatim", b'"plain str, verbatim"'),
    ({"a": 1, "b": [True, None, "x"]}, b'{"a":1,"b":[true,null,"x"]}'),
    ([1, "two", {"three": 3}], b'[1,"two",{"three":3}]'),
    (42, b"42"),
    (None, b"null"),
    ("", b'""'),
    (b"utf-8 bytes \xe2\x98\x83", '"utf-8 bytes \u2603"'.encode("utf-8")),
])
def test_data_str_dict_list_keep_their_json_type_in_the_envelope(r, tap, data, encoded):
    t = tap("alpha")
    publish(r, "alpha", data, history=False, ts=False)
    assert t.next()[1] == RS + b'{"data":' + encoded + b"}"


def test_history_publishes_the_stream_entry_id_and_stores_the_envelope_without_it(r, tap):
    t = tap("alpha")
    eid = publish(r, "alpha", {"pct": 40}, event="progress", retry=0, target="c9")
    assert isinstance(eid, str)
    _, raw = t.next()
    obj = json.loads(raw[1:])
    assert list(obj) == ["id", "event", "data", "retry", "target", "ts"]
    assert obj["id"] == eid and obj["event"] == "progress" and obj["data"] == {"pct": 40}
    entries = r.xrange(history_key("alpha"))
    assert [e[0].decode() for e in entries] == [entry_of(eid, "alpha")]
    fields = entries[0][1]
    assert set(fields) == {b"format", b"json"} and fields[b"format"] == b"envelope"
    stored = fields[b"json"]
    assert json.loads(stored) == {k: v for k, v in obj.items() if k != "id"}
    # the documented reconstruction, byte for byte
    assert raw == RS + b'{"id":"' + eid.encode() + b'",' + stored[1:]
    assert history_key("alpha") == "{sse}:history:alpha"


def test_history_ids_strictly_increase_and_equal_the_xadd_ids_and_the_published_ids(r, tap):
    t = tap("beta")
    returned = [publish(r, "beta", "n%d" % i) for i in range(40)]
    published = [json.loads(t.next()[1][1:]) for _ in returned]
    stream = r.xrange(history_key("beta"))
    assert [e[0].decode() for e in stream] == [entry_of(x, "beta") for x in returned]
    assert [p["id"] for p in published] == returned
    assert [p["data"] for p in published] == ["n%d" % i for i in range(40)]
    ids = [id_tuple(x) for x in returned]
    assert all(a < b for a, b in zip(ids, ids[1:])), returned
    # and a decode_responses client gets the same kind of id
    rd = redis_py.Redis(host="127.0.0.1", port=r.connection_pool.connection_kwargs["port"], decode_responses=True)
    try:
        nxt = publish(rd, "beta", "decoded")
    finally:
        rd.close()
    assert isinstance(nxt, str) and id_tuple(nxt) > ids[-1]


def test_history_stream_is_capped_near_maxlen_and_keeps_the_newest(r):
    # small macro nodes so that MAXLEN ~ trims close to the cap
    r.config_set("stream-node-max-entries", 10)
    last = None
    for i in range(300):
        last = publish(r, "gamma", i, maxlen=50)
    n = r.xlen(history_key("gamma"))
    assert 50 <= n <= 60, n
    assert r.xrevrange(history_key("gamma"), count=1)[0][0].decode() == entry_of(last, "gamma")
    assert json.loads(r.xrevrange(history_key("gamma"), count=1)[0][1][b"json"])["data"] == 299
    for i in range(80):
        publish(r, "beta", i, maxlen=None)  # uncapped
    assert r.xlen(history_key("beta")) == 80
    publish(r, "beta", "elsewhere", history_prefix="app:{h}:")
    assert r.xlen("app:{h}:beta") == 1


def test_history_is_one_evalsha_and_survives_script_flush(r, tap):
    t = tap("alpha")
    sent = []
    real = r.execute_command

    def counting(*args, **kw):
        sent.append(args[0])
        return real(*args, **kw)

    publish(r, "alpha", "warm-up")
    t.next()
    r.execute_command = counting
    publish(r, "alpha", "one round trip")
    assert sent == ["EVALSHA"]
    assert json.loads(t.next()[1][1:])["data"] == "one round trip"
    real("SCRIPT", "FLUSH")
    del sent[:]
    eid = publish(r, "alpha", "after flush")
    assert sent == ["EVALSHA", "SCRIPT LOAD", "EVALSHA"]  # NOSCRIPT, load, run once
    assert json.loads(t.next()[1][1:])["id"] == eid
    assert r.xlen(history_key("alpha")) == 3


def test_publish_plain_sends_the_text_as_is(r, tap):
    t = tap("alpha")
    assert publish_plain(r, "alpha", "line 1\nline 2") == 1
    assert t.next() == ("alpha", b"line 1\nline 2")
    publish_plain(r, "alpha", b"raw \x00 bytes")
    assert t.next() == ("alpha", b"raw \x00 bytes")
    assert not r.exists(history_key("alpha"))


# ---------------------------------------------------------------------------
# Errors: typed, explained, and raised before anything reaches Redis
# ---------------------------------------------------------------------------

BAD_CHANNELS = ["", "has space", "a" * 129, "caf\u00e9", "alpha\n", "a/b", "fam.*", None, 5, b"alpha"]

BAD_EVENTS = [  # (kwargs, error class, words the message must hold)
    (dict(event="a\r\nid: 666"), InvalidEvent, "CR"),
    (dict(event="two\nlines"), InvalidEvent, "LF"),
    (dict(event="nul\x00"), InvalidEvent, "NUL"),
    (dict(event=7), InvalidEvent, "event must be a str"),
    (dict(id="x\ry", history=False), InvalidEvent, "CR"),
    (dict(id="x\ny", history=False), InvalidEvent, "LF"),
    (dict(id=1.5, history=False), InvalidEvent, "str or an int"),
    (dict(id=True, history=False), InvalidEvent, "str or an int"),
    (dict(id=[1], history=False), InvalidEvent, "str or an int"),
    (dict(id=2 ** 53 + 1, history=False), InvalidEvent, "2**53"),
    (dict(id="given"), InvalidEvent, "history=True"),
    (dict(retry=-1), InvalidEvent, "non-negative int"),
    (dict(retry=1.5), InvalidEvent, "non-negative int"),
    (dict(retry="100"), InvalidEvent, "non-negative int"),
    (dict(retry=False), InvalidEvent, "non-negative int"),
    (dict(target="has space"), InvalidEvent, "[A-Za-z0-9_.:-]"),
    (dict(target=""), InvalidEvent, "[A-Za-z0-9_.:-]"),
    (dict(ts=float("inf")), InvalidEvent, "finite"),
    (dict(data={"x": float("nan")}), InvalidEvent, "JSON"),
    (dict(data={1, 2}), InvalidEvent, "JSON"),
    (dict(data="lone \ud800 surrogate"), InvalidEvent, "JSON"),
    (dict(data=b"\xff not utf-8"), InvalidEvent, "UTF-8"),
    (dict(data="nul \x00 in data"), InvalidEvent, "NUL"),
    (dict(data={"k\x00": 1}), InvalidEvent, "NUL"),
    (dict(data="x" * 2000, max_bytes=1000), PayloadTooLarge, "1000"),
    (dict(data="x" * 2000, max_bytes=1000, history=False), PayloadTooLarge, "1000"),
    (dict(data="x" * (1 << 20)), PayloadTooLarge, "1048576"),
]


def call_publish(r, channel="alpha", data="d", **kw):
    return publish(r, channel, data, **kw)


@pytest.mark.parametrize("channel", BAD_CHANNELS, ids=repr)
def test_bad_channel_names_raise_invalid_channel_with_the_rule(r, channel):
    for call in (lambda: publish(r, channel, "x"), lambda: publish(r, channel, "x", history=False),
                 lambda: publish_plain(r, channel, "x"), lambda: history_key(channel)):
        with pytest.raises(InvalidChannel) as ei:
            call()
        assert isinstance(ei.value, SSEPublishError) and isinstance(ei.value, ValueError)
    if isinstance(channel, str):
        assert "1 to 128 bytes of [A-Za-z0-9_.:-]" in str(ei.value)


def test_the_128_byte_channel_and_every_allowed_character_are_accepted(r, tap):
    name = ("Az09_.:-" * 16)[:128]
    t = tap(name)
    eid = publish(r, name, "ok")
    assert json.loads(t.next()[1][1:])["id"] == eid


@pytest.mark.parametrize("kw, cls, words", BAD_EVENTS, ids=lambda v: repr(v)[:40])
def test_bad_events_raise_typed_errors(r, kw, cls, words):
    with pytest.raises(cls) as ei:
        call_publish(r, **kw)
    assert isinstance(ei.value, SSEPublishError)
    assert words in str(ei.value), str(ei.value)


def test_payload_too_large_names_both_sizes_and_the_limit_is_exact(r, tap):
    t = tap("alpha")
    # history=False: the payload is 0x1E + {"data":"x..."} = n + 12 bytes
    publish(r, "alpha", "x" * 988, history=False, ts=False, max_bytes=1000)
    assert len(t.next()[1]) == 1000
    with pytest.raises(PayloadTooLarge) as ei:
        publish(r, "alpha", "x" * 989, history=False, ts=False, max_bytes=1000)
    assert (ei.value.size, ei.value.limit) == (1001, 1000)
    assert "1001" in str(ei.value) and "1000" in str(ei.value)
    # history: counted with room for the longest id ('"id":"' + 41 + '@alpha",')
    publish(r, "alpha", "x" * 933, ts=False, max_bytes=1000)
    assert len(t.next()[1]) <= 1000
    with pytest.raises(PayloadTooLarge) as ei:
        publish(r, "alpha", "x" * 934, ts=False, max_bytes=1000)
    assert (ei.value.size, ei.value.limit) == (1001, 1000)
    with pytest.raises(PayloadTooLarge) as ei:
        publish_plain(r, "alpha", "y" * 1001, max_bytes=1000)
    assert (ei.value.size, ei.value.limit) == (1001, 1000)


def test_publish_plain_refuses_what_the_bridge_would_not_deliver_as_plain(r):
    with pytest.raises(InvalidEvent, match="0x1E"):
        publish_plain(r, "alpha", "\x1e{\"data\":\"x\"}")
    with pytest.raises(InvalidChannel, match="flask-sse"):
        publish_plain(r, "sse", "plain text")
    with pytest.raises(InvalidEvent):
        publish_plain(r, "alpha", 42)


def test_a_validation_error_writes_nothing_to_redis(r, tap, redis_server):
    t = tap("alpha", "sse")
    publish(r, "alpha", "before")  # the stream exists with one entry
    assert t.next()[0] == "alpha"
    r.config_resetstat()
    for kw, cls, _ in BAD_EVENTS:
        with pytest.raises(cls):
            call_publish(r, **kw)
    for channel in BAD_CHANNELS:
        with pytest.raises(InvalidChannel):
            publish(r, channel, "x")
    with pytest.raises(InvalidEvent):
        publish(r, "sse", "x", target="c1")  # flask-sse has no target
    with pytest.raises(InvalidEvent):
        publish_plain(r, "alpha", "\x1eenvelope-looking")
    stats = r.info("commandstats")
    for cmd in ("evalsha", "eval", "script|load", "xadd", "publish"):
        assert "cmdstat_" + cmd not in stats, (cmd, stats)
    assert r.xlen(history_key("alpha")) == 1
    assert r.keys("*") == [history_key("alpha").encode()]
    # no PUBLISH happened: the next message the subscriber sees is this one
    publish_plain(r, "alpha", "sentinel")
    assert t.next() == ("alpha", b"sentinel")


def test_validation_happens_before_any_connection(r):
    port = free_port()  # nothing listens there: any Redis call would fail
    dead = redis_py.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1)
    for kw, cls, _ in BAD_EVENTS:
        with pytest.raises(cls):
            call_publish(dead, **kw)
    with pytest.raises(InvalidChannel):
        publish(dead, "bad name", "x")
    with pytest.raises(PublishConnectionError):
        publish(dead, "alpha", "valid")


def test_redis_killed_raises_publish_connection_error_wrapping_redis_py(redis_server):
    r = redis_py.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=2, socket_connect_timeout=2)
    try:
        publish(r, "alpha", "while up")  # an open, pooled connection
        publish(r, "alpha", "while up", history=False)
        redis_server.kill()
        calls = [lambda: publish(r, "alpha", "x"), lambda: publish(r, "alpha", "x", history=False),
                 lambda: publish_plain(r, "alpha", "x")]
        for call in calls:
            with pytest.raises(PublishConnectionError) as ei:
                call()
            e = ei.value
            assert isinstance(e, SSEPublishError) and isinstance(e, redis_py.exceptions.ConnectionError)
            assert isinstance(e.original, redis_py.exceptions.ConnectionError) and e.__cause__ is e.original
            assert "alpha" in str(e)
    finally:
        r.close()


def test_argument_misuse_is_a_type_or_value_error(r):
    with pytest.raises(TypeError):
        publish(r.pipeline(), "alpha", "x")
    with pytest.raises(ValueError):
        publish(r, "alpha", "x", maxlen=0)
    with pytest.raises(ValueError):
        publish(r, "alpha", "x", max_bytes=0)
    assert not r.exists(history_key("alpha"))


# ---------------------------------------------------------------------------
# End to end: helper -> Redis -> the real sse-bridge -> an SSE client
# ---------------------------------------------------------------------------


def test_end_to_end_history_event_reaches_the_client_with_the_returned_id_and_data(bridge, clients, redis_server, r):
    b = bridge()
    c = open_stream(clients, redis_server, b, "alpha,fam.news")
    redis_server.wait_subscribed(["alpha", "fam.news"])

    e1 = publish(r, "alpha", "line 1\nline 2\r\nline 3")
    ev = c.next_event()
    assert (ev.type, ev.id, ev.data) == ("alpha", e1, "line 1\nline 2\nline 3")  # event defaults to the channel

    e2 = publish(r, "alpha", {"a": 1, "b": [True, None, "x"]}, event="progress", retry=2500)
    ev = c.next_event()
    assert (ev.type, ev.id, ev.retry) == ("progress", e2, 2500)
    assert ev.data == '{"a":1,"b":[true,null,"x"]}' and ev.json() == {"a": 1, "b": [True, None, "x"]}

    e3 = publish(r, "fam.news", [1, "two", {"three": 3}])
    ev = c.next_event()
    assert (ev.type, ev.id, ev.data) == ("fam.news", e3, '[1,"two",{"three":3}]')

    publish(r, "alpha", "h\u00e9llo \u2603", history=False, id=99)
    ev = c.next_event()
    assert (ev.type, ev.id, ev.data) == ("alpha", "99", "h\u00e9llo \u2603")

    publish_plain(r, "alpha", "plain\ntext")
    ev = c.next_event()
    assert (ev.type, ev.id, ev.data) == ("alpha", None, "plain\ntext")
    assert id_tuple(e1) < id_tuple(e2)  # ids increase per channel (one stream each)
    counters = b.counters()
    assert counters["messages_malformed"] == 0 and counters["messages_oversize"] == 0


def test_target_reaches_only_the_stream_with_that_client_id(bridge, clients, redis_server, r):
    b = bridge()
    c1 = open_stream(clients, redis_server, b, "alpha", "c1")
    c2 = open_stream(clients, redis_server, b, "alpha", "c2")
    anon = open_stream(clients, redis_server, b, "alpha")
    redis_server.wait_subscribed(["alpha"])

    secret = publish(r, "alpha", {"secret": 1}, target="c1", event="dm")
    publish(r, "alpha", "to nobody", target="nobody")
    publish(r, "alpha", "also c1", target="c1", history=False, id="p-2")
    everyone = publish(r, "alpha", "everyone")

    evs = c1.collect(3)
    assert [(e.type, e.id, e.data) for e in evs] == [
        ("dm", secret, '{"secret":1}'), ("alpha", "p-2", "also c1"), ("alpha", everyone, "everyone")]
    for other in (c2, anon):
        ev = other.next_event()
        assert (ev.id, ev.data) == (everyone, "everyone"), other.name  # the targeted ones never came
        assert other.quiet_for(0.2) == b""


def test_flask_channel_gets_flask_sse_json_that_the_bridge_delivers(bridge, clients, redis_server, r, tap):
    t = tap("sse")
    b = bridge()
    c = open_stream(clients, redis_server, b, "sse")
    redis_server.wait_subscribed(["sse"])

    eid = publish(r, "sse", {"k": "v"}, event="update", ts=False)
    raw = t.next()[1]
    assert raw == b'{"id":"' + eid.encode() + b'","type":"update","data":{"k":"v"}}'  # no 0x1E there
    assert r.xrange(history_key("sse"))[0][1][b"format"] == b"flask-sse"
    ev = c.next_event()
    assert (ev.type, ev.id, ev.data) == ("update", eid, '{"k":"v"}')

    publish(r, "sse", "no type", history=False, id=5)
    ev = c.next_event()
    assert (ev.type, ev.id, ev.data) == ("message", "5", "no type")  # flask-sse's default
    assert b.counters()["messages_malformed"] == 0


def test_the_largest_payload_the_helper_accepts_is_delivered_by_the_bridge(bridge, clients, redis_server, r):
    b = bridge("--max-message-bytes", "4096")
    c = open_stream(clients, redis_server, b, "alpha")
    redis_server.wait_subscribed(["alpha"])
    exact = "x" * (4096 - 12)  # history=False: exactly 4096 bytes
    publish(r, "alpha", exact, history=False, ts=False, max_bytes=4096)
    near = "y" * (4096 - 67)  # history: the largest accepted with room for any id@alpha
    eid = publish(r, "alpha", near, ts=False, max_bytes=4096)
    assert c.next_event().data == exact
    ev = c.next_event()
    assert (ev.id, ev.data) == (eid, near)
    with pytest.raises(PayloadTooLarge):
        publish(r, "alpha", exact + "x", history=False, ts=False, max_bytes=4096)
    assert b.counters()["messages_oversize"] == 0
