"""The Redis Lua scripts of the cluster-wide connection pool (bridge/lua/).

Every test runs the scripts on a real redis-server (conftest's
`redis_server`), loaded exactly as the C side loads them: the text of
reap.lua, a newline, the text of the script, sent as ONE script with
SCRIPT LOAD and run with EVALSHA (loaded again on NOSCRIPT).

Leases that must expire in real time use lease_ms 200 and a sleep; the
seeded randomized test expires a lease deterministically instead, by setting
its ZSET score to 1 ms (a lease that ended long ago, by Redis's clock).
"""

import hashlib
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis as redis_py

LUA_DIR = Path(__file__).resolve().parents[2] / "bridge" / "lua"
P = "{sse}:"
LONG = 60000  # a lease that does not expire during a test (ms)
SHORT = 200   # a lease that does, after a short sleep (ms)


def script_text(name):
    """What the C side sends for script `name`: reap.lua + "\\n" + name.lua."""
    return (LUA_DIR / "reap.lua").read_bytes() + b"\n" + (LUA_DIR / (name + ".lua")).read_bytes()


class Pool:
    """The pool as one bridge process's C side drives it."""

    def __init__(self, r, prefix=P):
        self.r = r
        self.P = prefix
        self.sha = {}
        self.loads = 0
        self.load()

    def load(self):
        for name in ("admit", "release", "renew"):
            self.sha[name] = self.r.script_load(script_text(name))
        self.loads += 1

    def _run(self, name, keys, args):
        try:
            return self.r.evalsha(self.sha[name], len(keys), *keys, *args)
        except redis_py.exceptions.NoScriptError:
            self.load()
            return self.r.evalsha(self.sha[name], len(keys), *keys, *args)

    def keys(self, bid, stats=False):
        k = [self.P + "bridges", self.P + "total", self.P + "ips", self.P + "held:" + bid]
        return k + [self.P + "stats:" + bid] if stats else k

    def admit(self, bid, ip, max_total=500, max_ip=10, lease_ms=LONG):
        code, total, ipc, why = self._run("admit", self.keys(bid), [bid, ip, max_total, max_ip, lease_ms, self.P])
        return code, total, ipc, why

    def release(self, bid, ip):
        total, ipc = self._run("release", self.keys(bid), [bid, ip, self.P])
        return total, ipc

    def renew(self, bid, lease_ms=LONG, stats=None, live=None, force=False):
        """Returns (reasserted, nbridges, total, {field: sum})."""
        stats = stats or {}
        args = [bid, lease_ms, self.P, 1 if force else 0, len(stats)]
        for f, v in stats.items():
            args += [f, v]
        for ip, n in (live or {}).items():
            args += [ip, n]
        reasserted, nbridges, total, flat = self._run("renew", self.keys(bid, stats=True), args)
        sums = dict(zip(flat[0::2], flat[1::2]))
        return reasserted, nbridges, total, sums

    def admit_flow(self, bid, ip, live, **kw):
        """The C side's admit: on "unregistered", renew with the live counts
        (re-assert) and send admit again. Counts an admitted one in live."""
        res = self.admit(bid, ip, **kw)
        if res[0] == -1:
            self.renew(bid, live=live, lease_ms=kw.get("lease_ms", LONG))
            res = self.admit(bid, ip, **kw)
        if res[0] == 1:
            live[ip] += 1
        return res

    # -- what Redis holds ---------------------------------------------------

    def total(self):
        v = self.r.get(self.P + "total")
        return int(v) if v is not None else 0

    def ips(self):
        return {k: int(v) for k, v in self.r.hgetall(self.P + "ips").items()}

    def held(self, bid):
        return {k: int(v) for k, v in self.r.hgetall(self.P + "held:" + bid).items()}

    def bridges(self):
        return set(self.r.zrange(self.P + "bridges", 0, -1))


def client(redis_server):
    return redis_py.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True,
                          socket_timeout=10, socket_connect_timeout=5)


@pytest.fixture
def r(redis_server):
    c = client(redis_server)
    yield c
    c.close()


@pytest.fixture
def pool(r):
    return Pool(r)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def test_loaded_sha_is_sha1_of_prelude_newline_script_so_the_c_side_can_precompute_it(r):
    for name in ("admit", "release", "renew"):
        text = script_text(name)
        assert r.script_load(text) == hashlib.sha1(text).hexdigest()


def test_noscript_after_script_flush_is_recovered_by_reloading(pool, r):
    pool.renew("a")
    r.script_flush()
    assert pool.admit("a", "1.1.1.1")[0] == 1
    assert pool.loads == 2


def test_bad_arguments_are_refused_before_anything_is_written(pool, r):
    pool.renew("a")
    before = (pool.total(), pool.ips(), pool.held("a"), r.zscore(P + "bridges", "a"))
    bad = [
        ("admit", pool.keys("a"), ["a", "1.1.1.1", "x", 10, LONG, P]),              # max_total
        ("admit", pool.keys("a"), ["a", "1.1.1.1", 500, 10, 0, P]),                 # lease_ms 0
        ("admit", pool.keys("a"), ["a", "_total", 500, 10, LONG, P]),               # ip = held's _total
        ("admit", pool.keys("b"), ["a", "1.1.1.1", 500, 10, LONG, P]),              # KEYS[4] of another id
        ("admit", pool.keys("a")[:3], ["a", "1.1.1.1", 500, 10, LONG, P]),          # 3 keys
        ("release", pool.keys("a"), ["a", "", P]),                                  # empty ip
        ("renew", pool.keys("a", stats=True), ["a", LONG, P, 0, 2, "f", "1"]),         # nstats too big
        ("renew", pool.keys("a", stats=True), ["a", LONG, P, 0, 0, "1.1.1.1"]),        # odd live pairs
        ("renew", pool.keys("a", stats=True), ["a", LONG, P, 0, 0, "1.1.1.1", "-1"]),  # negative count
        ("renew", pool.keys("a", stats=True), ["a", LONG, "{x}:", 0, 0]),              # prefix vs KEYS
    ]
    for name, keys, args in bad:
        with pytest.raises(redis_py.exceptions.ResponseError, match="sse-bridge pool"):
            r.evalsha(pool.sha[name], len(keys), *keys, *args)
    assert (pool.total(), pool.ips(), pool.held("a"), r.zscore(P + "bridges", "a")) == before


# ---------------------------------------------------------------------------
# Admission and release
# ---------------------------------------------------------------------------


def test_admit_counts_up_to_the_per_ip_cap_then_refuses_with_ip(pool):
    pool.renew("a")
    for i in range(1, 11):
        assert pool.admit("a", "10.0.0.1") == (1, i, i, "ok")
    assert pool.admit("a", "10.0.0.1") == (0, 10, 10, "ip")
    assert pool.admit("a", "10.0.0.2") == (1, 11, 1, "ok")  # another ip is not capped
    assert pool.total() == 11
    assert pool.ips() == {"10.0.0.1": 10, "10.0.0.2": 1}
    assert pool.held("a") == {"_total": 11, "10.0.0.1": 10, "10.0.0.2": 1}


def test_total_cap_is_shared_across_two_bridges_then_refuses_with_total(pool):
    pool.renew("a")
    pool.renew("b")
    for i in range(5):
        assert pool.admit("a", "10.0.0.%d" % i, max_total=8)[0] == 1
    for i in range(3):
        assert pool.admit("b", "10.0.1.%d" % i, max_total=8)[0] == 1
    assert pool.admit("b", "10.0.2.1", max_total=8) == (0, 8, 0, "total")
    assert pool.admit("a", "10.0.0.1", max_total=8) == (0, 8, 1, "total")
    assert pool.held("a")["_total"] == 5 and pool.held("b")["_total"] == 3
    pool.release("a", "10.0.0.1")
    assert pool.admit("b", "10.0.2.1", max_total=8) == (1, 8, 1, "ok")


def test_admit_before_any_renew_is_unregistered_and_counts_nothing(pool, r):
    assert pool.admit("a", "10.0.0.1") == (-1, 0, 0, "unregistered")
    assert pool.total() == 0 and pool.ips() == {} and pool.held("a") == {}
    assert pool.bridges() == set()
    assert r.keys("*") == []
    assert pool.renew("a")[0] == 1
    assert pool.admit("a", "10.0.0.1") == (1, 1, 1, "ok")


def test_admit_extends_the_lease(pool, r):
    pool.renew("a", lease_ms=SHORT)
    t0 = float(r.zscore(P + "bridges", "a"))
    assert pool.admit("a", "10.0.0.1", lease_ms=LONG)[0] == 1
    assert float(r.zscore(P + "bridges", "a")) >= t0 - SHORT + LONG


def test_release_frees_exactly_one_slot_and_a_second_release_for_the_ip_is_a_no_op(pool):
    pool.renew("a")
    for _ in range(2):
        pool.admit("a", "10.0.0.1", max_ip=2)
    assert pool.admit("a", "10.0.0.1", max_ip=2)[3] == "ip"
    assert pool.release("a", "10.0.0.1") == (1, 1)
    assert pool.admit("a", "10.0.0.1", max_ip=2) == (1, 2, 2, "ok")
    assert pool.admit("a", "10.0.0.1", max_ip=2)[3] == "ip"  # exactly one slot was freed
    assert pool.release("a", "10.0.0.1") == (1, 1)
    assert pool.release("a", "10.0.0.1") == (0, 0)
    assert pool.held("a") == {}
    assert pool.release("a", "10.0.0.1") == (0, 0)  # nothing held: a no-op, never negative
    assert pool.total() == 0 and pool.ips() == {} and pool.held("a") == {}


def test_release_by_one_bridge_does_not_touch_another_bridges_connections(pool):
    pool.renew("a")
    pool.renew("b")
    pool.admit("a", "10.0.0.1")
    assert pool.release("b", "10.0.0.1") == (1, 1)  # b holds none of that ip
    assert pool.held("a") == {"_total": 1, "10.0.0.1": 1}


# ---------------------------------------------------------------------------
# Leases: reaping dead bridges, re-asserting lost ones
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["admit", "release", "renew"])
def test_expired_bridge_is_reaped_by_another_bridges_next_script_and_its_counts_vanish(pool, r, op):
    pool.renew("dead", lease_ms=SHORT, stats={"conns": 3})
    pool.renew("alive", stats={"conns": 1})
    for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        assert pool.admit("dead", ip, lease_ms=SHORT)[0] == 1
    assert pool.admit("alive", "10.0.0.1")[0] == 1
    assert (pool.total(), pool.ips()) == (4, {"10.0.0.1": 3, "10.0.0.2": 1})
    time.sleep(SHORT / 1000.0 + 0.1)  # "dead" was kill -9'd: it renews no more

    if op == "admit":
        assert pool.admit("alive", "10.0.0.3") == (1, 2, 1, "ok")
    elif op == "release":
        assert pool.release("alive", "10.0.0.1") == (0, 0)
    else:
        assert pool.renew("alive", stats={"conns": 1})[1:] == (1, 1, {"conns": 1})
    assert pool.bridges() == {"alive"}
    assert r.exists(P + "held:dead", P + "stats:dead") == 0
    assert pool.total() == sum(pool.ips().values()) == pool.held("alive").get("_total", 0)
    assert "10.0.0.2" not in pool.ips()


def test_bridge_whose_own_lease_expired_is_reaped_then_told_unregistered_and_reasserts(pool):
    pool.renew("a", lease_ms=SHORT)
    live = Counter()
    for _ in range(3):
        pool.admit_flow("a", "10.0.0.1", live, lease_ms=SHORT)
    pool.release("a", "10.0.0.1")
    live["10.0.0.1"] -= 1
    time.sleep(SHORT / 1000.0 + 0.1)  # a partition: no renew reached Redis
    assert pool.admit("a", "10.0.0.1", lease_ms=SHORT) == (-1, 0, 0, "unregistered")
    assert pool.held("a") == {} and pool.bridges() == set()
    assert pool.renew("a", live=live)[0] == 1
    assert (pool.total(), pool.ips(), pool.held("a")) == (2, {"10.0.0.1": 2}, {"_total": 2, "10.0.0.1": 2})
    assert pool.admit("a", "10.0.0.1") == (1, 3, 3, "ok")


def test_reassert_after_flushall_restores_the_live_counts_exactly(pool, r):
    lives = {"a": Counter(), "b": Counter()}
    for bid in lives:
        pool.renew(bid)
    for i in range(12):
        bid = "ab"[i % 2]
        pool.admit_flow(bid, "10.0.0.%d" % (i % 4), lives[bid])
    pool.release("a", "10.0.0.0")
    lives["a"]["10.0.0.0"] -= 1
    before = (pool.total(), pool.ips(), pool.held("a"), pool.held("b"))
    assert before[0] == 11

    r.flushall()
    assert pool.admit("a", "10.0.0.9") == (-1, 0, 0, "unregistered")
    assert pool.release("b", "10.0.0.1") == (0, 0)  # flushed: nothing to release
    lives["b"]["10.0.0.1"] -= 1
    for bid in ("a", "b"):
        assert pool.renew(bid, live=lives[bid])[0] == 1
    expected_b = {k: v for k, v in before[3].items()}
    expected_b["10.0.0.1"] -= 1
    expected_b["_total"] -= 1
    ips = dict(before[1])
    ips["10.0.0.1"] -= 1
    assert (pool.total(), pool.ips(), pool.held("a"), pool.held("b")) == (10, ips, before[2], expected_b)
    assert pool.admit("a", "10.0.0.9")[0] == 1


def test_redis_restarted_empty_scripts_reload_on_noscript_and_bridges_reassert(redis_server, pool, r):
    live = Counter()
    pool.renew("a")
    for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        pool.admit_flow("a", ip, live)
    redis_server.kill()
    redis_server.start()  # same port, empty, no scripts cached
    r2 = client(redis_server)
    try:
        pool.r = r2
        assert pool.admit("a", "10.0.0.3") == (-1, 0, 0, "unregistered")
        assert pool.loads == 2
        assert pool.renew("a", live=live)[0] == 1
        assert (pool.total(), pool.ips()) == (3, {"10.0.0.1": 2, "10.0.0.2": 1})
    finally:
        r2.close()


def test_renew_of_a_registered_bridge_trusts_held_and_does_not_double_count(pool):
    live = Counter()
    pool.renew("a")
    for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        pool.admit_flow("a", ip, live)
    for _ in range(3):
        assert pool.renew("a", live=live)[0] == 0
    assert pool.renew("a", live={"10.0.0.7": 50})[0] == 0  # live pairs are ignored when registered
    assert (pool.total(), pool.ips(), pool.held("a")) == (
        3, {"10.0.0.1": 2, "10.0.0.2": 1}, {"_total": 3, "10.0.0.1": 2, "10.0.0.2": 1})


def test_reassert_first_takes_stale_held_leftovers_out_of_the_counts(pool, r):
    pool.renew("a")
    pool.admit("a", "10.0.0.1")
    pool.admit("a", "10.0.0.1")
    r.zrem(P + "bridges", "a")  # the lease entry alone was lost (e.g. evicted)
    assert pool.renew("a", live={"10.0.0.1": 1})[0] == 1
    assert (pool.total(), pool.ips(), pool.held("a")) == (1, {"10.0.0.1": 1}, {"_total": 1, "10.0.0.1": 1})


def test_reap_never_takes_total_below_zero_and_deletes_ip_fields_at_zero(pool, r):
    pool.renew("dead", lease_ms=SHORT)
    pool.renew("alive")
    for _ in range(3):
        pool.admit("dead", "10.0.0.1", lease_ms=SHORT)
    r.set(P + "total", 1)                  # counts damaged by hand: fewer than
    r.hset(P + "ips", "10.0.0.1", 2)       # what "dead" holds
    time.sleep(SHORT / 1000.0 + 0.1)
    assert pool.release("alive", "10.0.0.1") == (0, 0)
    assert r.get(P + "total") == "0"
    assert pool.ips() == {}


def test_reaping_is_bounded_to_100_bridges_per_call_the_rest_on_the_next(pool, r):
    ids = ["b%03d" % i for i in range(150)]
    pipe = r.pipeline(transaction=False)
    for bid in ids:
        keys = pool.keys(bid, stats=True)
        pipe.evalsha(pool.sha["renew"], len(keys), *keys, bid, LONG, P, 0, 1, "conns", 1, "10.0.0.1", 1)
    pipe.execute()
    assert (pool.total(), pool.ips()) == (150, {"10.0.0.1": 150})
    r.zadd(P + "bridges", {bid: 1 for bid in ids})  # all 150 leases ended long ago
    reasserted, nbridges, total, _ = pool.renew("x")
    assert len(pool.bridges()) == 51 and total == pool.total() == 50
    assert nbridges == 1  # the 50 expired ones still waiting to be reaped are not counted as live
    pool.renew("x")
    assert pool.bridges() == {"x"} and pool.total() == 0 and pool.ips() == {}
    assert r.keys(P + "held:*") == [] and r.keys(P + "stats:*") == []


# ---------------------------------------------------------------------------
# Mirrored stats
# ---------------------------------------------------------------------------


def test_stats_are_summed_across_bridges_and_a_reaped_bridges_stats_stop_counting(pool, r):
    status = {"redis": "up", "version": "0.1.0"}
    pool.renew("a", stats=dict(status, conns=5, dropped=1))
    pool.renew("b", stats=dict(status, conns=7, dropped=0, big=2 ** 40))
    pool.renew("c", lease_ms=SHORT, stats=dict(status, conns=11, dropped=4, neg=-3))
    reasserted, n, total, sums = pool.renew("a", stats=dict(status, conns=6, dropped=1))
    assert (reasserted, n, total) == (0, 3, 0)
    assert sums == {"conns": 6 + 7 + 11, "dropped": 5, "big": 2 ** 40, "neg": -3}  # strings are skipped
    assert r.hgetall(P + "stats:a") == {"redis": "up", "version": "0.1.0", "conns": "6", "dropped": "1"}
    assert 0 < r.pttl(P + "stats:a") <= 3 * LONG

    time.sleep(SHORT / 1000.0 + 0.1)  # "c" died
    assert pool.renew("b", stats={"conns": 7}) == (0, 2, 0, {"conns": 13, "dropped": 1})
    assert r.exists(P + "stats:c") == 0
    assert pool.renew("a", stats={}) == (0, 2, 0, {"conns": 7})  # empty stats replace the hash
    assert r.exists(P + "stats:a") == 0


# ---------------------------------------------------------------------------
# Atomicity and invariants
# ---------------------------------------------------------------------------


def test_200_concurrent_admits_for_one_ip_from_two_bridges_admit_exactly_the_per_ip_cap(redis_server, pool):
    pool.renew("a")
    pool.renew("b")
    nthreads, per_thread = 40, 5
    barrier = threading.Barrier(nthreads)
    results, errors = [], []
    lock = threading.Lock()

    def worker(k):
        c = client(redis_server)
        try:
            p = Pool.__new__(Pool)
            p.r, p.P, p.sha, p.loads = c, P, dict(pool.sha), 1
            c.ping()
            barrier.wait(10)
            got = [p.admit("ab"[k % 2], "10.9.9.9") for _ in range(per_thread)]
            with lock:
                results.extend(got)
        except Exception as e:  # reported by the main thread
            with lock:
                errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(results) == nthreads * per_thread == 200
    codes = Counter((code, why) for code, _, _, why in results)
    assert codes == {(1, "ok"): 10, (0, "ip"): 190}
    assert sorted(ipc for code, _, ipc, _ in results if code == 1) == list(range(1, 11))
    assert pool.total() == 10 and pool.ips() == {"10.9.9.9": 10}
    assert pool.held("a").get("_total", 0) + pool.held("b").get("_total", 0) == 10


class Model:
    """What Redis must hold: the registered bridges' held counts and stats."""

    def __init__(self):
        self.held = {}       # registered bridge id -> Counter(ip -> n)
        self.stats = {}      # registered bridge id -> {field: int}
        self.expired = set() # registered, lease ended, not reaped yet

    def reap(self):
        for bid in self.expired:
            self.held.pop(bid, None)
            self.stats.pop(bid, None)
        self.expired.clear()

    def total(self):
        return sum(sum(c.values()) for c in self.held.values())

    def ips(self):
        out = Counter()
        for c in self.held.values():
            out.update(c)
        return {k: v for k, v in out.items() if v > 0}

    def ipc(self, ip):
        return self.ips().get(ip, 0)


def test_randomized_admit_release_expiry_flush_sequences_match_the_model_and_never_go_negative(pool, r):
    rng = random.Random(20240611)
    max_total, max_ip = 14, 5
    ips = ["10.0.0.%d" % i for i in range(4)]
    lives = {"b0": Counter(), "b1": Counter(), "b2": Counter()}  # the C side of each running bridge
    m = Model()
    nextid = [3]
    seen = Counter()

    def check(step, what):
        ctx = "step %d: %s" % (step, what)
        total = pool.total()
        got_ips = pool.ips()
        assert total >= 0 and all(v > 0 for v in got_ips.values()), ctx
        assert total == m.total(), ctx
        assert got_ips == m.ips(), ctx
        assert pool.bridges() == set(m.held), ctx
        for bid, c in m.held.items():
            want = {k: v for k, v in c.items() if v > 0}
            if want:
                want["_total"] = sum(want.values())
            assert pool.held(bid) == want, ctx + " held of " + bid
        assert set(r.keys(P + "held:*")) <= {P + "held:" + b for b in m.held}, ctx
        assert set(r.keys(P + "stats:*")) <= {P + "stats:" + b for b in m.held}, ctx

    def renew(bid):
        st = {"conns": sum(lives[bid].values()), "redis": "up"}
        res = pool.renew(bid, stats=st, live=lives[bid])
        m.reap()
        reasserted = 0
        if bid not in m.held:
            m.held[bid] = Counter({k: v for k, v in lives[bid].items() if v > 0})
            reasserted = 1
        m.stats[bid] = {"conns": st["conns"]}
        sums = Counter()
        for s in m.stats.values():
            sums.update(s)
        assert res == (reasserted, len(m.held), m.total(), dict(sums))

    def admit(bid, ip):
        res = pool.admit(bid, ip, max_total=max_total, max_ip=max_ip)
        m.reap()
        if bid not in m.held:
            assert res == (-1, m.total(), m.ipc(ip), "unregistered")
            seen["unregistered"] += 1
            renew(bid)
            res = pool.admit(bid, ip, max_total=max_total, max_ip=max_ip)
        if m.total() >= max_total:
            assert res == (0, m.total(), m.ipc(ip), "total")
        elif m.ipc(ip) >= max_ip:
            assert res == (0, m.total(), m.ipc(ip), "ip")
        else:
            m.held[bid][ip] += 1
            lives[bid][ip] += 1
            assert res == (1, m.total(), m.ipc(ip), "ok")
        seen[res[3]] += 1

    def release(bid):
        ip = rng.choice([k for k, v in lives[bid].items() if v > 0])
        lives[bid][ip] -= 1
        res = pool.release(bid, ip)
        m.reap()
        if bid in m.held and m.held[bid][ip] > 0:
            m.held[bid][ip] -= 1
            seen["released"] += 1
        else:
            seen["release no-op"] += 1
        assert res == (m.total(), m.ipc(ip))

    for bid in lives:
        renew(bid)
    for step in range(1500):
        bid = rng.choice(sorted(lives))
        x = rng.random()
        if x < 0.45:
            what = "admit %s" % bid
            admit(bid, rng.choice(ips))
        elif x < 0.80:
            if not any(v > 0 for v in lives[bid].values()):
                continue
            what = "release %s" % bid
            release(bid)
        elif x < 0.90:
            what = "renew %s" % bid
            renew(bid)
        elif x < 0.95:
            if bid not in m.held:
                continue
            what = "lease of %s expires (partition)" % bid
            r.zadd(P + "bridges", {bid: 1})
            m.expired.add(bid)
        elif x < 0.98:
            what = "kill %s (kill -9; a new bridge replaces it)" % bid
            if bid in m.held:
                r.zadd(P + "bridges", {bid: 1})
                m.expired.add(bid)
            del lives[bid]
            new = "b%d" % nextid[0]
            nextid[0] += 1
            lives[new] = Counter()
            renew(new)
        else:
            what = "FLUSHALL"
            r.flushall()
            m.held.clear()
            m.stats.clear()
            m.expired.clear()
        seen[what.split()[0]] += 1
        check(step, what)
    # the sequence really exercised every path
    for k in ("ok", "ip", "total", "unregistered", "released", "release no-op", "FLUSHALL", "lease", "kill"):
        assert seen[k] > 0, (k, seen)


def test_forced_renew_replaces_drifted_held_counts_with_the_live_ones(pool, r):
    """After a reconnect the bridge cannot know whether an admit or release in
    flight ran: a forced renew takes its held counts out and puts the live
    ones in, leaving other bridges' counts alone."""
    pool.renew("a")
    pool.renew("b")
    for _ in range(3):
        assert pool.admit("a", "1.1.1.1")[0] == 1
    assert pool.admit("b", "1.1.1.1")[0] == 1
    # "a" really holds 2 (one admit's reply was lost with the link, say).
    reasserted, nbridges, total, _ = pool.renew("a", live={"1.1.1.1": 2}, force=True)
    assert (reasserted, nbridges, total) == (1, 2, 3)
    assert int(r.get(P + "total")) == 3
    assert int(r.hget(P + "ips", "1.1.1.1")) == 3
    assert int(r.hget(P + "held:a", "_total")) == 2
    # Without force, a registered bridge's held counts are trusted.
    assert pool.renew("a", live={"1.1.1.1": 9})[0] == 0
    assert int(r.get(P + "total")) == 3
