"""Redis going away and coming back: streams stay open, are told
'degraded' then 'recovered', and messages flow again on the same socket."""

import time

from helpers import BRIDGE_ID, expect_body, sse_block, wait_until


def system_event(c, timeout):
    return c.wait_event(lambda e: e.type == "system", timeout, what="event: system")


def test_redis_killed_and_restarted_streams_get_degraded_then_recovered_then_new_messages_on_same_socket(
        bridge, clients, redis_server):
    b = bridge()
    streams = [clients.sse(b.port, "/events?channels=alpha", name="s1"),
               clients.sse(b.port, "/events?channels=alpha,beta&client_id=s2", name="s2"),
               clients.sse(b.port, "/stream?channel=alpha", name="s3")]
    for c in streams:
        c.connected()
    redis_server.wait_subscribed(["alpha", "beta"])
    assert redis_server.publish("alpha", "before") >= 1
    for c in streams:
        e = c.next_event(5)
        assert (e.type, e.data) == ("alpha", "before")
    socks = [c.sock.getsockname() for c in streams]

    redis_server.kill()
    for c in streams:
        d = system_event(c, 10)
        assert d.raw.startswith(b"event: system\n"), d.raw
        info = d.json()
        assert info["status"] == "degraded", info
        assert info["bridge"] == BRIDGE_ID, info
    assert b.healthz()["redis"] == "down"
    time.sleep(0.5)

    redis_server.start()  # same port
    for c in streams:
        r = system_event(c, 15)
        info = r.json()
        assert info["status"] == "recovered", info
        assert info["bridge"] == BRIDGE_ID, info
    assert redis_server.publish("alpha", "after") >= 1
    for c in streams:
        mark = c.events[-1]
        expect_body(c, mark, sse_block("alpha", "after"))

    for c, name in zip(streams, socks):
        assert not c.closed
        assert c.sock.getsockname() == name
        # one preamble and one connected event: the client never reconnected
        assert c.body.count(b": sse-bridge 0.1.0\n") == 1
        assert [e.type for e in c.events] == ["connected", "alpha", "system", "system", "alpha"], c.events
    h = b.healthz()
    assert h["redis"] == "up"
    assert h["counters"]["redis_reconnects"] >= 1, h
    assert h["connections"] == 3


def test_after_a_long_outage_the_bridge_reconnects_within_about_5_s_of_redis_coming_back(bridge, clients, redis_server):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    redis_server.kill()
    assert system_event(c, 10).json()["status"] == "degraded"
    time.sleep(7)  # long enough for the reconnect backoff to reach its cap
    redis_server.start()
    t0 = time.monotonic()
    r = system_event(c, 10)
    waited = time.monotonic() - t0
    assert r.json()["status"] == "recovered", r
    assert waited <= 5 + 1.5, "recovered %.1f s after Redis came back (backoff should stay <= ~5 s)" % waited
    assert redis_server.publish("alpha", "back") >= 1
    e = c.next_event(5)
    assert (e.type, e.data) == ("alpha", "back")
    assert b.counters()["redis_reconnects"] >= 1


def test_bridge_started_while_redis_is_down_serves_and_delivers_once_redis_comes_up(bridge, clients, redis_server):
    redis_server.kill()  # the port stays reserved for this test's redis
    b = bridge(wait_redis=False)
    h = b.healthz()
    assert h["status"] == "ok" and h["redis"] == "down", h
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    redis_server.start()
    wait_until(lambda: b.healthz()["redis"] == "up", 10, interval=0.1, what="healthz redis 'up' after redis came")
    redis_server.wait_subscribed(["alpha"])
    assert redis_server.publish("alpha", "first") >= 1
    e = c.next_event(5, skip_types=("system",))
    assert (e.type, e.data) == ("alpha", "first"), e


def test_redis_url_with_password_and_db_connects_and_delivers_and_a_wrong_password_leaves_redis_down(
        bridge, clients, redis_server):
    admin = redis_server.client()
    admin.config_set("requirepass", "s3cret")  # this connection stays authenticated
    good = bridge(redis_url="redis://:s3cret@127.0.0.1:%d/3" % redis_server.port)
    bad = bridge(redis_url="redis://:wrong@127.0.0.1:%d" % redis_server.port, wait_redis=False)
    wait_until(lambda: good.healthz()["redis"] == "up", 10, what="redis 'up' with the right password")
    c = clients.sse(good.port, "/events?channels=alpha")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha"])
    assert admin.publish("alpha", "authenticated") >= 1
    expect_body(c, ev, sse_block("alpha", "authenticated"))
    h = bad.healthz()
    assert h["status"] == "ok" and h["redis"] == "down", h
    assert bad.alive()
