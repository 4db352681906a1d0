"""The README's run command: scripts/run.sh builds, starts redis-server and
one bridge, prints the URLs, delivers, and stops everything on Ctrl-C."""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import redis as redis_py

from helpers import free_port, wait_until
from sse_client import SSEClient

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_run_script_serves_a_stream_and_ctrl_c_stops_bridge_and_redis(tmp_path):
    port, redis_port = free_port(), free_port()
    log = open(tmp_path / "run.log", "wb")
    proc = subprocess.Popen(
        ["bash", str(REPO_ROOT / "scripts" / "run.sh"), "--port", str(port), "--redis-port", str(redis_port)],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: b"sse-bridge is up" in (tmp_path / "run.log").read_bytes(), 240,
                   interval=0.2, what="run.sh to print its URLs")
        text = (tmp_path / "run.log").read_text()
        assert "http://127.0.0.1:%d/events" % port in text
        assert "http://127.0.0.1:%d/healthz" % port in text

        wait_until(lambda: b'"redis":"up"' in urllib.request.urlopen(
            "http://127.0.0.1:%d/healthz" % port, timeout=2).read(), 10, what="redis up")
        client = SSEClient(port, "/events?channels=summary_progress")
        try:
            assert client.next_event(timeout=5).type == "connected"
            r = redis_py.Redis(port=redis_port)
            wait_until(lambda: dict(r.pubsub_numsub("summary_progress"))[b"summary_progress"] >= 1, 5,
                       what="the bridge to subscribe")
            r.publish("summary_progress", "from run.sh")
            ev = client.next_event(timeout=5)
            assert (ev.type, ev.data) == ("summary_progress", "from run.sh")
        finally:
            client.close()

        assert _pids_of("redis-server.*:%d" % redis_port), "run.sh started no redis-server"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=20) is not None
        wait_until(lambda: not _pids_of("sse-bridge --listen 127.0.0.1:%d" % port)
                   and not _pids_of("redis-server.*:%d" % redis_port), 10, what="no process left behind")
        assert "run.sh: stopped" in (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        for pid in _pids_of("sse-bridge --listen 127.0.0.1:%d" % port) + _pids_of("redis-server.*:%d" % redis_port):
            os.kill(pid, signal.SIGKILL)
        log.close()
