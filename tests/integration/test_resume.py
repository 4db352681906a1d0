"""Resume after reconnect: history replay with Last-Event-ID / last_event_id,
on the same bridge and on another one, reset when history was trimmed,
deduplication of live events racing the replay, catch-up after Redis came
back (kill -9, restart from AOF). Real redis-server, real bridges, events
published with scripts/sse_publish.py (redis-py)."""

import json
import random
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import wait_until
from sse_client import StreamClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from sse_publish import PublishConnectionError, publish  # noqa: E402

CHANNELS = "alpha,beta"


def open_stream(clients, b, channels="alpha", cursor=None, query_cursor=None, **kw):
    target = "/events?channels=%s" % channels
    if query_cursor is not None:
        target += "&last_event_id=%s" % query_cursor
    headers = [("Last-Event-ID", cursor)] if cursor is not None else None
    c = clients.sse(b.port, target, headers=headers, **kw)
    hello = c.connected()
    return c, hello


def read_n(c, n, timeout=20):
    """The next n channel events (connected/system/heartbeat skipped)."""
    return [c.next_event(timeout=timeout, skip_types=("system",)) for _ in range(n)]


def datas(events):
    return [e.json()["n"] if e.type != "reset" else "reset" for e in events]


@pytest.fixture
def r(redis_server):
    return redis_server.client()


def test_reconnect_with_last_event_id_to_the_same_bridge_gets_every_missed_event_once_in_order(
        bridge, clients, redis_server, r):
    b = bridge()
    c, hello = open_stream(clients, b)
    redis_server.wait_subscribed(["alpha"])
    assert hello.json()["resumed"] is False
    ids = [publish(r, "alpha", {"n": i}) for i in range(5)]
    got = read_n(c, 5)
    assert datas(got) == list(range(5))
    assert [e.id for e in got] == ids and ids[0].endswith("@alpha")
    c.close()
    for i in range(5, 12):
        publish(r, "alpha", {"n": i})
    c2, hello2 = open_stream(clients, b, cursor=got[-1].id)
    assert hello2.json()["resumed"] is True
    assert datas(read_n(c2, 7)) == list(range(5, 12))
    publish(r, "alpha", {"n": 12})
    assert datas(read_n(c2, 1)) == [12]
    c2.quiet_for(0.3)
    assert [e for e in c2.events if e.type not in ("connected",)][-1].json()["n"] == 12
    counters = b.counters()
    # 7 replayed (a later batch may also fetch #12 and drop its live copy)
    assert counters["replayed_events"] >= 7 and counters["resumes"] == 1, counters


def test_reconnect_to_another_bridge_resumes_from_the_same_id(bridge, clients, redis_server, r):
    b1 = bridge(bridge_id="b-one")
    b2 = bridge(bridge_id="b-two")
    c, _ = open_stream(clients, b1)
    redis_server.wait_subscribed(["alpha"])
    publish(r, "alpha", {"n": 0})
    first = read_n(c, 1)[0]
    c.close()
    for i in range(1, 30):
        publish(r, "alpha", {"n": i})
    c2, hello = open_stream(clients, b2, cursor=first.id)
    assert hello.json()["bridge"] == "b-two" and hello.json()["resumed"] is True
    assert datas(read_n(c2, 29)) == list(range(1, 30))


def test_the_query_last_event_id_resumes_and_the_header_wins_over_it(bridge, clients, redis_server, r):
    b = bridge()
    ids = [publish(r, "alpha", {"n": i}) for i in range(6)]
    c, hello = open_stream(clients, b, query_cursor=ids[1])
    assert hello.json()["resumed"] is True
    assert datas(read_n(c, 4)) == [2, 3, 4, 5]
    # a browser's own reconnect keeps the old URL and sends the newer header
    c2, _ = open_stream(clients, b, query_cursor=ids[0], cursor=ids[3])
    assert datas(read_n(c2, 2)) == [4, 5]
    c2.quiet_for(0.3)
    assert [e.type for e in c2.events] == ["connected", "alpha", "alpha"]


def test_connected_event_id_is_a_cursor_for_every_channel_so_a_client_that_saw_nothing_resumes(
        bridge, clients, redis_server, r):
    b = bridge()
    publish(r, "alpha", {"n": -1})  # history exists on alpha before the client came
    c, hello = open_stream(clients, b, channels=CHANNELS)
    tokens = dict(t.split("@")[::-1] for t in hello.id.split(","))
    assert set(tokens) == {"alpha", "beta"}
    assert tokens["beta"] == "0-0"  # no history yet: everything later is new
    assert tokens["alpha"] != "0-0"
    c.close()
    publish(r, "alpha", {"n": 0})
    publish(r, "beta", {"n": 1})
    publish(r, "alpha", {"n": 2})
    c2, hello2 = open_stream(clients, b, channels=CHANNELS, cursor=hello.id)
    got = read_n(c2, 3)
    # per channel in order; channels one after the other
    assert sorted(datas(got)) == [0, 1, 2]
    assert [e.json()["n"] for e in got if e.type == "alpha"] == [0, 2]
    assert [e.type for e in got].count("beta") == 1
    # and the new connected id carries the positions the client now has
    c2.close()
    c3, hello3 = open_stream(clients, b, channels=CHANNELS, cursor=got[-1].id)
    c3.quiet_for(0.3)
    # a native EventSource sends only its last id (one channel): the other
    # channels resume from the start of that millisecond, so events of that
    # millisecond or later may come again, and nothing is lost
    ms = int(got[-1].id.split("-")[0])
    later = [e for e in c3.events if e.type in ("alpha", "beta")]
    assert all(int(e.id.split("-")[0]) >= ms for e in later), later
    assert not [e for e in later if e.type == got[-1].type]  # its own channel: exact


def test_a_position_older_than_the_retained_history_gets_reset_then_the_retained_events(
        bridge, clients, redis_server, r):
    b = bridge()
    r.config_set("stream-node-max-entries", 5)
    old = publish(r, "alpha", {"n": 0}, maxlen=10)
    for i in range(1, 60):
        publish(r, "alpha", {"n": i}, maxlen=10)
    retained = r.xlen("{sse}:history:alpha")
    assert retained < 59
    c, hello = open_stream(clients, b, cursor=old)
    reset = c.next_event(timeout=10)
    assert reset.type == "reset"
    info = reset.json()
    assert info["channel"] == "alpha" and info["reason"] == "trimmed"
    assert info["last_event_id"] == old
    oldest = info["oldest_id"]
    got = read_n(c, retained)
    assert got[0].id == oldest
    assert datas(got) == list(range(60 - retained, 60))
    assert b.counters()["resets_sent"] == 1


def test_a_position_inside_the_retained_history_gets_no_reset(bridge, clients, redis_server, r):
    b = bridge()
    r.config_set("stream-node-max-entries", 5)
    ids = [publish(r, "alpha", {"n": i}, maxlen=10) for i in range(40)]
    c, _ = open_stream(clients, b, cursor=ids[-3])
    assert datas(read_n(c, 2)) == [38, 39]
    c.quiet_for(0.3)
    assert "reset" not in [e.type for e in c.events]


def test_an_id_that_is_no_cursor_opens_a_live_stream_without_reset(bridge, clients, redis_server, r):
    b = bridge()
    for bad in ("job-42", "5-1@alpha,", "1-2@no such", "x" * 5000):
        c, hello = open_stream(clients, b, cursor=bad)
        assert hello.json()["resumed"] is False
        redis_server.wait_subscribed(["alpha"])
        publish(r, "alpha", {"n": 1})
        ev = read_n(c, 1)[0]
        assert ev.json()["n"] == 1
        assert "reset" not in [e.type for e in c.events]
        c.close()
    assert b.counters()["resume_ignored"] == 4


def test_live_events_racing_the_replay_arrive_once_in_order(bridge, clients, redis_server, r):
    b = bridge()
    first = publish(r, "alpha", {"n": 0})
    for i in range(1, 400):
        publish(r, "alpha", {"n": i})
    stop = threading.Event()
    pub = redis_server.client()
    sent = [400]

    def publisher():
        while not stop.is_set() and sent[0] < 1400:
            publish(pub, "alpha", {"n": sent[0]})
            sent[0] += 1

    t = threading.Thread(target=publisher)
    t.start()
    try:
        c, _ = open_stream(clients, b, cursor=first)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(10)
    total = sent[0]
    got = read_n(c, total - 1, timeout=30)
    assert datas(got) == list(range(1, total))


def test_ten_thousand_events_with_random_disconnects_over_two_bridges_arrive_exactly_once(
        bridge, clients, redis_server, r):
    bridges = [bridge(bridge_id="b-one"), bridge(bridge_id="b-two")]
    total = 10000
    pub = redis_server.client()
    done = threading.Event()

    def publisher():
        # a steady rate: 10,000 events over about 5 s
        t0 = time.monotonic()
        for i in range(total):
            publish(pub, "alpha", {"n": i})
            ahead = t0 + i / 2000.0 - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        done.set()

    rng = random.Random(7)
    received = []
    cursor = None
    c, hello = open_stream(clients, bridges[0])
    cursor = hello.id
    redis_server.wait_subscribed(["alpha"])
    t = threading.Thread(target=publisher)
    t.start()
    reconnects = 0
    deadline = time.monotonic() + 120
    try:
        while len(received) < total and time.monotonic() < deadline:
            for _ in range(rng.randint(1, 1500)):
                if len(received) == total:
                    break
                ev = c.next_event(timeout=20)
                received.append(ev.json()["n"])
                cursor = ev.id
            c.close()  # abrupt: no goodbye
            reconnects += 1
            c, hello = open_stream(clients, bridges[reconnects % 2], cursor=cursor)
            assert hello.json()["resumed"] is True
    finally:
        t.join(60)
    assert done.is_set()
    assert reconnects >= 5
    assert len(received) == total, "received %d of %d" % (len(received), total)
    assert received == list(range(total))
    c.quiet_for(0.3)
    assert [e.type for e in c.events if e.type == "alpha"] == []  # nothing after the last


def test_a_slow_consumer_dropped_at_its_queue_cap_resumes_with_no_loss(bridge, clients, redis_server, r):
    b = bridge("--max-queue-bytes", "65536")
    c, _ = open_stream(clients, b, rcvbuf=4096)
    redis_server.wait_subscribed(["alpha"])
    blob = "z" * 32000  # 300 x 32 KB: more than the kernel's socket buffers hold
    n = 300
    for i in range(n):
        publish(r, "alpha", {"n": i, "pad": blob})
    wait_until(lambda: b.counters()["slow_consumer_drops"] >= 1, 15, what="the slow consumer dropped")
    got = []
    try:
        while True:
            got.append(c.next_event(timeout=5))
    except (StreamClosed, AssertionError, TimeoutError):
        pass
    assert 0 < len(got) < n
    last = got[-1].id
    rest = []
    for _ in range(20):  # each round resumes where the last one stopped
        if len(got) + len(rest) >= n:
            break
        c2, hello = open_stream(clients, b, cursor=last)
        try:
            while len(got) + len(rest) < n:
                ev = c2.next_event(timeout=10)
                rest.append(ev)
                last = ev.id
        except (StreamClosed, AssertionError, TimeoutError):
            pass
        c2.close()
    assert datas(got + rest) == list(range(n))


def test_redis_unavailable_at_open_says_reset_for_each_resumed_channel(bridge, clients, redis_server, r):
    b = bridge()
    ids = [publish(r, "alpha", {"n": i}) for i in range(3)]
    redis_server.kill()
    wait_until(lambda: b.healthz()["redis"] == "down", 10, what="redis down")
    c, hello = open_stream(clients, b, channels=CHANNELS, cursor=ids[0])
    assert hello.json()["resumed"] is False
    evs = [c.next_event(timeout=5) for _ in range(3)]
    assert evs[0].type == "system" and evs[0].json()["status"] == "degraded"
    resets = {e.json()["channel"]: e.json() for e in evs[1:]}
    assert set(resets) == {"alpha", "beta"}
    assert all(v["reason"] == "history_unavailable" for v in resets.values())
    assert resets["alpha"]["last_event_id"] == ids[0]


def test_kill_9_of_redis_while_publishing_with_history_then_aof_restart_loses_nothing(
        bridge, clients, redis_server):
    redis_server.kill()
    redis_server.extra = ["--appendonly", "yes", "--appendfsync", "always"]
    redis_server.start()
    bridges = [bridge(bridge_id="b-one"), bridge(bridge_id="b-two")]
    streams = []
    for b in bridges:
        c, _ = open_stream(clients, b)
        streams.append(c)
    redis_server.wait_subscribed(["alpha"])
    total = 600
    published = []
    failures = [0]

    def publisher():
        import redis as redis_py
        pub = None
        i = 0
        deadline = time.monotonic() + 60
        while i < total and time.monotonic() < deadline:
            try:
                if pub is None:
                    pub = redis_py.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=2,
                                         socket_connect_timeout=1)
                published.append(publish(pub, "alpha", {"n": i}))
                i += 1
                time.sleep(0.005)
            except PublishConnectionError:
                failures[0] += 1
                pub = None
                time.sleep(0.05)

    t = threading.Thread(target=publisher)
    t.start()
    wait_until(lambda: len(published) >= 200, 20, what="200 events published")
    redis_server.kill()
    time.sleep(0.5)
    redis_server.start()
    t.join(70)
    assert len(published) == total and failures[0] >= 1
    # A publish cut by the kill may have run in Redis with its reply lost:
    # the publisher retried it, so that event is in history twice, once with
    # an id the publisher never learnt. Every acknowledged id must arrive
    # exactly once and in order; the unacknowledged ones are extra copies.
    acked = set(published)
    for c in streams:
        got, extra = [], []
        deadline = time.monotonic() + 30
        while len(got) < total and time.monotonic() < deadline:
            ev = c.next_event(timeout=20, skip_types=("system",))
            if ev.type == "reset":
                pytest.fail("unexpected reset: %s" % ev.data)
            (got if ev.id in acked else extra).append(ev)
        assert [e.id for e in got] == published
        assert [e.json()["n"] for e in got] == list(range(total))
        assert len(extra) <= failures[0], [e.id for e in extra]
        types = [e.json()["status"] for e in c.events if e.type == "system"]
        assert types[:2] == ["degraded", "recovered"], types
    for b in bridges:
        assert b.counters()["catchups"] >= 1
