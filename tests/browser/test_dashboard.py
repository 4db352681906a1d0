"""The live dashboard (/sse/dashboard) in headless Debian chromium against
the real bridge and redis-server: its figures and charts follow streams
opening, events flowing and Redis dying and coming back, nothing is loaded
from anywhere but the bridge, and a screenshot is saved under the build
directory (<build>/screenshots/dashboard.png)."""

import json
import os
import time
from pathlib import Path

from sse_client import get_json


def build_dir(bridge_bin):
    """The build directory of the binary under test (build/ by default)."""
    return Path(bridge_bin).resolve().parents[1]


def figure(browser, el_id):
    return browser.eval("document.getElementById(%s).getAttribute('data-value')" % json.dumps(el_id))


def chart(browser, el_id):
    """What a chart drew: number of points and its series' last values."""
    return browser.eval(
        "(() => { const c = document.getElementById(%s);"
        " return {points: +c.getAttribute('data-points'), last: JSON.parse(c.getAttribute('data-last') || '{}')}; })()"
        % json.dumps(el_id))


def painted(browser, el_id, rgb):
    """Pixels of the canvas painted in (nearly) the colour rgb: the line is really drawn."""
    return browser.eval(
        "(() => { const c = document.getElementById(%s); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        " for (let i = 0; i < d.length; i += 4)"
        "   if (Math.abs(d[i] - %d) < 24 && Math.abs(d[i+1] - %d) < 24 && Math.abs(d[i+2] - %d) < 24 && d[i+3] > 200) n++;"
        " return n; })()" % ((json.dumps(el_id),) + rgb))


BLUE = (0x58, 0xa6, 0xff)  # "this bridge" series
RED = (0xf8, 0x51, 0x49)   # latency p99


def test_dashboard_draws_live_figures_that_follow_streams_events_and_redis(browser, bridge, bridge_bin, clients,
                                                                          redis_server):
    b = bridge("--drain-timeout", "2", "--health-check-interval", "1")
    base = "http://127.0.0.1:%d" % b.port
    browser.call("goto", url=base + "/sse/dashboard")
    browser.wait("document.getElementById('link').textContent === 'live'", 10, "the metrics stream open")
    browser.wait("+document.body.getAttribute('data-ticks') >= 1", 5, "a first tick drawn")
    assert browser.eval("document.getElementById('bridge').textContent") == "it-bridge"
    assert figure(browser, "v-connections") == "0"
    assert figure(browser, "v-redis") == "up"
    assert browser.eval("document.getElementById('status').getAttribute('data-status')") == "ok"

    # Streams open: the number and the chart follow.
    streams = [clients.sse(b.port, "/events?channels=alpha&client_id=d%d" % i) for i in range(3)]
    for s in streams:
        s.connected()
    browser.wait("document.getElementById('v-connections').getAttribute('data-value') === '3'", 5,
                 "3 connections shown")
    assert browser.eval("document.getElementById('v-connections').textContent") == "3"
    c = chart(browser, "c-connections")
    assert c["last"]["this bridge"] == 3 and c["last"]["healthy"] == 3, c

    # Events flow for a few seconds: events/s and latency appear, drawn.
    redis_server.wait_subscribed(["alpha"])
    pub = redis_server.client()
    deadline = time.monotonic() + 4
    n = 0
    while time.monotonic() < deadline:
        pub.publish("alpha", "\x1e" + json.dumps({"data": str(n), "ts": time.time() * 1000}))
        n += 1
        time.sleep(0.01)
    browser.wait("+document.getElementById('v-events').getAttribute('data-value') > 0", 5, "events/s above 0")
    ev = chart(browser, "c-events")
    assert ev["points"] >= 3, ev
    # 3 streams x ~100 msg/s: the chart's latest point is a real rate
    browser.wait("(() => { const l = JSON.parse(document.getElementById('c-events').getAttribute('data-last'));"
                 " return l['this bridge'] >= 30; })()", 5, "the events chart showing the rate")
    browser.wait("(() => { const l = JSON.parse(document.getElementById('c-latency').getAttribute('data-last'));"
                 " return l.p50 !== null && l.p99 !== null && l.p99 >= l.p50; })()", 5, "latency percentiles drawn")
    lat = chart(browser, "c-latency")
    assert 0 <= lat["last"]["p50"] < 1000, lat
    p50_text = browser.eval("document.getElementById('v-p50').textContent")
    assert p50_text.endswith("ms") or p50_text.endswith(" s"), p50_text
    assert painted(browser, "c-events", BLUE) > 50, "no events line painted"
    assert painted(browser, "c-latency", RED) > 20, "no p99 line painted"
    # the cluster tiles come from the pool's renewals: one bridge, our 3 streams
    browser.wait("document.getElementById('v-cl-bridges').getAttribute('data-value') === '1'", 10,
                 "the cluster figures")
    browser.wait("document.getElementById('v-cl-connections').getAttribute('data-value') === '3'", 10,
                 "cluster connections")

    # ... and the bridges table has this one with its streams.
    browser.wait("(() => { const r = document.querySelector('#replicas tr[data-bridge=\"it-bridge\"]');"
                 " return r && r.children[1].textContent === '3' && r.children[5].textContent === 'up'; })()", 10,
                 "the bridges table")
    assert chart(browser, "c-replicas")["last"].get("it-bridge") == 3

    # Nothing came from anywhere but the bridge.
    urls = [r["url"] for r in browser.responses()]
    assert urls and all(u.startswith(base + "/") for u in urls), urls

    shots = build_dir(bridge_bin) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "dashboard.png"
    if shot.exists():
        shot.unlink()
    browser.call("screenshot", path=str(shot))
    assert shot.stat().st_size > 10000, shot.stat().st_size
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    # Redis dies: the page says so (tile, status, alert); it comes back: so does the page.
    port = redis_server.port
    redis_server.kill()
    browser.wait("document.getElementById('v-redis').getAttribute('data-value') === 'down'", 8, "redis down shown")
    browser.wait("!!document.querySelector('#alerts li[data-alert=redis_down]')", 8, "the redis_down alert shown")
    assert browser.eval("document.getElementById('status').getAttribute('data-status')") == "degraded"
    up = chart(browser, "c-redis")
    assert up["last"]["up (1) / down (0)"] == 0, up
    browser.call("screenshot", path=str(shots / "dashboard-redis-down.png"))
    redis_server.start(port=port)
    browser.wait("document.getElementById('v-redis').getAttribute('data-value') === 'up'", 20, "redis up again")
    browser.wait("!document.querySelector('#alerts li[data-alert]')", 8, "the alert cleared")
    assert get_json(b.port, "/sse/metrics")["alerts"] == []
    assert os.path.getsize(shot) > 10000
