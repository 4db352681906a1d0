"""The whole local stack (scripts/run.sh: redis-server, bridges, the Flask
demo, haproxy) started for a test on free loopback ports, with the given
binary and no dependency install or build. Used by test_run_script.py and by
the end-to-end browser tests (tests/browser/test_demo_e2e.py).

Every process run.sh started is listed in <run dir>/pids ("name pid port");
stop() sends the signal a terminal's Ctrl-C sends, kill() is the teardown
that leaves nothing behind whatever happened (SIGKILL by pid).
"""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import free_port, sanitizer_report

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SH = REPO_ROOT / "scripts" / "run.sh"
UP_LINE = b"sse-bridge stack is up"


class Stack:
    def __init__(self, tmp_path, bridge_bin, bridges=2, auth=False, env=None, bridge_args=(), up_timeout=60.0):
        self.dir = Path(tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._log = None
        # Free ports are picked before run.sh binds them: another process may
        # take one in between. Such a start is retried with new ports.
        for attempt in range(3):
            if self._start(attempt, bridge_bin, bridges, auth, env, bridge_args, up_timeout):
                return
            text = self.log().decode("utf-8", "replace")
            logs = self.logs_tail()
            self.kill()
            if "in use" not in (text + logs).lower() or attempt == 2:
                raise AssertionError("run.sh did not come up within %.0f s (exit %s); its output:\n%s%s"
                                     % (up_timeout, self.proc.returncode, text[-4000:], logs))

    def _start(self, attempt, bridge_bin, bridges, auth, env, bridge_args, up_timeout):
        """Starts run.sh; True once it says the stack is up, False when it exits or times out."""
        self.run_dir = self.dir / ("run%d" % attempt if attempt else "run")
        self.log_path = self.dir / ("run.sh%s.log" % (".%d" % attempt if attempt else ""))
        self.port = free_port()
        self.redis_port = free_port()
        self.demo_port = free_port()
        self.bridge_ports = [free_port() for _ in range(bridges)]
        self.url = "http://127.0.0.1:%d" % self.port
        args = ["bash", str(RUN_SH), "--no-deps", "--no-build", "--port", str(self.port),
                "--redis-port", str(self.redis_port), "--demo-port", str(self.demo_port),
                "--bridge-ports", ",".join(map(str, self.bridge_ports)), "--run-dir", str(self.run_dir)]
        if auth:
            args.append("--auth")
        # A short drain: Chromium keeps idle keep-alive sockets, and a
        # draining bridge waits for those up to --drain-timeout.
        args += ["--", "--drain-timeout", "2"] + list(bridge_args)
        # Only what the test asks for reaches the bridges and the demo.
        e = {k: v for k, v in os.environ.items() if not k.startswith(("SSE_", "DEMO_"))}
        e.update(SSE_BRIDGE_BIN=bridge_bin, DEMO_STEP_MS="250")
        e.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=e, start_new_session=True)
        self.started_at = time.monotonic()
        self.up_after = None
        deadline = time.monotonic() + up_timeout
        while UP_LINE not in self.log():
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        self.up_after = time.monotonic() - self.started_at
        return True

    def log(self):
        try:
            return self.log_path.read_bytes()
        except OSError:
            return b""

    def pids(self):
        """{name: (pid, port)} of what run.sh started."""
        out = {}
        try:
            text = (self.run_dir / "pids").read_text()
        except OSError:
            return out
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0]] = (int(parts[1]), int(parts[2]) if len(parts) > 2 else None)
        return out

    def alive(self):
        """Names of the started processes still running."""
        left = []
        for name, (pid, _) in self.pids().items():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            if not self._is_ours(name, pid):
                continue  # the pid was reused by someone else's process
            # A zombie is gone as far as anyone can tell, but run.sh reaps its children.
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().split(") ", 1)[1].startswith("Z"):
                        continue
            except OSError:
                continue
            left.append(name)
        return left

    def sanitizer_reports(self):
        """Sanitizer report lines in the bridges' logs (ASan/UBSan builds), by log name."""
        out = {}
        for p in sorted(self.run_dir.glob("bridge*.log")) if self.run_dir.is_dir() else []:
            rep = sanitizer_report(p.read_text(errors="replace"))
            if rep:
                out[p.name] = rep
        return out

    def logs_tail(self, n=1500):
        out = ""
        if self.run_dir.is_dir():
            for p in sorted(self.run_dir.glob("*.log")):
                try:
                    out += "\n--- %s ---\n%s" % (p.name, p.read_text(errors="replace")[-n:])
                except OSError:
                    pass
        return out

    def get(self, path, timeout=3.0):
        """(status, headers with lower-case names, body) of GET url+path through haproxy."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def stop(self, sig=signal.SIGINT, timeout=30.0):
        """Sends sig to run.sh's process group (what Ctrl-C does) and waits for its exit code."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        return self.proc.wait(timeout)

    PROGRAMS = {"redis": "redis-server", "demo": "app.py", "haproxy": "haproxy"}

    def _is_ours(self, name, pid):
        """True when pid still runs the program run.sh started as name (not a reused pid)."""
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            return False
        prog = self.PROGRAMS.get(name, "sse-bridge" if name.startswith("bridge") else name)
        return prog in cmd or (name.startswith("bridge") and str(self.pids()[name][1]) in cmd)

    def kill(self):
        """Teardown: nothing run.sh started survives (SIGKILL by pid)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(25)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for name, (pid, _) in self.pids().items():
            if self._is_ours(name, pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
