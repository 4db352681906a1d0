"""EnhancedSSEClient and the native EventSource in headless Debian chromium,
against the real sse-bridge binary and a real redis-server, with events
published by redis-py (and scripts/sse_publish.py for history).

The test page is answered by the browser driver on the bridge's own origin
(http://127.0.0.1:<bridge port>/__browser_test__.html), so the page loads
/sse-client.js and /sse-client.mjs from the bridge and opens its streams
there, same-origin, as a page served next to the bridge would.
"""

import json
import signal
import time

import pytest
import redis as redis_py

from helpers import BRIDGE_ID
from sse_client import get_json
from sse_publish import publish

PAGE = "/__browser_test__.html"
HTML = """<!doctype html>
<meta charset="utf-8"><title>sse-bridge browser test</title>
<script src="/sse-client.js"></script>
<script type="module">
  import Default, { EnhancedSSEClient as Named } from '/sse-client.mjs';
  window.moduleDefault = Default;
  window.moduleNamed = Named;
</script>
<script>
  window.log = [];
  // Every event the page hears, with its time (ms, page clock) and a JSON copy.
  window.rec = function (type, d) {
    log.push({ t: performance.now(), type: type, d: d === undefined ? null : JSON.parse(JSON.stringify(d)) });
  };
  window.makeClient = function (url, opts, types, Cls) {
    const c = new (Cls || EnhancedSSEClient)(url, opts);
    for (const t of types)
      c.addEventListener(t, (d) => rec(t, d));
    window.client = c;
    c.connect();
    return true;
  };
  window.of = (type) => log.filter((e) => e.type === type);
</script>
"""

CLIENT_EVENTS = ["enhanced_connected", "heartbeat", "reconnecting", "disconnected", "failed", "degraded",
                 "recovered", "limit", "reset", "state", "shutdown"]


def start(bridge, *args):
    """A bridge with a short drain: Chromium keeps its idle keep-alive socket
    (from loading /sse-client.js) open, and a draining bridge waits for idle
    request connections until --drain-timeout (see the README's note)."""
    return bridge("--drain-timeout", "2", *args)


def open_page(browser, port):
    browser.page("http://127.0.0.1:%d%s" % (port, PAGE), HTML)
    browser.wait("typeof EnhancedSSEClient === 'function' && window.moduleDefault !== undefined",
                 what="the classic script and the module to load from the bridge")


def make_client(browser, url, opts, channel_types=()):
    types = CLIENT_EVENTS + list(channel_types)
    browser.eval("makeClient(%s, %s, %s)" % (json.dumps(url), json.dumps(opts), json.dumps(types)))


def of(browser, type_):
    return browser.eval("of(%s)" % json.dumps(type_))


def wait_count(browser, type_, n, timeout=10.0):
    browser.wait("of(%s).length >= %d" % (json.dumps(type_), n), timeout,
                 what="%d %r event(s) in the page" % (n, type_))
    return of(browser, type_)


def channel_events(browser, channels):
    return browser.eval("log.filter((e) => %s.includes(e.type))" % json.dumps(list(channels)))


def stream_responses(browser):
    return [r for r in browser.responses() if "/events" in r["url"]]


def compression(port):
    return get_json(port, "/sse/health")["system_metrics"]["compression"]


@pytest.fixture
def r(redis_server):
    c = redis_py.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=5, socket_connect_timeout=5)
    yield c
    c.close()


def test_classic_script_and_es_module_define_the_same_client(bridge, browser):
    b = start(bridge)
    open_page(browser, b.port)
    assert browser.eval("window.moduleDefault === EnhancedSSEClient && window.moduleNamed === EnhancedSSEClient")
    # The module's class works on its own: it connects and reports the bridge.
    browser.eval("makeClient('/events?channels=alpha', {}, ['enhanced_connected'], window.moduleDefault)")
    ec = wait_count(browser, "enhanced_connected", 1)[0]["d"]
    assert ec["bridge"] == BRIDGE_ID and ec["channels"] == ["alpha"] and ec["resumed"] is False, ec
    browser.eval("client.close()")


def test_events_published_with_redis_py_arrive_with_their_type_and_parsed_data(bridge, browser, redis_server, r):
    b = start(bridge, "--heartbeat-interval", "1")
    open_page(browser, b.port)
    make_client(browser, "/events?channels=alpha,beta", {"heartbeatTimeout": 10000}, ["alpha", "beta", "progress"])
    ec = wait_count(browser, "enhanced_connected", 1)[0]["d"]
    assert ec["bridge"] == BRIDGE_ID, ec
    assert ec["channels"] == ["alpha", "beta"] and ec["resumed"] is False, ec
    redis_server.wait_subscribed(["alpha", "beta"])

    assert r.publish("alpha", "plain hello") == 1
    assert r.publish("alpha", '{"n": 1, "list": [1, "two", null]}') == 1
    ids = [publish(r, "beta", {"pct": 40, "job": "j-7"}, event="progress"),
           publish(r, "beta", "two\nlines"),
           publish(r, "alpha", [1, 2, 3])]
    got = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = channel_events(browser, ["alpha", "beta", "progress"])
        if len(got) >= 5:
            break
        time.sleep(0.05)
    assert [(e["type"], e["d"]["data"]) for e in got] == [
        ("alpha", "plain hello"),
        ("alpha", {"n": 1, "list": [1, "two", None]}),
        ("progress", {"pct": 40, "job": "j-7"}),
        ("beta", "two\nlines"),
        ("alpha", [1, 2, 3]),
    ], got
    assert [e["d"]["id"] for e in got[2:]] == ids, got
    assert [e["d"]["channel"] for e in got[2:]] == ["beta", "beta", "alpha"], got
    assert got[0]["d"]["id"] is None and got[0]["d"]["raw"] == "plain hello"

    hb = wait_count(browser, "heartbeat", 2, timeout=5)
    for h in hb:
        d = h["d"]
        assert d["bridge"] == BRIDGE_ID and isinstance(d["ts"], int), d
        # Same machine, same clock: the latency is the delivery time.
        assert isinstance(d["client_latency"], (int, float)) and -5 <= d["client_latency"] < 1000, d
    m = browser.eval("client.getMetrics()")
    assert m["state"] == "connected" and m["connects"] == 1 and m["reconnects"] == 0, m
    assert m["messagesByType"]["alpha"] == 3 and m["messagesByType"]["progress"] == 1, m
    assert m["lastLatency"] is not None and m["averageLatency"] is not None, m
    assert m["cursor"] == "%s,%s" % (ids[2], ids[1]) or m["cursor"] == "%s,%s" % (ids[1], ids[2]), m
    assert of(browser, "reconnecting") == [] and of(browser, "disconnected") == []
    browser.eval("client.close()")


def _ceiling(attempt, base, cap):
    return min(cap, base * 2 ** (attempt - 1))


def check_backoff(browser, base, cap):
    """Every reconnecting event: a delay inside the attempt's full-jitter
    window [0, ceiling], raised to the server's floor when it gave one, and
    the next connection opened when the delay said (page clock). Returns the
    events and their attempt numbers."""
    rec = of(browser, "reconnecting")
    log = browser.eval("log.filter((e) => e.type === 'state' && e.d.to === 'connecting')")
    attempts = [e["d"]["attempt"] for e in rec]
    for e in rec:
        a, d, floor = e["d"]["attempt"], e["d"]["delay"], e["d"]["floor"]
        hi = max(floor, _ceiling(a, base, cap))
        assert floor <= d <= hi, "attempt %d: delay %d outside [%d, %d]" % (a, d, floor, hi)
        nxt = [s["t"] for s in log if s["t"] >= e["t"]]
        if nxt:
            waited = nxt[0] - e["t"]
            assert d - 5 <= waited <= d + 1500, "attempt %d: waited %.0f ms for a delay of %d" % (a, waited, d)
    return rec, attempts


def test_bridge_killed_and_restarted_client_backs_off_reconnects_and_gets_every_missed_event_once(
        bridge, browser, redis_server, r):
    b = start(bridge)
    port = b.port
    open_page(browser, port)
    base, cap = 250, 2000
    make_client(browser, "/events?channels=alpha,beta",
                {"baseReconnectDelay": base, "maxReconnectDelay": cap, "maxReconnectAttempts": 40,
                 "heartbeatTimeout": 30000}, ["alpha", "beta"])
    wait_count(browser, "enhanced_connected", 1)
    redis_server.wait_subscribed(["alpha", "beta"])
    sent = {"alpha": [], "beta": []}

    def pub(n, tag):
        for i in range(n):
            ch = "alpha" if i % 2 == 0 else "beta"
            payload = {"tag": tag, "i": i}
            publish(r, ch, payload)
            sent[ch].append(payload)

    pub(6, "before")
    browser.wait("log.filter((e) => e.type === 'alpha' || e.type === 'beta').length >= 6", 10,
                 what="the first 6 events")
    b.kill()  # SIGKILL: no goodbye, the streams just break
    wait_count(browser, "disconnected", 1, timeout=10)
    pub(20, "away")  # kept in the history streams only
    wait_count(browser, "reconnecting", 5, timeout=15)  # windows 250, 500, 1000, 2000, 2000 ms
    b2 = start(bridge, "--listen", "127.0.0.1:%d" % port)
    assert b2.port == port
    connected = wait_count(browser, "enhanced_connected", 2, timeout=15)
    pub(6, "after")
    want = len(sent["alpha"]) + len(sent["beta"])
    browser.wait("log.filter((e) => e.type === 'alpha' || e.type === 'beta').length >= %d" % want, 15,
                 what="all %d events" % want)
    time.sleep(0.5)  # a duplicate would arrive by now
    got = channel_events(browser, ["alpha", "beta"])
    for ch in ("alpha", "beta"):
        datas = [e["d"]["data"] for e in got if e["type"] == ch]
        assert datas == sent[ch], "%s: events lost, repeated or out of order:\n got %r\nwant %r" % (ch, datas, sent[ch])
    assert len(got) == want, got

    # The backoff: attempts 1, 2, 3 ... each inside its window, the windows
    # doubling to the cap; the waits were those delays.
    rec, attempts = check_backoff(browser, base, cap)
    assert attempts[:5] == [1, 2, 3, 4, 5], attempts
    assert attempts == list(range(1, len(attempts) + 1)), attempts
    ceilings = [_ceiling(a, base, cap) for a in attempts]
    assert ceilings[:5] == [250, 500, 1000, 2000, 2000]
    assert len(set(e["d"]["delay"] for e in rec)) > 1, "no jitter: %r" % rec
    last = connected[-1]["d"]
    assert last["resumed"] is True and last["bridge"] == BRIDGE_ID, connected
    resumed = [e["d"] for e in connected if e["d"]["resumed"]]
    assert resumed, connected
    m = browser.eval("client.getMetrics()")
    assert m["state"] == "connected" and m["reconnects"] >= 5, m
    browser.eval("client.close()")


def test_bridge_stopped_with_sigstop_the_watchdog_reconnects_after_heartbeat_timeout(
        bridge, browser, redis_server, r):
    b = start(bridge, "--heartbeat-interval", "1")
    open_page(browser, b.port)
    timeout_ms = 2500
    make_client(browser, "/events?channels=alpha",
                {"heartbeatTimeout": timeout_ms, "baseReconnectDelay": 200, "maxReconnectDelay": 800,
                 "maxReconnectAttempts": 60}, ["alpha"])
    wait_count(browser, "enhanced_connected", 1)
    redis_server.wait_subscribed(["alpha"])
    wait_count(browser, "heartbeat", 2, timeout=5)
    sent = []
    try:
        b.signal(signal.SIGSTOP)
        t_stop = browser.eval("performance.now()")
        d = wait_count(browser, "disconnected", 1, timeout=10)[0]
        assert d["d"]["reason"] == "heartbeat_timeout", d
        last_before = browser.eval("Math.max(...log.filter((e) => ['heartbeat', 'enhanced_connected'].includes(e.type))"
                                   ".map((e) => e.t))")
        silent = d["t"] - last_before
        assert timeout_ms - 50 <= silent <= timeout_ms + 600, \
            "left after %.0f ms of silence, heartbeatTimeout %d" % (silent, timeout_ms)
        assert d["t"] - t_stop <= timeout_ms + 600, d
        for i in range(3):
            p = {"while": "stopped", "i": i}
            publish(r, "alpha", p)
            sent.append(p)
        # The stopped bridge accepts the socket but never answers: the
        # watchdog gives up on that attempt too.
        browser.wait("of('reconnecting').some((e) => e.d.attempt >= 2 && e.d.reason === 'heartbeat_timeout')", 15,
                     what="a second reconnection after a silent attempt")
    finally:
        b.signal(signal.SIGCONT)
    connected = wait_count(browser, "enhanced_connected", 2, timeout=20)
    assert connected[-1]["d"]["resumed"] is True, connected
    browser.wait("of('alpha').length >= 3", 10, what="the events published while the bridge was stopped")
    p = {"while": "running again"}
    publish(r, "alpha", p)
    sent.append(p)
    browser.wait("of('alpha').length >= 4", 10, what="a live event after the watchdog reconnection")
    time.sleep(0.5)
    assert [e["d"]["data"] for e in of(browser, "alpha")] == sent
    m = browser.eval("client.getMetrics()")
    assert m["watchdogTimeouts"] >= 2 and m["state"] == "connected", m
    browser.eval("client.close()")


def _rejected_ip(port):
    return get_json(port, "/sse/health")["connection_pool"]["rejected"]["ip_limit"]


def test_over_limit_with_limit_events_client_waits_the_servers_retry_then_fails_and_stops(bridge, browser, clients):
    b = start(bridge, "--max-connections-per-ip", "1", "--limit-response", "retry", "--retry-ms", "600")
    holder = clients.sse(b.port, "/events?channels=alpha", name="holder")
    holder.connected()
    open_page(browser, b.port)
    make_client(browser, "/events?channels=alpha",
                {"maxReconnectAttempts": 3, "baseReconnectDelay": 50, "maxReconnectDelay": 100}, ["alpha"])
    failed = wait_count(browser, "failed", 1, timeout=15)
    assert failed[0]["d"]["attempts"] == 3, failed
    limits = of(browser, "limit")
    assert len(limits) == 4, limits
    for lim in limits:
        assert lim["d"]["code"] == "too_many_connections_per_ip" and 300 <= lim["d"]["retry"] <= 900, lim
    rec = of(browser, "reconnecting")
    assert [e["d"]["attempt"] for e in rec] == [1, 2, 3], rec
    for e, lim in zip(rec, limits):
        # The server's retry is the floor: far above the 50-100 ms backoff.
        assert e["d"]["floor"] == lim["d"]["retry"] and e["d"]["delay"] == lim["d"]["retry"], (e, lim)
    check_backoff(browser, 50, 100)
    assert of(browser, "enhanced_connected") == [] and of(browser, "alpha") == []
    assert browser.eval("client.state") == "failed"
    assert _rejected_ip(b.port) == 4
    time.sleep(1.5)  # stopped for good: no more attempts
    assert _rejected_ip(b.port) == 4
    assert len(of(browser, "limit")) == 4


def test_over_limit_with_429_client_backs_off_then_fails_and_stops(bridge, browser, clients):
    b = start(bridge, "--max-connections-per-ip", "1")
    holder = clients.sse(b.port, "/events?channels=alpha", name="holder")
    holder.connected()
    open_page(browser, b.port)
    base, cap = 200, 800
    make_client(browser, "/events?channels=alpha",
                {"maxReconnectAttempts": 4, "baseReconnectDelay": base, "maxReconnectDelay": cap}, ["alpha"])
    wait_count(browser, "failed", 1, timeout=15)
    rec, attempts = check_backoff(browser, base, cap)
    assert attempts == [1, 2, 3, 4], rec
    assert all(e["d"]["floor"] == 0 for e in rec), "a 429 carries no floor the page can read: %r" % rec
    assert [_ceiling(a, base, cap) for a in attempts] == [200, 400, 800, 800]
    statuses = [x["status"] for x in stream_responses(browser)]
    assert statuses == [429] * 5, statuses
    assert _rejected_ip(b.port) == 5
    time.sleep(1.5)
    assert _rejected_ip(b.port) == 5, "the client kept trying after failed"
    assert browser.eval("client.state") == "failed"


def test_shutdown_retry_is_the_floor_of_the_reconnection_to_the_next_bridge(bridge, browser, redis_server, r):
    b = start(bridge, "--retry-ms", "1500")
    port = b.port
    open_page(browser, port)
    make_client(browser, "/events?channels=alpha",
                {"baseReconnectDelay": 100, "maxReconnectDelay": 200, "maxReconnectAttempts": 40}, ["alpha"])
    wait_count(browser, "enhanced_connected", 1)
    assert b.terminate() == 0
    sd = wait_count(browser, "shutdown", 1)[0]["d"]
    assert sd["status"] == "shutdown" and 750 <= sd["retry"] <= 2250, sd
    rec = wait_count(browser, "reconnecting", 1)
    # Without the floor the first delay would be at most 100 ms.
    assert rec[0]["d"]["floor"] == sd["retry"] and rec[0]["d"]["delay"] == sd["retry"], (rec, sd)
    start(bridge, "--listen", "127.0.0.1:%d" % port)
    redis_server.wait_subscribed(["alpha"])
    connected = wait_count(browser, "enhanced_connected", 2, timeout=15)
    assert connected[1]["t"] - rec[0]["t"] >= sd["retry"] - 5, (connected, rec)
    check_backoff(browser, 100, 200)
    p = publish(r, "alpha", {"after": "restart"})
    browser.wait("of('alpha').length >= 1", 10)
    assert [(e["d"]["data"], e["d"]["id"]) for e in of(browser, "alpha")] == [({"after": "restart"}, p)]
    browser.eval("client.close()")


def _text(n, seed):
    words = ("summary", "progress", "bridge", "event", "stream", "gzip", "chromium", "redis", "ünïcødé", "€")
    out, i = [], seed
    while sum(len(w) + 1 for w in out) < n:
        i = (i * 1103515245 + 12345) % 2147483648
        out.append(words[i % len(words)])
    return " ".join(out)[:n]


def test_gzip_stream_large_and_small_events_arrive_intact_in_enhanced_client(bridge, browser, redis_server, r):
    b = start(bridge)
    open_page(browser, b.port)
    make_client(browser, "/events?channels=alpha", {}, ["alpha"])
    wait_count(browser, "enhanced_connected", 1)
    redis_server.wait_subscribed(["alpha"])
    payloads = [{"k": "small", "v": 1},
                {"k": "large", "text": _text(20000, 1)},
                {"k": "small2", "v": "x" * 50},
                {"k": "large2", "text": _text(5000, 2), "nested": {"list": list(range(200))}},
                "plain small text"]
    for p in payloads:
        publish(r, "alpha", p)
    browser.wait("of('alpha').length >= %d" % len(payloads), 10, what="every gzip'd event")
    got = [e["d"]["data"] for e in of(browser, "alpha")]
    assert got == payloads
    resp = stream_responses(browser)
    assert resp and resp[-1]["status"] == 200, resp
    assert resp[-1]["headers"].get("content-encoding") == "gzip", resp[-1]
    gz = compression(b.port)
    assert gz["segments_compressed"] >= 2 and gz["bytes_after"] < gz["bytes_before"], gz
    browser.eval("client.close()")


def test_compression_support_false_asks_for_identity(bridge, browser, redis_server, r):
    b = start(bridge)
    open_page(browser, b.port)
    make_client(browser, "/events?channels=alpha", {"compressionSupport": False}, ["alpha"])
    wait_count(browser, "enhanced_connected", 1)
    redis_server.wait_subscribed(["alpha"])
    big = {"text": _text(8000, 3)}
    publish(r, "alpha", big)
    browser.wait("of('alpha').length >= 1", 10)
    assert of(browser, "alpha")[0]["d"]["data"] == big
    resp = stream_responses(browser)[-1]
    assert "compression=none" in resp["url"], resp
    assert resp["headers"].get("content-encoding") is None, resp
    assert compression(b.port)["segments_built"] == 0
    browser.eval("client.close()")


def test_native_eventsource_receives_gzipped_events_large_and_small_one_by_one(bridge, browser, redis_server, r):
    """Issue 4 in the browser: no client library, Chromium's own EventSource
    on a gzip stream; each event is readable in the page before the next one
    is published (nothing waits for more bytes to come)."""
    b = start(bridge)
    open_page(browser, b.port)
    browser.eval("""(() => {
        window.got = [];
        window.nativeConnected = false;
        const es = new EventSource('/events?channels=alpha');
        window.es = es;
        es.addEventListener('connected', () => { window.nativeConnected = true; });
        es.addEventListener('alpha', (e) => got.push(e.data));
        return true;
    })()""")
    browser.wait("nativeConnected", 10, what="the native EventSource's connected event")
    redis_server.wait_subscribed(["alpha"])
    sizes = [12, 20000, 300, 1025, 60000, 1, 1024, 4000, 80]
    for i, n in enumerate(sizes):
        payload = "%d:" % i + _text(n, i + 10)
        assert r.publish("alpha", payload.encode("utf-8")) == 1
        browser.wait("got.length >= %d" % (i + 1), 5, interval=0.01,
                     what="event %d (%d chars) before the next is published" % (i, n))
        assert browser.eval("got.length") == i + 1, "more events than published"
        assert browser.eval("got[%d]" % i) == payload, "event %d (%d chars) arrived altered" % (i, n)
    resp = stream_responses(browser)
    assert len(resp) == 1 and resp[0]["status"] == 200, resp
    assert resp[0]["headers"].get("content-encoding") == "gzip", resp[0]
    gz = compression(b.port)
    # Payloads over the 1024-byte threshold are deflated, the others stored.
    assert gz["segments_compressed"] >= 4 and gz["bytes_after"] < gz["bytes_before"], gz
    browser.eval("es.close()")


def test_close_stops_the_stream_and_every_reconnection(bridge, browser, redis_server):
    b = start(bridge)
    open_page(browser, b.port)
    make_client(browser, "/events?channels=alpha", {"baseReconnectDelay": 100, "maxReconnectDelay": 200}, [])
    wait_count(browser, "enhanced_connected", 1)
    assert b.healthz()["connections"] == 1
    browser.eval("client.close()")
    deadline = time.monotonic() + 5
    while b.healthz()["connections"] != 0:
        assert time.monotonic() < deadline, "the stream stayed open after close()"
        time.sleep(0.05)
    time.sleep(0.8)
    assert b.healthz()["connections"] == 0 and of(browser, "reconnecting") == []
    assert browser.eval("client.state") == "closed"
