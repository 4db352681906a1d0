"""Redis Sentinel: --redis-url redis-sentinel://... finds the master through
the sentinels (skipping one that is down), follows SENTINEL FAILOVER to the
promoted replica while clients keep their streams, and delivers what is
published after (and, with history, during) the failover. Real processes:
two redis-server (master + replica), three redis-sentinel, the bridge, a
redis-py publisher that itself follows the master through Sentinel."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_py
from redis.sentinel import Sentinel

from helpers import free_port, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from sse_publish import publish  # noqa: E402

REDIS_SENTINEL = shutil.which("redis-sentinel", path="/usr/bin:/usr/local/bin") or "/usr/bin/redis-sentinel"
MASTER = "mymaster"


def _ping(port):
    try:
        c = redis_py.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
        ok = c.ping()
        c.close()
        return ok
    except redis_py.exceptions.RedisError:
        return False


class SentinelCluster:
    """A master, its replica and three sentinels watching them, on loopback."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []
        self.logs = []
        self.ports = {}
        self.sentinel_ports = []

    def _spawn(self, name, argv):
        log = open(os.path.join(self.workdir, name + ".log"), "wb")
        self.logs.append(log)
        p = subprocess.Popen(argv, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start(self):
        a, b = free_port(), free_port()
        self.ports = {"master": a, "replica": b}
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.workdir]
        self._spawn("master", ["/usr/bin/redis-server", "--port", str(a)] + common)
        self._spawn("replica", ["/usr/bin/redis-server", "--port", str(b), "--replicaof", "127.0.0.1", str(a)]
                    + common)
        wait_until(lambda: _ping(a) and _ping(b), 10, what="master and replica answering PING")
        rep = redis_py.Redis(host="127.0.0.1", port=b, socket_timeout=2)
        wait_until(lambda: rep.info("replication").get("master_link_status") == "up", 15,
                   what="the replica in sync with the master")
        rep.close()
        for i in range(3):
            sp = free_port()
            conf = os.path.join(self.workdir, "sentinel-%d.conf" % i)
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                        "sentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s 1000\n"
                        "sentinel failover-timeout %s 10000\n"
                        "sentinel parallel-syncs %s 1\n"
                        % (sp, self.workdir, MASTER, a, MASTER, MASTER, MASTER))
            self._spawn("sentinel-%d" % i, [REDIS_SENTINEL, conf])
            self.sentinel_ports.append(sp)
        for sp in self.sentinel_ports:
            wait_until(lambda: _ping(sp), 10, what="sentinel on %d answering PING" % sp)
        # A forced failover needs a replica the sentinels know and trust.
        s0 = self.sentinel(0)
        def replica_known():
            reps = s0.sentinel_slaves(MASTER)
            return any(r.get("port") == b and r.get("master-link-status") == "ok"
                       and "s_down" not in r.get("flags", "") for r in reps)
        wait_until(replica_known, 20, interval=0.2, what="sentinel 0 knowing the replica")
        return self

    def sentinel(self, i):
        return redis_py.Redis(host="127.0.0.1", port=self.sentinel_ports[i], socket_timeout=2,
                              decode_responses=True)

    def master_port(self):
        host, port = self.sentinel(0).sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
        for log in self.logs:
            log.close()

    def log(self, name):
        with open(os.path.join(self.workdir, name + ".log"), "rb") as f:
            return f.read().decode("utf-8", "replace")


@pytest.fixture
def sentinels(tmp_path):
    d = str(tmp_path / "sentinel")
    os.mkdir(d)
    sc = SentinelCluster(d)
    try:
        sc.start()
        yield sc
    finally:
        sc.stop()


def sentinel_url(sc, dead_first=False):
    hosts = ["127.0.0.1:%d" % p for p in sc.sentinel_ports]
    if dead_first:
        hosts.insert(0, "127.0.0.1:%d" % free_port())  # nobody listens there
    return "redis-sentinel://%s/%s" % (",".join(hosts), MASTER)


def test_bridge_finds_the_master_through_sentinel_skipping_a_dead_sentinel(bridge, clients, sentinels):
    b = bridge(redis_url=sentinel_url(sentinels, dead_first=True))
    master = sentinels.ports["master"]
    assert "master '%s' is at 127.0.0.1:%d" % (MASTER, master) in b.stderr()
    assert "redis: subscribed at 127.0.0.1:%d" % master in b.stderr()
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    m = redis_py.Redis(host="127.0.0.1", port=master)
    wait_until(lambda: m.pubsub_numsub("alpha")[0][1] >= 1, 10, what="the bridge subscribed on the master")
    m.publish("alpha", "via sentinel")
    ev = c.next_event(timeout=10)
    assert (ev.type, ev.data) == ("alpha", "via sentinel")
    # The pool's scripts ran on the master too: the lease is there.
    assert m.zcard("{sse}:bridges") == 1


def test_sentinel_failover_moves_the_bridge_to_the_new_master_and_streams_go_on(bridge, clients, sentinels):
    b = bridge(redis_url=sentinel_url(sentinels))
    old, new = sentinels.ports["master"], sentinels.ports["replica"]
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    # The publisher follows the master through Sentinel, as a Flask app would.
    snt = Sentinel([("127.0.0.1", p) for p in sentinels.sentinel_ports], socket_timeout=2)
    pub = snt.master_for(MASTER, socket_timeout=2)
    m = redis_py.Redis(host="127.0.0.1", port=old)
    wait_until(lambda: m.pubsub_numsub("alpha")[0][1] >= 1, 10, what="the bridge subscribed on the master")
    before = [publish(pub, "alpha", {"n": i}) for i in range(3)]
    got = [c.next_event(timeout=10, skip_types=("system",)) for _ in range(3)]
    assert [e.id for e in got] == before

    assert sentinels.sentinel(0).execute_command("SENTINEL", "FAILOVER", MASTER) in (True, "OK", b"OK")
    wait_until(lambda: sentinels.master_port() == new, 30, interval=0.1, what="sentinel promoting the replica")
    wait_until(lambda: "master '%s' is at 127.0.0.1:%d (moved)" % (MASTER, new) in b.stderr(), 20,
               interval=0.1, what="the bridge hearing of the new master")
    n = redis_py.Redis(host="127.0.0.1", port=new)
    wait_until(lambda: n.pubsub_numsub("alpha")[0][1] >= 1, 20, interval=0.1,
               what="the bridge subscribed on the new master")
    wait_until(lambda: b.healthz()["redis"] == "up", 20, interval=0.1, what="the bridge ready again")

    # Published after the failover, on the new master: delivered on the
    # same stream (the client never reconnected). The publisher drops its
    # pooled connections first: the demoted master goes on taking writes
    # for seconds (Sentinel reconfigures it later), and they would be lost.
    pub.connection_pool.disconnect()
    assert pub.connection_pool.get_master_address()[1] == new
    after = []
    for i in range(3, 8):
        after.append(publish(pub, "alpha", {"n": i}))
    seen = []
    deadline = time.monotonic() + 20
    try:
        while len([e for e in seen if e.type == "alpha"]) < 5 and time.monotonic() < deadline:
            seen.append(c.next_event(timeout=max(0.1, deadline - time.monotonic())))
    except TimeoutError as e:
        raise AssertionError("%s\n--- bridge log ---\n%s" % (e, b.stderr()[-4000:]))
    alpha = [e for e in seen if e.type == "alpha"]
    assert [e.json()["n"] for e in alpha] == [3, 4, 5, 6, 7]
    assert [e.id for e in alpha] == after
    assert [e.type for e in c.events].count("connected") == 1
    # Both links moved: the pool's lease lives on the new master.
    wait_until(lambda: n.zcard("{sse}:bridges") == 1, 10, what="the lease on the new master")
    log = b.stderr()
    assert re.search(r"cluster: pool connected at 127\.0\.0\.1:%d" % new, log), log[-3000:]


def test_an_unknown_master_name_keeps_the_bridge_unready_and_says_why(bridge, sentinels):
    url = "redis-sentinel://127.0.0.1:%d/nosuchmaster" % sentinels.sentinel_ports[0]
    b = bridge(redis_url=url, wait_redis=False)
    wait_until(lambda: "no address for master 'nosuchmaster' (unknown master)" in b.stderr(), 10,
               what="the bridge logging the unknown master")
    from sse_client import get
    r = get(b.port, "/readyz")
    assert r.status == 503
