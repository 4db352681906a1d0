"""Fixtures of the integration suite: a real redis-server per test, the real
sse-bridge binary started by a factory, real publishers and real clients.

The binary comes from $SSE_BRIDGE_BIN, else <repo>/build/bridge/sse-bridge.
Every bridge started here is stopped at teardown (SIGTERM, then SIGKILL by
pid) and its stderr must show no sanitizer report.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis as redis_py

from helpers import BRIDGE_ID, TEST_CHANNELS, bridge_env, free_port, sanitizer_report, wait_until
from sse_client import CurlSSEClient, SSEClient, get_json

REPO_ROOT = Path(__file__).resolve().parents[2]
BRIDGE_BIN = os.environ.get("SSE_BRIDGE_BIN") or str(REPO_ROOT / "build" / "bridge" / "sse-bridge")
REDIS_SERVER = shutil.which("redis-server", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", "")) or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", "")) or "/usr/bin/redis-cli"

TEST_TIME_LIMIT = 90  # seconds; a hard stop for any single test (SIGALRM)


# ---------------------------------------------------------------------------
# A hard per-test time limit (pytest-timeout is not installed): every wait in
# the suite is bounded anyway; this is the last line of defence against a hang.
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _hard_time_limit():
    def on_alarm(signum, frame):
        raise TimeoutError("test exceeded the suite's hard limit of %d s" % TEST_TIME_LIMIT)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


class RedisServer:
    """A real redis-server on 127.0.0.1, in its own temp dir."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port = None
        self.proc = None
        self._log = None
        self._clients = []
        self.extra = []  # more redis-server arguments, kept across restarts

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, port=None, timeout=10.0):
        """Starts redis-server (on `port`, or the port it had, or a free one)
        and waits until it answers PING."""
        assert self.proc is None or self.proc.poll() is not None, "redis-server already running"
        attempts = 1 if (port or self.port) else 5
        for attempt in range(attempts):
            p = port or self.port or free_port()
            self._log = open(os.path.join(self.workdir, "redis-%d.log" % p), "ab")
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self.workdir] + list(self.extra),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            self.port = p
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    c = redis_py.Redis(host="127.0.0.1", port=p, socket_timeout=1, socket_connect_timeout=1)
                    if c.ping():
                        c.close()
                        return self
                except redis_py.exceptions.RedisError:
                    pass
                time.sleep(0.02)
            self._kill()
            if not (port or attempt + 1 < attempts):
                break
            self.port = None
        raise RuntimeError("redis-server did not start on 127.0.0.1:%s; log: %s" % (p, self.log_text()[-2000:]))

    def log_text(self):
        try:
            with open(os.path.join(self.workdir, "redis-%d.log" % self.port), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self):
        """SIGKILL by pid (a crash, as far as clients can tell); keeps the port."""
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass
        self._clients = []
        self._kill()

    def client(self):
        c = redis_py.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=5)
        self._clients.append(c)
        return c

    def publish(self, channel, payload):
        """PUBLISH with redis-py; returns the number of receivers."""
        if not self._clients:
            self.client()
        return self._clients[0].publish(channel, payload)

    def cli_publish(self, channel, payload):
        """PUBLISH with redis-cli (payload as one argv element); returns receivers."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        r = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "PUBLISH",
             channel.encode() if isinstance(channel, str) else channel, payload],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
        )
        assert r.returncode == 0, "redis-cli failed: %r %r" % (r.stdout, r.stderr)
        out = r.stdout.strip()
        m = re.match(rb"^(?:\(integer\) )?(\d+)$", out)
        assert m, "unexpected redis-cli output %r" % out
        return int(m.group(1))

    def subscribed(self, channels):
        """True when every channel has a subscriber, or any pattern subscription exists."""
        c = self.client() if not self._clients else self._clients[0]
        numsub = dict((k.decode() if isinstance(k, bytes) else k, v) for k, v in c.pubsub_numsub(*channels))
        if all(numsub.get(ch, 0) >= 1 for ch in channels):
            return True
        return c.pubsub_numpat() >= 1  # a pattern subscription (e.g. for a family) may cover them

    def wait_subscribed(self, channels, timeout=10.0):
        """Waits until the bridge's subscriptions cover channels."""
        wait_until(lambda: self.subscribed(list(channels)), timeout, what="a Redis subscriber on %s" % (channels,))

    def stop(self):
        self.kill()


@pytest.fixture
def redis_server(tmp_path):
    d = tempfile.mkdtemp(prefix="redis-", dir=str(tmp_path))
    srv = RedisServer(d)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------
# The bridge
# ---------------------------------------------------------------------------


class Bridge:
    """A running sse-bridge process."""

    def __init__(self, proc, port, stderr_path, args, drain_timeout):
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.stderr_path = stderr_path
        self.args = args
        self.drain_timeout = drain_timeout
        self.returncode = None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        """Exit code, or None when still running after timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def terminate(self, timeout=None):
        """SIGTERM; waits (bounded) for the exit, SIGKILL after; returns the exit code."""
        if timeout is None:
            timeout = self.drain_timeout + 5
        self.signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.kill()
            rc = self.returncode
        return rc

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.returncode = self.proc.wait(10)

    def healthz(self):
        return get_json(self.port, "/healthz")

    def counters(self):
        return self.healthz()["counters"]

    def __repr__(self):
        return "Bridge(pid=%d, port=%d)" % (self.pid, self.port)


@pytest.fixture(scope="session")
def bridge_bin():
    if not (os.path.isfile(BRIDGE_BIN) and os.access(BRIDGE_BIN, os.X_OK)):
        pytest.fail("sse-bridge binary not found at %s (build it, or set SSE_BRIDGE_BIN)" % BRIDGE_BIN)
    return BRIDGE_BIN


@pytest.fixture
def bridge(bridge_bin, redis_server, tmp_path):
    """Factory: bridge(*extra_args, env=None, redis_url=None, channels=TEST_CHANNELS,
    bridge_id=BRIDGE_ID, defaults=True, wait_redis=True, wrap=()) starts the binary
    (behind the command prefix wrap, if any), waits
    (10 s) for its 'listening on' line and then (wait_redis) until /healthz
    says redis "up".

    With defaults, the bridge gets --listen 127.0.0.1:<free port>,
    --redis-url <the test's redis>, --bridge-id it-bridge, --channels
    TEST_CHANNELS, --heartbeat-interval 3600 (so no heartbeat lands in a
    byte-exact comparison) and pool limits of 100000, each unless given in
    extra_args.
    """
    started = []
    counter = [0]

    def start(*extra, env=None, redis_url=None, channels=TEST_CHANNELS, bridge_id=BRIDGE_ID, defaults=True, wait=True,
              wait_redis=True, wrap=()):
        extra = [str(a) for a in extra]
        given = set(a.split("=", 1)[0] for a in extra if a.startswith("--"))
        last_err = ""
        for attempt in range(3):
            port = free_port()
            args = []
            if defaults:
                if "--listen" not in given:
                    args += ["--listen", "127.0.0.1:%d" % port]
                if "--redis-url" not in given:
                    args += ["--redis-url", redis_url or redis_server.url]
                if "--bridge-id" not in given and bridge_id is not None:
                    args += ["--bridge-id", bridge_id]
                if "--channels" not in given and channels is not None:
                    args += ["--channels", channels]
                if "--heartbeat-interval" not in given and not (env and "SSE_HEARTBEAT_INTERVAL" in env):
                    args += ["--heartbeat-interval", "3600"]
                # Every client here is 127.0.0.1: tests about other things must
                # not run into the pool's limits (tests of the limits set them).
                if "--max-connections" not in given and not (env and "SSE_MAX_CONNECTIONS" in env):
                    args += ["--max-connections", "100000"]
                if "--max-connections-per-ip" not in given and not (env and "SSE_MAX_CONNECTIONS_PER_IP" in env):
                    args += ["--max-connections-per-ip", "100000"]
            args += extra
            drain = 10
            for i, a in enumerate(args):
                if a == "--drain-timeout" and i + 1 < len(args):
                    drain = int(args[i + 1])
                elif a.startswith("--drain-timeout="):
                    drain = int(a.split("=", 1)[1])
            counter[0] += 1
            stderr_path = str(tmp_path / ("bridge-%d.stderr" % counter[0]))
            errf = open(stderr_path, "wb")
            proc = subprocess.Popen(list(wrap) + [bridge_bin] + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=errf, env=bridge_env(env), cwd=str(tmp_path))
            errf.close()
            b = Bridge(proc, port, stderr_path, args, drain)
            started.append(b)
            if not wait:
                return b
            m = None
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                text = b.stderr()
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
                if m or proc.poll() is not None:
                    break
                time.sleep(0.02)
            if m:
                b.port = int(m.group(1))
                if wait_redis:
                    # Ready means connected to Redis too: a stream opened before
                    # that is (rightly) told "degraded" first.
                    deadline = time.monotonic() + 10
                    while b.healthz()["redis"] != "up":
                        if time.monotonic() >= deadline or proc.poll() is not None:
                            pytest.fail("bridge did not report redis 'up' within 10 s; stderr:\n%s" % b.stderr())
                        time.sleep(0.02)
                return b
            if proc.poll() is None:
                b.kill()
                pytest.fail("bridge printed no 'listening on http://127.0.0.1:PORT' within 10 s; stderr:\n%s" % b.stderr())
            last_err = b.stderr()
            if "in use" not in last_err.lower():
                break  # not a port race: report it
        pytest.fail("bridge exited at start (rc=%s), args %r; stderr:\n%s" % (proc.returncode, args, last_err))

    yield start

    problems = []
    for b in started:
        if b.proc.poll() is None:
            b.signal(signal.SIGTERM)
            rc = b.wait_exit(b.drain_timeout + 5)
            if rc is None:
                b.kill()
                problems.append("%r args=%r did not exit within %d s of SIGTERM at teardown; stderr tail:\n%s"
                                % (b, b.args, b.drain_timeout + 5, b.stderr()[-3000:]))
            elif rc != 0:
                problems.append("%r args=%r exited %d (not 0) on SIGTERM at teardown; stderr tail:\n%s"
                                % (b, b.args, rc, b.stderr()[-3000:]))
        else:
            b.proc.wait()
        report = sanitizer_report(b.stderr())
        if report:
            problems.append("%r args=%r exited %s with sanitizer report:\n%s\n--- stderr tail ---\n%s"
                            % (b, b.args, b.proc.returncode, "\n".join(report), b.stderr()[-6000:]))
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def clients():
    """Factory for real SSE clients (raw socket or curl), all closed at teardown."""
    made = []

    class Factory:
        def sse(self, port, target="/events", **kw):
            c = SSEClient(port, target, **kw)
            made.append(c)
            return c

        def curl(self, port, target="/events", **kw):
            c = CurlSSEClient(port, target, **kw)
            made.append(c)
            return c

    yield Factory()
    for c in made:
        try:
            c.close()
        except Exception:
            pass
