"""The /db of --redis-url is selected on every command link: the pool's keys
and the history the bridge replays live in that database, not in db 0."""

import sys
from pathlib import Path

import redis as redis_py

from helpers import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from sse_publish import publish  # noqa: E402


def test_pool_keys_and_history_live_in_the_database_the_url_names(bridge, clients, redis_server):
    b = bridge(redis_url=redis_server.url + "/3")
    db0 = redis_py.Redis(host="127.0.0.1", port=redis_server.port, db=0)
    db3 = redis_py.Redis(host="127.0.0.1", port=redis_server.port, db=3)
    wait_until(lambda: db3.zcard("{sse}:bridges") == 1, 10, what="the lease in db 3")
    assert db0.zcard("{sse}:bridges") == 0
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    redis_server.wait_subscribed(["alpha"])
    first = publish(db3, "alpha", {"n": 0})
    assert c.next_event(timeout=10).id == first
    c.close()
    missed = [publish(db3, "alpha", {"n": i}) for i in (1, 2)]
    c2 = clients.sse(b.port, "/events?channels=alpha", headers=[("Last-Event-ID", first)])
    assert c2.connected().json()["resumed"] is True
    got = [c2.next_event(timeout=10, skip_types=("system",)) for _ in range(2)]
    assert [e.id for e in got] == missed
    assert [e.json()["n"] for e in got] == [1, 2]
