"""End to end through haproxy: the whole local stack (scripts/run.sh with
the binary under test: redis-server, two bridges, the Flask demo, haproxy)
and headless Chromium on the demo page, which loads EnhancedSSEClient from
the bridge through the load balancer, submits a job and follows it.

Second run: the bridge holding the page's stream is kill -9'd mid-job; the
client reconnects through haproxy to the other replica with its resume
cursor, and the page still shows every progress step exactly once and the
summary.
"""

import json
import os
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stack import Stack

STEPS = 20  # the demo's default: 0, 5, ..., 100 %
EXPECTED_PCTS = [i * 100 // STEPS for i in range(STEPS + 1)]


@pytest.fixture
def stack(bridge_bin, tmp_path):
    made = []

    def start(**kw):
        s = Stack(tmp_path / ("stack%d" % len(made)), bridge_bin, **kw)
        made.append(s)
        return s

    yield start
    reports = {}
    for s in made:
        s.kill()
        reports.update(s.sanitizer_reports())
    assert not reports, reports


def open_demo(browser, s):
    browser.call("goto", url=s.url + "/")
    browser.wait("window.demo && demo.states.includes('connected')", 15,
                 what="the demo page's EnhancedSSEClient to connect through haproxy")
    return browser.eval("demo.bridges[0]")


def submit(browser):
    assert browser.eval("document.getElementById('submit').click(), true")
    return browser.wait("demo.job", 10, what="the POST /jobs answer")


def job_progress(browser):
    return browser.eval("demo.progress.filter((p) => p.job === demo.job)")


def wait_summary(browser, timeout):
    browser.wait("demo.complete.some((c) => c.job === demo.job)", timeout,
                 what="the summary_complete event of the job")


def check_finished_page(browser):
    """The progress bar at 100 %, every step listed once, the summary shown."""
    prog = job_progress(browser)
    pcts = [p["pct"] for p in prog]
    assert pcts == EXPECTED_PCTS, "progress steps seen by the page: %r" % pcts
    ids = [p["id"] for p in prog]
    assert len(set(ids)) == len(ids) and all(i and i.endswith("@summary_progress") for i in ids), ids
    page = browser.eval("""({
        width: document.getElementById('bar-fill').style.width,
        pct: document.getElementById('pct').textContent,
        now: document.getElementById('bar').getAttribute('aria-valuenow'),
        listed: [...document.querySelectorAll('#steps li')].map((li) => Number(li.dataset.pct)),
        resultHidden: document.getElementById('result').hidden,
        summary: document.getElementById('summary').textContent,
        title: document.getElementById('summary-title').textContent,
    })""")
    assert page["width"] == "100%" and page["pct"] == "100%" and page["now"] == "100", page
    assert page["listed"] == EXPECTED_PCTS, page["listed"]
    assert page["resultHidden"] is False
    assert len(page["summary"]) >= 4000, "the summary is multi-KB (gzip is exercised)"
    assert page["summary"].startswith("Part 1. The video at https://videos.example.com/"), page["summary"][:100]
    assert page["title"].startswith("Summary of "), page["title"]
    done = browser.eval("demo.complete.filter((c) => c.job === demo.job)")
    assert len(done) == 1, "the summary arrived %d times" % len(done)


def stream_responses(browser):
    return [r for r in browser.responses() if "/events?" in r["url"]]


@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "tokens"])
def test_demo_page_runs_a_job_to_100_percent_and_shows_the_summary_through_haproxy(stack, browser, bridge_bin, auth):
    s = stack(auth=auth)
    bridge_ids = ["bridge%d" % (i + 1) for i in range(2)]
    first = open_demo(browser, s)
    assert first in bridge_ids
    # The page and everything it loads come from haproxy's one origin.
    assert browser.eval("location.origin") == s.url
    assert browser.eval("typeof EnhancedSSEClient") == "function"
    submit(browser)
    wait_summary(browser, 30)
    check_finished_page(browser)
    assert browser.eval("demo.bridges.length") == 1, "no reconnection was needed"
    assert browser.eval("document.getElementById('conn-state').textContent") == "connected"
    # Everything the page loaded came through haproxy's one origin.
    urls = [r["url"] for r in browser.responses()]
    assert urls and all(u.startswith(s.url + "/") for u in urls), urls
    shots = Path(bridge_bin).resolve().parents[1] / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / ("demo-%s.png" % ("tokens" if auth else "no-auth"))
    browser.call("screenshot", path=str(shot))
    assert shot.stat().st_size > 10000

    streams = stream_responses(browser)
    assert streams and all(r["status"] == 200 for r in streams), streams
    st = streams[0]
    assert st["url"].startswith(s.url + "/events?"), st["url"]
    # gzip end to end: haproxy passes the bridge's encoding through untouched.
    assert st["headers"].get("content-encoding") == "gzip", st["headers"]
    assert st["headers"].get("content-type", "").startswith("text/event-stream"), st["headers"]
    client_id = browser.eval("demo.clientId")
    assert "client_id=" + client_id in st["url"]
    if auth:
        assert "token=" in st["url"], st["url"]
        # Without the page's token the stream is refused (the bridges require one).
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(s.url + "/events?channels=summary_progress&client_id=" + client_id, timeout=3)
        assert e.value.code in (401, 403)
        tok = json.loads(browser.eval("fetch('/sse-token').then((r) => r.text())"))
        assert tok["client_id"] == client_id and tok["token"].count(".") == 2
    else:
        assert "token=" not in st["url"]
    # The bridges compressed the summary (it is over the 1 KB threshold).
    saved = 0
    for name in bridge_ids:
        port = s.pids()[name][1]
        with urllib.request.urlopen("http://127.0.0.1:%d/sse/health" % port, timeout=3) as r:
            saved += json.loads(r.read())["system_metrics"]["compression"]["bytes_saved"]
    assert saved > 1000, saved


def test_demo_job_completes_with_every_step_once_when_its_bridge_is_killed_mid_job(stack, browser):
    s = stack(env={"DEMO_STEP_MS": "300"})
    first = open_demo(browser, s)
    pid, _ = s.pids()[first]
    submit(browser)
    browser.wait("demo.progress.filter((p) => p.job === demo.job).length >= 5", 15,
                 what="a few progress steps before the kill")
    os.kill(pid, signal.SIGKILL)
    killed_at = len(job_progress(browser))
    assert killed_at < STEPS + 1, "the job ended before the kill; nothing was tested"
    wait_summary(browser, 40)
    check_finished_page(browser)
    bridges = browser.eval("demo.bridges")
    assert bridges[0] == first and len(bridges) >= 2, bridges
    assert bridges[-1] != first, "the page resumed on the other replica: %r" % bridges
    assert browser.eval("demo.reconnects") >= 1
    # The steps after the kill came from the other replica (live or replayed).
    prog = job_progress(browser)
    assert prog[-1]["bridge"] != first, prog[-1]
    # The resumed stream carried the client's cursor.
    urls = [r["url"] for r in stream_responses(browser)]
    assert len(urls) >= 2 and "last_event_id=" in urls[-1], urls
    assert s.alive() and first not in s.alive(), s.alive()


def test_demo_page_fetches_a_fresh_token_and_its_stream_outlives_the_first_one(stack, browser):
    # Tokens of 10 s, no clock skew allowed: the bridge ends the stream with
    # token_expired at 10 s; EnhancedSSEClient asks the page's token function
    # before reconnecting, which fetches a new one from the app (the one in
    # hand is old), so the reconnection is accepted at once (no 401).
    s = stack(auth=True, env={"DEMO_TOKEN_TTL": "10"}, bridge_args=["--token-skew", "0"])
    open_demo(browser, s)
    browser.wait("demo.tokenExpiries >= 1 && demo.tokenRefreshes >= 1 && demo.bridges.length >= 2", 25,
                 what="token_expired, a token refresh, then a reconnection")
    streams = stream_responses(browser)
    assert len(streams) >= 2 and all(r["status"] == 200 for r in streams), streams
    tokens = [re.search(r"[?&]token=([^&]+)", r["url"]).group(1) for r in streams]
    assert tokens[0] != tokens[-1], "the reconnection used the refreshed token"
    submit(browser)
    wait_summary(browser, 30)
    check_finished_page(browser)
