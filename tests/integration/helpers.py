"""Helpers shared by the integration tests (imported by conftest and tests)."""

import json
import os
import socket
import time

import pytest

BRIDGE_ID = "it-bridge"
# The allowlist the suite runs with unless a test asks otherwise: concrete
# names, one family ("fam.*") and the flask-sse channel.
TEST_CHANNELS = "alpha,beta,gamma,fam.*,sse"
TEST_CONCRETE_CHANNELS = ["alpha", "beta", "gamma", "sse"]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.5):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate until true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def sse_block(event=None, data="", id=None, retry=None):
    """The exact bytes the bridge must write for one event (the contract's
    order: event, id, retry, data lines split at CRLF/LF/CR, blank line)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    out = ""
    if event is not None:
        out += "event: %s\n" % event
    if id is not None:
        out += "id: %s\n" % id
    if retry is not None:
        out += "retry: %d\n" % retry
    for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        out += "data: %s\n" % line
    return (out + "\n").encode("utf-8")



def describe_mismatch(got, expected, context=80):
    """A short account of where two byte strings first differ."""
    got, expected = bytes(got), bytes(expected)
    n = min(len(got), len(expected))
    i = next((k for k in range(n) if got[k] != expected[k]), n)
    lo = max(0, i - context)
    return ("first difference at byte %d (got %d bytes, expected %d)\n"
            "  expected[%d:]: %r\n  got[%d:]:      %r"
            % (i, len(got), len(expected), lo, expected[lo:i + context], lo, got[lo:i + context]))


def expect_body(client, after, expected, timeout=10.0):
    """Asserts that the raw body after event `after` is exactly `expected`:
    reads until that many bytes arrived (bounded), then compares all of it."""
    want = after.end + len(expected)
    problem = None
    try:
        client.read_until(lambda c: len(c.parser.body) >= want, timeout, "%d body bytes" % want)
    except Exception as e:  # timed out or closed: compare anyway, the diff says more
        problem = "%s: %s" % (type(e).__name__, str(e)[:300])
    got = client.body_after(after)
    if got != expected or problem:
        pytest.fail("%s: body after %r is not as expected%s\n%s"
                    % (client.name, after, " (" + problem + ")" if problem else "", describe_mismatch(got, expected)))


def assert_json_error(resp, status, code):
    """An error response of the contract: status, JSON {"error","code"} with
    Content-Type application/json and an exact Content-Length, Connection: close."""
    assert resp.status == status, "expected %d %s, got %r" % (status, code, resp)
    ctype = resp.header("Content-Type")
    assert ctype is not None and ctype.split(";")[0].strip().lower() == "application/json", resp
    cl = resp.header("Content-Length")
    assert cl is not None and int(cl) == len(resp.body), resp
    body = json.loads(resp.body)
    assert isinstance(body, dict), resp
    assert body.get("code") == code, "expected code %r, got %r" % (code, body)
    assert isinstance(body.get("error"), str) and body["error"], "missing human text in %r" % body
    conn = resp.header("Connection")
    assert conn is not None and conn.lower() == "close", "error response without Connection: close: %r" % resp
    return body


def now_ms():
    return int(time.time() * 1000)


def bridge_env(extra=None):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("SSE_") and k != "SSE_BRIDGE_BIN":
            del env[k]  # only what a test sets configures the bridge
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


def sanitizer_report(text):
    return [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]
