"""The cluster-wide connection pool, end to end: real sse-bridge processes
sharing one real redis-server, real TCP clients.

Every replica enforces --max-connections (cluster-wide total) and
--max-connections-per-ip through the Lua scripts of bridge/lua/, under the
key prefix "{sse}:" ("total", "ips", "bridges", "held:<id>", "stats:<id>").
Clients with other source addresses bind to 127.0.0.2..127.0.0.9 (all of
127.0.0.0/8 is local on Linux) before they connect. Releases and renewals
are asynchronous: every wait here polls, bounded.
"""

import json
import re
import signal
import socket
import threading
import time

import pytest
import redis as redis_py

from helpers import assert_json_error, wait_until
from sse_client import HTTPConnection, SSEClient, get_json

P = "{sse}:"
LOCAL = "127.0.0.1"
IP_JSON = {"error": "Maximum connections per IP reached", "code": "too_many_connections_per_ip"}
TOTAL_JSON = {"error": "Maximum connections reached", "code": "too_many_connections"}
TARGET = "/events?channels=alpha"


# ---------------------------------------------------------------------------
# Clients with a chosen source address and X-Forwarded-For
# ---------------------------------------------------------------------------


class BoundConnection(HTTPConnection):
    """HTTPConnection whose socket binds to source address `src` (any port)
    before it connects to the bridge on 127.0.0.1."""

    def __init__(self, port, src=None, timeout=5.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if src is not None:
                self.sock.bind((src, 0))
            self.sock.settimeout(timeout)
            self.sock.connect((LOCAL, port))
        except OSError:
            self.sock.close()
            raise
        self.port = port
        self.buf = bytearray()
        self.eof = False
        self.reset = False


class Attempt:
    """One stream request and the bridge's answer: .status, .resp (head),
    .client (the SSEClient; for a 200 its first event is .first), .body
    (a non-200 answer's body, read to its Content-Length)."""

    def __init__(self, port, src=None, xff=None, target=TARGET, timeout=5.0, name=None):
        headers = [("X-Forwarded-For", xff)] if xff is not None else None
        self.name = name or "%s%s%s" % (src or LOCAL, " xff=" + xff if xff else "", " -> :%d" % port)
        self.port = port
        self.client = SSEClient(port, target, headers=headers, conn=BoundConnection(port, src, timeout),
                                timeout=timeout, name=self.name)
        try:
            self.resp = self.client.read_head(timeout)
            self.status = self.resp.status
            self.body = b""
            self.first = None
            if self.status == 200:
                self.first = self.client.next_event(timeout)
            else:
                self.body = self._rest(timeout)
                self.resp.body = self.body
        except BaseException:
            self.client.close()  # nobody else holds this socket yet
            raise

    def _rest(self, timeout):
        cl = self.resp.header("Content-Length")
        assert cl is not None, "%s: non-200 answer without Content-Length: %r" % (self.name, self.resp)
        n = int(cl)
        buf = bytearray(self.client.parser.body)  # read along with the head
        deadline = time.monotonic() + timeout
        while len(buf) < n and not self.client.conn.eof:
            buf += self.client.conn.recv_some(deadline)
        assert len(buf) >= n, "%s: body closed after %d of %d bytes: %r" % (self.name, len(buf), n, bytes(buf))
        return bytes(buf[:n])

    @property
    def admitted(self):
        return self.status == 200 and self.first is not None and self.first.type == "connected"

    def close(self):
        if self.client is not None:
            self.client.close()

    def __repr__(self):
        return "Attempt(%s: %r, first=%r, body=%r)" % (self.name, self.resp.status_line, self.first, self.body)


@pytest.fixture
def pool_clients():
    """Factory: pool_clients.open(port, src=None, xff=None) -> Attempt; every
    socket is closed at teardown."""
    made = []

    class Factory:
        def open(self, port, src=None, xff=None, **kw):
            a = Attempt(port, src=src, xff=xff, **kw)
            made.append(a)
            return a

        def admit(self, port, src=None, xff=None, **kw):
            """A stream that must be admitted."""
            a = self.open(port, src, xff, **kw)
            assert a.admitted, "expected an admitted stream, got %r" % a
            return a

        def track(self, a):
            made.append(a)
            return a

    yield Factory()
    for a in made:
        try:
            a.close()
        except Exception:
            pass


@pytest.fixture
def r(redis_server):
    """A decoding redis-py client on the test's redis-server."""
    c = redis_py.Redis(host=LOCAL, port=redis_server.port, decode_responses=True,
                       socket_timeout=5, socket_connect_timeout=5)
    yield c
    try:
        c.close()
    except Exception:
        pass


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def health(b):
    return get_json(b.port, "/sse/health")


def start(bridge, bid, *args, **kw):
    """A bridge whose pool link is up (ready to decide admissions in Redis)."""
    b = bridge(*args, bridge_id=bid, **kw)
    wait_until(lambda: health(b)["bridge"]["pool"] == "up", 10, what="%s's pool link up" % bid)
    return b


def total(r):
    v = r.get(P + "total")
    return int(v) if v is not None else 0


def ips(r):
    return {k: int(v) for k, v in r.hgetall(P + "ips").items()}


def held(r, bid):
    return {k: int(v) for k, v in r.hgetall(P + "held:" + bid).items()}


def redis_now_ms(r):
    s, us = r.time()
    return s * 1000 + us // 1000


def wait_redis(r, predicate, timeout, what):
    """Polls Redis; on timeout the failure shows what Redis holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1fs waiting for %s; Redis holds total=%r ips=%r bridges=%r"
                        % (timeout, what, r.get(P + "total"), r.hgetall(P + "ips"),
                           r.zrange(P + "bridges", 0, -1, withscores=True)))
        time.sleep(0.02)


def assert_refused(a, body_json, bridges=()):
    """A 429 of the contract: exact JSON, Retry-After in whole seconds
    (the jittered retry_ms of 3000 +-50 %, rounded up: 2..5)."""
    where = "; bridge stderr tails:\n" + "\n---\n".join(b.stderr()[-1500:] for b in bridges) if bridges else ""
    assert a.status == 429, "%s: expected 429, got %r%s" % (a.name, a, where)
    assert_json_error(a.resp, 429, body_json["code"])
    assert json.loads(a.body) == body_json, a
    ra = a.resp.header("Retry-After")
    assert ra is not None and re.fullmatch(r"\d+", ra), "Retry-After missing or not whole seconds: %r" % a
    assert 1 <= int(ra) <= 5, "Retry-After %s outside 1..5 s for retry_ms 3000: %r" % (ra, a)


def close_and_wait_released(a, r, ip, expect_ip_count, timeout=3.0):
    a.close()
    wait_redis(r, lambda: ips(r).get(ip, 0) == expect_ip_count, timeout,
               "ips[%s] == %d after closing a stream" % (ip, expect_ip_count))


# ---------------------------------------------------------------------------
# 1. per-IP cap across two bridges
# ---------------------------------------------------------------------------


def test_per_ip_cap_holds_across_two_bridges_and_a_closed_stream_frees_exactly_one_slot(
        bridge, redis_server, r, pool_clients):
    a = start(bridge, "pool-a", "--max-connections-per-ip", "10")
    b = start(bridge, "pool-b", "--max-connections-per-ip", "10")
    on_a = [pool_clients.admit(a.port) for _ in range(5)]
    on_b = [pool_clients.admit(b.port) for _ in range(5)]
    assert on_a[0].first.json()["bridge"] == "pool-a" and on_b[0].first.json()["bridge"] == "pool-b"
    assert total(r) == 10 and ips(r) == {LOCAL: 10}
    assert held(r, "pool-a") == {"_total": 5, LOCAL: 5} and held(r, "pool-b") == {"_total": 5, LOCAL: 5}

    # The 11th, on either bridge.
    assert_refused(pool_clients.open(a.port), IP_JSON, (a, b))
    assert_refused(pool_clients.open(b.port), IP_JSON, (a, b))
    assert total(r) == 10 and ips(r) == {LOCAL: 10}, "a refused attempt changed the counts"

    # Closing one stream (on a) frees one slot, which b may hand out.
    close_and_wait_released(on_a.pop(), r, LOCAL, 9)
    assert total(r) == 9
    again = pool_clients.open(b.port)
    assert again.admitted, "the freed slot was not handed out: %r" % again
    assert_refused(pool_clients.open(a.port), IP_JSON, (a, b))
    assert_refused(pool_clients.open(b.port), IP_JSON, (a, b))
    assert total(r) == 10 and ips(r) == {LOCAL: 10}

    ha, hb = health(a)["connection_pool"], health(b)["connection_pool"]
    assert ha["rejected"]["ip_limit"] == 2 and hb["rejected"]["ip_limit"] == 2, (ha, hb)
    assert ha["rejected"]["total_limit"] == 0 and hb["rejected"]["total_limit"] == 0, (ha, hb)


# ---------------------------------------------------------------------------
# 2. total cap across two bridges
# ---------------------------------------------------------------------------


def test_total_cap_holds_across_two_bridges_for_clients_of_different_addresses(bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--max-connections", "6")
    b = start(bridge, "pool-b", "--max-connections", "6")
    srcs = ["127.0.0.%d" % i for i in range(2, 10)]  # 8 source addresses
    for i, src in enumerate(srcs[:6]):
        pool_clients.admit((a, b)[i % 2].port, src=src)
    assert total(r) == 6
    assert ips(r) == {src: 1 for src in srcs[:6]}, "client IP is not the TCP peer address"

    assert_refused(pool_clients.open(a.port, src=srcs[6]), TOTAL_JSON, (a, b))
    assert_refused(pool_clients.open(b.port, src=srcs[7]), TOTAL_JSON, (a, b))
    assert total(r) == 6 and srcs[6] not in ips(r) and srcs[7] not in ips(r)
    ha, hb = health(a)["connection_pool"], health(b)["connection_pool"]
    assert ha["rejected"]["total_limit"] == 1 and hb["rejected"]["total_limit"] == 1, (ha, hb)
    assert ha["max_connections"] == 6 and hb["max_connections"] == 6


# ---------------------------------------------------------------------------
# 3. a replica killed with SIGKILL is reaped after its lease
# ---------------------------------------------------------------------------


def test_sigkilled_bridge_is_reaped_after_its_lease_and_the_survivor_admits_up_to_the_cap(
        bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--lease-ms", "1000", "--max-connections", "8")
    b = start(bridge, "pool-b", "--lease-ms", "1000", "--max-connections", "8")
    victims = [pool_clients.admit(a.port) for _ in range(5)]
    for _ in range(2):
        pool_clients.admit(b.port)
    assert total(r) == 7

    a.kill()  # SIGKILL: no release, no lease end
    assert a.returncode == -signal.SIGKILL
    for v in victims:
        v.close()
    t0 = time.monotonic()
    wait_redis(r, lambda: total(r) == 2, 5.0, "total == 2 (pool-a's 5 reaped)")
    reaped_after = time.monotonic() - t0
    assert ips(r) == {LOCAL: 2}
    assert r.zscore(P + "bridges", "pool-a") is None, "pool-a's lease is still in the ZSET"
    assert not r.exists(P + "held:pool-a"), "pool-a's held: hash survived its reaping"
    assert held(r, "pool-b") == {"_total": 2, LOCAL: 2}
    wait_until(lambda: health(b)["connection_pool"]["total_connections"] == 2, 3,
               what="pool-b's /sse/health to show total_connections 2 (after %.2f s)" % reaped_after)

    fresh = [pool_clients.open(b.port) for _ in range(6)]
    assert all(f.admitted for f in fresh), fresh
    assert total(r) == 8
    assert_refused(pool_clients.open(b.port), TOTAL_JSON, (b,))
    assert total(r) == 8


# ---------------------------------------------------------------------------
# 4. FLUSHALL: replicas re-assert their live counts
# ---------------------------------------------------------------------------


def test_after_flushall_bridges_reassert_their_counts_and_the_per_ip_cap_still_holds(bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--lease-ms", "1500", "--max-connections-per-ip", "8")
    b = start(bridge, "pool-b", "--lease-ms", "1500", "--max-connections-per-ip", "8")
    for _ in range(3):
        pool_clients.admit(a.port)
    for _ in range(4):
        pool_clients.admit(b.port)
    assert total(r) == 7 and ips(r) == {LOCAL: 7}

    r.flushall()
    assert total(r) == 0
    # Renewal every 500 ms: both re-assert within ~0.5 s (+ margin).
    wait_redis(r, lambda: total(r) == 7 and ips(r) == {LOCAL: 7}, 3.0, "total 7 and ips {127.0.0.1: 7} re-asserted")
    assert held(r, "pool-a") == {"_total": 3, LOCAL: 3} and held(r, "pool-b") == {"_total": 4, LOCAL: 4}
    assert set(r.zrange(P + "bridges", 0, -1)) == {"pool-a", "pool-b"}

    assert pool_clients.open(a.port).admitted
    assert_refused(pool_clients.open(b.port), IP_JSON, (a, b))
    assert_refused(pool_clients.open(a.port), IP_JSON, (a, b))
    assert total(r) == 8 and ips(r) == {LOCAL: 8}


def test_flushall_then_an_admission_reasserts_at_once_before_any_renewal(bridge, r, pool_clients):
    # A long lease: no renewal runs during the test, so only the admission's
    # "unregistered" path can put the counts back.
    a = start(bridge, "pool-a", "--lease-ms", "60000", "--max-connections-per-ip", "4")
    for _ in range(3):
        pool_clients.admit(a.port)
    assert total(r) == 3
    r.flushall()
    assert pool_clients.open(a.port).admitted
    assert total(r) == 4 and ips(r) == {LOCAL: 4} and held(r, "pool-a") == {"_total": 4, LOCAL: 4}
    assert_refused(pool_clients.open(a.port), IP_JSON, (a,))


# ---------------------------------------------------------------------------
# 5. X-Forwarded-For and --trusted-proxies
# ---------------------------------------------------------------------------


def test_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored(bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--max-connections-per-ip", "2")
    pool_clients.admit(a.port, xff="203.0.113.7")
    pool_clients.admit(a.port, xff="203.0.113.8")
    assert ips(r) == {LOCAL: 2}, "an untrusted peer's X-Forwarded-For was believed"
    assert_refused(pool_clients.open(a.port, xff="203.0.113.9"), IP_JSON, (a,))
    assert ips(r) == {LOCAL: 2} and total(r) == 2


def test_x_forwarded_for_from_a_trusted_proxy_counts_the_forwarded_address(bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--trusted-proxies", "127.0.0.2", "--max-connections-per-ip", "2")
    proxy = "127.0.0.2"
    pool_clients.admit(a.port, src=proxy, xff="198.51.100.1")
    pool_clients.admit(a.port, src=proxy, xff="198.51.100.2")
    assert ips(r) == {"198.51.100.1": 1, "198.51.100.2": 1}, "the proxy's forwarded addresses were not used"

    pool_clients.admit(a.port, src=proxy, xff="198.51.100.1")
    assert_refused(pool_clients.open(a.port, src=proxy, xff="198.51.100.1"), IP_JSON, (a,))
    assert ips(r) == {"198.51.100.1": 2, "198.51.100.2": 1}

    # The rightmost hop that is not itself a trusted proxy is the client.
    pool_clients.admit(a.port, src=proxy, xff="10.9.9.9, 198.51.100.2, 127.0.0.2")
    assert ips(r) == {"198.51.100.1": 2, "198.51.100.2": 2}

    # An untrusted peer's header changes nothing: counted as 127.0.0.3.
    pool_clients.admit(a.port, src="127.0.0.3", xff="198.51.100.1")
    assert ips(r) == {"198.51.100.1": 2, "198.51.100.2": 2, "127.0.0.3": 1}
    assert total(r) == 5


# ---------------------------------------------------------------------------
# 6. no race: 200 concurrent attempts
# ---------------------------------------------------------------------------


def test_200_concurrent_attempts_from_one_ip_over_two_bridges_admit_exactly_the_per_ip_cap(
        bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--max-connections-per-ip", "10")
    b = start(bridge, "pool-b", "--max-connections-per-ip", "10")
    n = 200
    results = [None] * n
    barrier = threading.Barrier(n, timeout=20)

    def worker(i):
        try:
            barrier.wait()
            results[i] = pool_clients.track(Attempt((a, b)[i % 2].port, timeout=15, name="attempt-%d" % i))
        except Exception as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "attempts still running after 30 s"
    errors = [x for x in results if not isinstance(x, Attempt)]
    assert not errors, "%d attempts failed: %r" % (len(errors), errors[:5])
    ok = [x for x in results if x.admitted]
    refused = [x for x in results if x.status == 429]
    others = [x for x in results if not x.admitted and x.status != 429]
    assert not others, others[:5]
    assert (len(ok), len(refused)) == (10, 190), "admitted %d, refused %d" % (len(ok), len(refused))
    for x in refused:
        assert json.loads(x.body) == IP_JSON, x
    assert ips(r) == {LOCAL: 10} and total(r) == 10
    on = {bid: sum(1 for x in ok if x.first.json()["bridge"] == bid) for bid in ("pool-a", "pool-b")}
    assert held(r, "pool-a").get("_total", 0) == on["pool-a"] and held(r, "pool-b").get("_total", 0) == on["pool-b"]
    ra, rb = health(a)["connection_pool"]["rejected"], health(b)["connection_pool"]["rejected"]
    assert ra["ip_limit"] + rb["ip_limit"] == 190, (ra, rb)


# ---------------------------------------------------------------------------
# 7. /sse/health and the Redis keys
# ---------------------------------------------------------------------------


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v):
    return _num(v) and float(v) == int(v) and v >= 0


def test_sse_health_on_two_bridges_agrees_on_cluster_totals_and_every_key_has_its_type(
        bridge, r, pool_clients):
    args = ("--lease-ms", "1500", "--max-connections", "50", "--max-connections-per-ip", "20")
    a = start(bridge, "pool-a", *args)
    b = start(bridge, "pool-b", *args)
    for _ in range(2):
        pool_clients.admit(a.port)
    for _ in range(3):
        pool_clients.admit(b.port, src="127.0.0.2")
    real = total(r)
    assert real == 5

    def agreed():
        hs = [health(a), health(b)]
        ok = all(h["cluster"]["bridges"] == 2 and h["connection_pool"]["total_connections"] == real
                 and h["cluster"]["total_connections"] == real for h in hs)
        return hs if ok else None

    deadline = time.monotonic() + 5
    hs = agreed()
    while hs is None and time.monotonic() < deadline:
        time.sleep(0.05)
        hs = agreed()
    assert hs is not None, "health never agreed on 2 bridges / %d connections: %r / %r" % (real, health(a), health(b))

    for h, bid, local in ((hs[0], "pool-a", 2), (hs[1], "pool-b", 3)):
        assert isinstance(h["status"], str) and h["status"] == "ok", h
        assert h["bridge"]["id"] == bid and h["bridge"]["connections"] == local, h
        assert _whole(h["cluster"]["bridges"]) and _whole(h["cluster"]["total_connections"]), h
        cp = h["connection_pool"]
        for k in ("total_connections", "local_connections", "max_connections", "max_connections_per_ip"):
            assert _whole(cp[k]), (k, cp)
        assert cp["local_connections"] == local, cp
        assert cp["max_connections"] == 50 and cp["max_connections_per_ip"] == 20, cp
        assert _whole(cp["rejected"]["total_limit"]) and _whole(cp["rejected"]["ip_limit"]), cp
        cur = h["health"]["current_metrics"]
        assert _whole(cur["healthy_connections"]) and _num(cur["error_rate"]), cur
        assert 0 <= cur["error_rate"] <= 1, cur
        assert _whole(h["system_metrics"]["compression_savings_bytes"]), h
        assert _num(h["average_latency"]), h
    assert hs[0]["cluster"]["total_connections"] == hs[1]["cluster"]["total_connections"]
    assert hs[0]["cluster"]["bridges"] == hs[1]["cluster"]["bridges"]

    assert r.type(P + "total") == "string"
    assert r.type(P + "ips") == "hash"
    assert r.type(P + "bridges") == "zset"
    for bid in ("pool-a", "pool-b"):
        assert r.type(P + "held:" + bid) == "hash", bid
        assert r.type(P + "stats:" + bid) == "hash", bid
    assert ips(r) == {LOCAL: 2, "127.0.0.2": 3}
    assert set(r.zrange(P + "bridges", 0, -1)) == {"pool-a", "pool-b"}
    now = redis_now_ms(r)
    for bid, score in r.zrange(P + "bridges", 0, -1, withscores=True):
        assert now < score <= now + 1500 + 50, (bid, score, now)


# ---------------------------------------------------------------------------
# 8. --limit-response retry
# ---------------------------------------------------------------------------

LIMIT_RE = re.compile(rb"\Aevent: limit\nretry: (\d+)\ndata: ([^\n]*)\n\n\Z")


def _assert_limit_stream(att, version, body_json):
    assert att.status == 200, att
    ctype = att.resp.header("Content-Type")
    assert ctype is not None and ctype.split(";")[0].strip() == "text/event-stream", att
    assert att.first is not None and att.first.type == "limit", att
    assert att.client.wait_closed(5), "%s: the bridge kept the limit stream open" % att.name
    body = att.client.body
    head = (": sse-bridge %s\n\n" % version).encode()
    assert body.startswith(head), body
    m = LIMIT_RE.match(body[len(head):])
    assert m, "limit body not as specified: %r" % body
    retry = int(m.group(1))
    assert 1500 <= retry <= 4500, "retry %d outside [1500, 4500] for retry_ms 3000" % retry
    # The data repeats the retry, for clients that cannot read the field.
    body_json = dict(body_json, retry=retry)
    assert json.loads(m.group(2)) == body_json, body
    assert m.group(2) == json.dumps(body_json, separators=(",", ":")).encode(), body


def test_limit_response_retry_answers_200_with_a_limit_event_and_closes(bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--limit-response", "retry", "--max-connections", "2",
              "--max-connections-per-ip", "1")
    version = a.healthz()["version"]
    assert version == "0.1.0"
    pool_clients.admit(a.port)
    _assert_limit_stream(pool_clients.open(a.port), version, IP_JSON)
    pool_clients.admit(a.port, src="127.0.0.2")
    _assert_limit_stream(pool_clients.open(a.port, src="127.0.0.3"), version, TOTAL_JSON)
    assert total(r) == 2 and ips(r) == {LOCAL: 1, "127.0.0.2": 1}
    rej = health(a)["connection_pool"]["rejected"]
    assert rej == {"total_limit": 1, "ip_limit": 1}, rej


# ---------------------------------------------------------------------------
# 9. shutdown releases
# ---------------------------------------------------------------------------


def test_sigterm_releases_the_bridges_slots_and_ends_its_lease(bridge, r, pool_clients):
    a = start(bridge, "pool-a", "--drain-timeout", "3")
    b = start(bridge, "pool-b")  # default lease: its renewals (every 5 s) reap nothing in time
    streams = [pool_clients.admit(a.port) for _ in range(3)]
    pool_clients.admit(b.port)
    assert total(r) == 4
    a.signal(signal.SIGTERM)
    for s in streams:
        assert s.client.wait_closed(5), "%s: not closed on SIGTERM" % s.name
    rc = a.wait_exit(6)
    assert rc == 0, "pool-a: exit code %r after SIGTERM; stderr:\n%s" % (rc, a.stderr()[-3000:])
    deadline = time.monotonic() + 2
    while total(r) != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert total(r) == 1, ("after pool-a exited, {sse}:total is %d (expected 1: pool-b's stream only); "
                           "ips=%r held:pool-a=%r; pool-a stderr:\n%s"
                           % (total(r), ips(r), held(r, "pool-a"), a.stderr()[-3000:]))
    assert ips(r) == {LOCAL: 1}
    score, now = r.zscore(P + "bridges", "pool-a"), redis_now_ms(r)
    assert score is None or score <= now, (
        "pool-a exited on SIGTERM but its lease in %sbridges still runs %d ms past Redis's now (%d); "
        "pool-a stderr tail:\n%s" % (P, score - now, now, a.stderr()[-2000:]))


# ---------------------------------------------------------------------------
# 10. Redis down: the local share
# ---------------------------------------------------------------------------


def test_without_redis_a_lone_bridge_admits_the_full_per_ip_cap_and_refuses_beyond(
        bridge, redis_server, pool_clients):
    a = start(bridge, "pool-a", "--max-connections-per-ip", "3", "--lease-ms", "1500")
    wait_until(lambda: health(a)["cluster"]["bridges"] == 1, 3, what="a renewal seeing 1 bridge")
    redis_server.kill()
    wait_until(lambda: health(a)["bridge"]["pool"] == "degraded", 5, what="pool-a's pool link down")
    for _ in range(3):
        pool_clients.admit(a.port)
    assert_refused(pool_clients.open(a.port), IP_JSON, (a,))
    h = health(a)
    assert h["status"] == "degraded", h
    assert h["connection_pool"]["admitted_while_degraded"] == 3, h
    assert h["connection_pool"]["rejected"]["ip_limit"] == 1, h


def test_bridge_started_with_redis_down_admits_the_full_per_ip_cap(bridge, redis_server, pool_clients):
    redis_server.kill()
    a = bridge("--max-connections-per-ip", "2", bridge_id="pool-a", wait_redis=False)
    for _ in range(2):
        pool_clients.admit(a.port)
    assert_refused(pool_clients.open(a.port), IP_JSON, (a,))


def test_without_redis_two_bridges_seen_each_admit_half_the_caps(bridge, redis_server, pool_clients):
    args = ("--max-connections-per-ip", "4", "--lease-ms", "1500")
    a = start(bridge, "pool-a", *args)
    b = start(bridge, "pool-b", *args)
    wait_until(lambda: health(a)["cluster"]["bridges"] == 2 and health(b)["cluster"]["bridges"] == 2, 3,
               what="both bridges' renewals seeing 2 bridges")
    redis_server.kill()
    wait_until(lambda: health(a)["bridge"]["pool"] == "degraded" and health(b)["bridge"]["pool"] == "degraded", 5,
               what="both pool links down")
    for br in (a, b):
        for _ in range(2):
            pool_clients.admit(br.port)
        assert_refused(pool_clients.open(br.port), IP_JSON, (br,))
