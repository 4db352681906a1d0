"""The subscriber's health probe: a hung Redis (SIGSTOP keeps its sockets
open and silent) is detected within --redis-probe-timeout, not only a
closed socket; SIGCONT brings delivery back."""

import os
import signal
import time

from helpers import wait_until


def test_a_frozen_redis_is_marked_degraded_within_the_probe_bound_and_recovers_on_sigcont(
        bridge, clients, redis_server):
    b = bridge("--redis-probe-timeout", "600")
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    redis_server.wait_subscribed(["alpha"])
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        ev = c.next_event(timeout=10)
        waited = time.monotonic() - t0
        assert ev.type == "system" and ev.json()["status"] == "degraded", ev
        # 600 ms timeout, probes every 200 ms: well within 4 s even on a busy machine
        assert waited < 4.0, "degraded only after %.1f s" % waited
        assert b.healthz()["redis"] == "down"
        assert b.healthz()["counters"]["redis_probe_timeouts"] >= 1
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    ev = c.next_event(timeout=15)
    assert ev.type == "system" and ev.json()["status"] == "recovered", ev
    redis_server.wait_subscribed(["alpha"])
    redis_server.publish("alpha", "after the thaw")
    ev = c.next_event(timeout=10)
    assert (ev.type, ev.data) == ("alpha", "after the thaw")


def test_a_healthy_redis_never_trips_the_probe(bridge, clients, redis_server):
    b = bridge("--redis-probe-timeout", "300")
    c = clients.sse(b.port, "/events?channels=alpha")
    c.connected()
    redis_server.wait_subscribed(["alpha"])
    time.sleep(1.5)  # about 15 probes
    assert b.healthz()["counters"]["redis_probe_timeouts"] == 0
    assert b.healthz()["counters"]["redis_reconnects"] == 0
    c.quiet_for(0.1)
    assert [e.type for e in c.events] == ["connected"]


def test_probe_timeout_flag_is_validated(bridge_bin):
    import subprocess
    r = subprocess.run([bridge_bin, "--redis-probe-timeout", "50"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert "invalid value '50' for --redis-probe-timeout: expected an integer from 100 to 600000" in r.stderr
