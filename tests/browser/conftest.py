"""Fixtures of the browser suite: the integration suite's real redis-server
and sse-bridge fixtures, plus one headless Debian chromium driven by
playwright-core through tests/browser/driver.js (JSON lines over a pipe).

The driver runs in its own process group, so the browser it launched is
killed with it at the end whatever happened; every wait is bounded.
"""

import importlib.util
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(INTEGRATION))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

# The integration suite's fixtures (redis_server, bridge, the hard time
# limit), loaded under another module name than this conftest's.
_spec = importlib.util.spec_from_file_location("integration_conftest", INTEGRATION / "conftest.py")
_it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_it)
redis_server = _it.redis_server
bridge = _it.bridge
bridge_bin = _it.bridge_bin
_hard_time_limit = _it._hard_time_limit
clients = _it.clients

NODE = shutil.which("node", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", "")) or "/usr/bin/node"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
RPC_TIMEOUT = 30.0  # seconds for one driver command


class DriverError(RuntimeError):
    pass


class Browser:
    """The driver process and its one page."""

    def __init__(self, stderr_path):
        self.stderr_path = stderr_path
        self._errf = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            [NODE, str(HERE / "driver.js")], cwd=str(HERE), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._errf, start_new_session=True, env=dict(os.environ, CHROMIUM_BIN=CHROMIUM))
        self._answers = queue.Queue()
        self._next = 1
        threading.Thread(target=self._reader, daemon=True).start()
        hello = self._answer(0, 60.0)
        self.version = hello.get("version")

    def _reader(self):
        for line in self.proc.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                pass
        self._answers.put(None)

    def _answer(self, want_id, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DriverError("no answer from the browser driver within %.0f s; stderr:\n%s"
                                  % (timeout, self.stderr()[-3000:]))
            try:
                a = self._answers.get(timeout=left)
            except queue.Empty:
                continue
            if a is None:
                raise DriverError("the browser driver exited; stderr:\n%s" % self.stderr()[-3000:])
            if a.get("id") != want_id:
                continue
            if not a.get("ok"):
                raise DriverError(a.get("error"))
            return a.get("value")

    def call(self, op, timeout=RPC_TIMEOUT, **kw):
        i = self._next
        self._next += 1
        kw.update(id=i, op=op)
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())
        self.proc.stdin.flush()
        return self._answer(i, timeout)

    def page(self, url, html):
        return self.call("page", url=url, html=html)

    def eval(self, expr, timeout=RPC_TIMEOUT):
        return self.call("eval", expr=expr, timeout=timeout)

    def responses(self):
        return self.call("responses")

    def wait(self, expr, timeout=10.0, what=None, interval=0.05):
        """Evaluates expr in the page until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what or expr))
            time.sleep(interval)

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        try:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                self.proc.wait(10)
        except Exception:
            pass
        # The driver's process group holds chromium and its helpers.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._errf.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium not found at %s (scripts/deps.sh installs it)" % CHROMIUM)
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is not installed: run scripts/browser_deps.sh")
    b = Browser(str(tmp_path_factory.mktemp("browser") / "driver.stderr"))
    try:
        yield b
    finally:
        b.close()
