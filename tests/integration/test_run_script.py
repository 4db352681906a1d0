"""The README's run command: scripts/run.sh starts the whole stack (redis-server,
the bridges, the Flask demo, haproxy) on loopback, every URL it prints
answers through haproxy within a bounded time, a stream through haproxy
delivers, and Ctrl-C (SIGINT) or SIGTERM stops everything it started."""

import json
import signal
import subprocess

import redis as redis_py

from helpers import wait_until
from sse_client import SSEClient
from stack import RUN_SH, Stack

UP_WITHIN = 30  # seconds from start to every URL answering (no build, no deps)


def _pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _leftovers(s):
    """Processes of this stack still running, found by their ports (not only by the pids file)."""
    pats = ["redis-server.*:%d" % s.redis_port, "haproxy -db -f %s" % s.run_dir]
    pats += ["sse-bridge --listen 127.0.0.1:%d" % p for p in s.bridge_ports]
    left = []
    for p in pats:
        left += _pids_of(p)
    return left + s.alive()


def test_run_script_brings_up_every_url_through_haproxy_and_ctrl_c_stops_everything(bridge_bin, tmp_path):
    s = Stack(tmp_path, bridge_bin, bridges=3, up_timeout=UP_WITHIN)
    try:
        assert s.up_after < UP_WITHIN
        text = s.log().decode()
        for path in ("/", "/sse/dashboard", "/metrics"):
            assert "%s%s\n" % (s.url, path) in text, text
        assert sorted(s.pids()) == ["bridge1", "bridge2", "bridge3", "demo", "haproxy", "redis"], s.pids()
        assert [s.pids()["bridge%d" % i][1] for i in (1, 2, 3)] == s.bridge_ports

        # Every URL answers through haproxy: the demo from Flask, the rest from the bridges.
        st, h, body = s.get("/")
        assert st == 200 and b"Video summarizer" in body and b'src="/sse-client.js"' in body
        st, h, body = s.get("/sse/dashboard")
        assert st == 200 and h["content-type"].startswith("text/html"), h
        st, h, body = s.get("/metrics")
        assert st == 200 and b"sse_bridge_info{" in body
        for path in ("/healthz", "/readyz", "/sse/health", "/sse/metrics", "/app/healthz"):
            st, h, body = s.get(path)
            assert st == 200 and json.loads(body), (path, st, body[:200])
        st, h, body = s.get("/sse-client.js")
        assert st == 200 and b"EnhancedSSEClient" in body
        st, h, body = s.get("/lb/stats")
        assert st == 200 and b"bridge3" in body

        # haproxy spreads the requests over the replicas.
        seen = set()
        for _ in range(12):
            seen.add(json.loads(s.get("/sse/health")[2])["bridge"]["id"])
        assert len(seen) >= 2, seen

        # A stream through haproxy delivers what is published, and the
        # bridges count the browser's address, not one it claims.
        r = redis_py.Redis(port=s.redis_port, socket_timeout=5)
        client = SSEClient(s.port, "/events?channels=summary_progress",
                           headers=[("X-Forwarded-For", "203.0.113.9")])
        try:
            assert client.next_event(timeout=5).type == "connected"
            wait_until(lambda: dict(r.pubsub_numsub("summary_progress"))[b"summary_progress"] >= 1, 5,
                       what="a bridge to subscribe")
            r.publish("summary_progress", "through haproxy")
            ev = client.next_event(timeout=5)
            assert (ev.type, ev.data) == ("summary_progress", "through haproxy")
            ips = {k.decode(): int(v) for k, v in r.hgetall("{sse}:ips").items()}
            assert ips == {"127.0.0.1": 1}, ips
        finally:
            client.close()
            r.close()

        assert s.stop(signal.SIGINT, timeout=25) is not None  # what Ctrl-C in a terminal does
        wait_until(lambda: not _leftovers(s), 5, what="no process left behind")
        assert "run.sh: stopped" in s.log().decode()
        assert not s.sanitizer_reports()
    finally:
        s.kill()


def test_run_script_stops_everything_on_sigterm_to_the_script_alone(bridge_bin, tmp_path):
    s = Stack(tmp_path, bridge_bin, bridges=2, up_timeout=UP_WITHIN)
    try:
        # `kill <pid of run.sh>`: only the script gets the signal; it stops the rest by pid.
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(25)
        wait_until(lambda: not _leftovers(s), 5, what="no process left behind")
        assert "run.sh: stopped" in s.log().decode()
    finally:
        s.kill()


def test_run_script_refuses_bad_options_before_starting_anything():
    for args, msg in ((["--bridges", "0"], "--bridges"), (["--port", "http"], "--port"),
                      (["--frobnicate"], "unknown argument"), (["--demo-port"], "needs a value")):
        p = subprocess.run(["bash", str(RUN_SH), "--no-deps", "--no-build"] + args,
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and msg in p.stderr, (args, p.returncode, p.stderr)
    p = subprocess.run(["bash", str(RUN_SH), "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "--bridges N" in p.stdout and "--bridge-ports" in p.stdout
