"""Monitoring: /metrics in the Prometheus text format (checked by promtool)
with counters that move by exactly what the test did, /sse/health figures
that agree with it, the health monitor's bounded history, alerts raised and
cleared by a scripted fault, the dashboard's stream and page, and JSON logs."""

import json
import re
import shutil
import subprocess
import time

import pytest

from helpers import wait_until
from sse_client import HTTPConnection, get, get_json, http_request

PROMTOOL = shutil.which("promtool", path="/usr/bin:/usr/local/bin")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def scrape(port):
    """GET /metrics: checks it with promtool and returns {(name, labels): value}."""
    r = get(port, "/metrics")
    assert r.status == 200, r
    ctype = r.header("Content-Type")
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    text = r.body.decode("utf-8")
    if PROMTOOL is None:
        pytest.fail("promtool not found: install Debian's prometheus package (scripts/deps.sh)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert p.returncode == 0 and not p.stdout.strip(), "promtool check metrics failed (rc %d):\n%s%s\n--- input ---\n%s" % (
        p.returncode, p.stdout.decode(), p.stderr.decode(), text)
    out = {}
    typed = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            typed[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert name.startswith("sse_bridge_"), line
        out[(name, labels)] = float(value)
    for name, kind in typed.items():
        if kind == "counter":
            assert name.endswith("_total"), name
    return out


def v(m, name, labels=""):
    assert (name, labels) in m, "no %s%s in /metrics" % (name, labels)
    return m[(name, labels)]


def delta(m1, m0, name, labels=""):
    return v(m1, name, labels) - v(m0, name, labels)


def envelope(data, ts=None, **kw):
    o = dict(kw, data=data)
    if ts is not None:
        o["ts"] = ts
    return "\x1e" + json.dumps(o)


def test_metrics_pass_promtool_and_counters_move_by_exactly_what_happened(bridge, clients, redis_server):
    b = bridge("--max-connections-per-ip", "3", "--max-message-bytes", "100000", "--max-queue-bytes", "65536",
               "--health-check-interval", "1")
    m0 = scrape(b.port)
    assert v(m0, "sse_bridge_connections") == 0
    assert v(m0, "sse_bridge_redis_up") == 1
    assert v(m0, "sse_bridge_info", '{bridge="it-bridge",version="0.1.0"}') == 1

    a1 = clients.sse(b.port, "/events?channels=alpha&client_id=a1", name="a1")
    a2 = clients.sse(b.port, "/events?channels=alpha&client_id=a2", name="a2")
    e1, e2 = a1.connected(), a2.connected()
    # The slow consumer: a small window, never reads, alone on beta.
    slow = HTTPConnection(b.port, rcvbuf=4096)
    try:
        slow.send(b"GET /events?channels=beta&client_id=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: b.healthz()["connections"] == 3, 5, what="three streams open")
        redis_server.wait_subscribed(["alpha", "beta"])

        # Rejections: over the per-IP limit (429), a forbidden channel (403), no route (404).
        assert get(b.port, "/events?channels=alpha").status == 429
        assert get(b.port, "/events?channels=nope").status == 403
        assert get(b.port, "/no/such/path").status == 404

        # Drops, then deliveries (Redis keeps the order, so once the last
        # event arrived every earlier message was handled).
        pub = redis_server.client()
        pub.publish("alpha", "\x1e{not json")
        pub.publish("alpha", envelope(None).replace('"data": null', '"nodata": 1'))
        pub.publish("alpha", "x" * 100001)
        for i in range(5):
            pub.publish("alpha", "plain %d" % i)
        for i in range(3):
            pub.publish("alpha", envelope("ts %d" % i, ts=time.time() * 1000))
        for c in (a1, a2):
            c.read_until(lambda c: len([e for e in c.events if e.type in ("alpha", "message")]) >= 8, 10, "8 events")
        m1 = scrape(b.port)

        assert v(m1, "sse_bridge_connections") == 3
        assert v(m1, "sse_bridge_healthy_connections") == 3
        assert delta(m1, m0, "sse_bridge_connections_opened_total") == 3
        assert delta(m1, m0, "sse_bridge_connections_closed_total") == 0
        assert delta(m1, m0, "sse_bridge_connections_rejected_total", '{reason="max_connections_per_ip"}') == 1
        assert delta(m1, m0, "sse_bridge_connections_rejected_total", '{reason="max_connections"}') == 0
        assert delta(m1, m0, "sse_bridge_http_errors_total") == 3
        assert delta(m1, m0, "sse_bridge_messages_received_total") == 11
        assert delta(m1, m0, "sse_bridge_messages_dropped_total", '{reason="malformed"}') == 2
        assert delta(m1, m0, "sse_bridge_messages_dropped_total", '{reason="oversize"}') == 1
        assert delta(m1, m0, "sse_bridge_messages_dropped_total", '{reason="duplicate"}') == 0
        assert delta(m1, m0, "sse_bridge_events_sent_total") == 16
        assert delta(m1, m0, "sse_bridge_slow_consumer_drops_total") == 0
        assert delta(m1, m0, "sse_bridge_delivery_latency_seconds_count") == 3
        assert delta(m1, m0, "sse_bridge_fanout_duration_seconds_count") == 8
        got = len(a1.parser.body) + len(a2.parser.body)
        assert delta(m1, m0, "sse_bridge_bytes_sent_total") >= got
        # A histogram's buckets are cumulative and end at its count.
        for h in ("sse_bridge_delivery_latency_seconds", "sse_bridge_fanout_duration_seconds"):
            buckets = sorted(((float(k[1][5:-2]) if "+Inf" not in k[1] else float("inf")), val)
                             for k, val in m1.items() if k[0] == h + "_bucket")
            assert len(buckets) == 18, buckets
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), buckets
            assert counts[-1] == v(m1, h + "_count")
        # Loopback latency: the three envelopes took well under a second.
        assert v(m1, "sse_bridge_delivery_latency_seconds_bucket", '{le="1"}') == v(
            m1, "sse_bridge_delivery_latency_seconds_count")

        # /metrics and /healthz tell the same story.
        h = b.healthz()["counters"]
        assert v(m1, "sse_bridge_events_sent_total") == h["events_sent"]
        assert v(m1, "sse_bridge_messages_received_total") == h["messages_received"]
        assert v(m1, "sse_bridge_http_errors_total") == h["requests_rejected"]

        # The slow consumer is cut at its cap: exactly one drop and one close.
        big = "y" * 65536
        for i in range(300):
            pub.publish("beta", big)
            if i % 10 == 9 and b.counters()["slow_consumer_drops"] == 1:
                break
        wait_until(lambda: b.counters()["slow_consumer_drops"] == 1, 5, what="the slow consumer cut")
        m2 = scrape(b.port)
        assert delta(m2, m1, "sse_bridge_slow_consumer_drops_total") == 1
        assert delta(m2, m1, "sse_bridge_connections_closed_total") == 1
        assert v(m2, "sse_bridge_connections") == 2
        assert delta(m2, m1, "sse_bridge_events_sent_total") >= 1
        # ... and the next check raises queue pressure.
        wait_until(lambda: any(a["alert"] == "queue_pressure" and a["event"] == "raised"
                               for a in get_json(b.port, "/sse/metrics")["alert_log"]), 5,
                   what="queue_pressure raised")
    finally:
        slow.close()
    assert not a1.closed and not a2.closed


def test_sse_health_keys_exist_and_agree_with_what_happened(bridge, clients, redis_server):
    b = bridge("--health-check-interval", "1")
    streams = [clients.sse(b.port, "/events?channels=alpha&client_id=h%d" % i) for i in range(3)]
    for s in streams:
        s.connected()
    redis_server.wait_subscribed(["alpha"])
    pub = redis_server.client()
    for i in range(4):
        pub.publish("alpha", envelope("e%d" % i, ts=time.time() * 1000 - 5))
    for s in streams:
        s.read_until(lambda c: len([e for e in c.events if e.type == "alpha"]) >= 4, 10, "4 events")
    checks = get_json(b.port, "/sse/metrics")["checks"]
    wait_until(lambda: get_json(b.port, "/sse/metrics")["checks"] >= checks + 1, 5, what="a health check")
    h = get_json(b.port, "/sse/health")
    assert h["status"] == "ok"
    assert h["connection_pool"]["total_connections"] == 3
    assert h["health"]["current_metrics"]["healthy_connections"] == 3
    assert h["health"]["current_metrics"]["error_rate"] == 0
    assert h["system_metrics"]["compression_savings_bytes"] >= 0
    # publish time to write: at least the 5 ms the ts was set back, under a second here
    assert 5 <= h["average_latency"] < 1000, h["average_latency"]
    rep = get_json(b.port, "/sse/metrics")
    last = rep["history"][-1]
    assert rep["current"] == last
    assert last["connections"] == 3 and last["healthy_connections"] == 3
    assert last["redis"]["status"] == "up"
    assert last["rss_bytes"] > 1 << 20 and last["open_fds"] >= 5
    assert rep["alerts"] == []


def test_health_history_is_bounded_and_ordered(bridge):
    b = bridge("--health-check-interval", "1", "--health-history", "3")
    wait_until(lambda: get_json(b.port, "/sse/metrics")["checks"] >= 5, 10, what="five health checks")
    rep = get_json(b.port, "/sse/metrics")
    assert rep["history_max"] == 3
    assert len(rep["history"]) == 3, rep["history"]
    ts = [s["at_ms"] for s in rep["history"]]
    assert ts == sorted(ts) and len(set(ts)) == 3
    assert rep["current"] == rep["history"][-1]
    # a second is a second: the intervals are about the flag's value
    assert all(0.5 < s["interval_s"] < 3 for s in rep["history"]), rep["history"]


def _alert_active(port, name):
    return any(a["name"] == name for a in get_json(port, "/sse/metrics")["alerts"])


def test_redis_down_alert_is_raised_and_cleared_when_redis_dies_and_returns(bridge, redis_server):
    b = bridge("--health-check-interval", "1")
    port = redis_server.port
    redis_server.kill()
    wait_until(lambda: _alert_active(b.port, "redis_down"), 8, what="redis_down raised")
    assert get(b.port, "/readyz").status == 503
    m = scrape(b.port)
    assert v(m, "sse_bridge_alert_active", '{alert="redis_down"}') == 1
    assert v(m, "sse_bridge_redis_up") == 0
    assert get_json(b.port, "/sse/health")["status"] == "degraded"

    redis_server.start(port=port)
    wait_until(lambda: not _alert_active(b.port, "redis_down"), 20, what="redis_down cleared")
    assert get(b.port, "/readyz").status == 200
    m = scrape(b.port)
    assert v(m, "sse_bridge_alert_active", '{alert="redis_down"}') == 0
    assert v(m, "sse_bridge_redis_up") == 1
    assert v(m, "sse_bridge_redis_reconnects_total") >= 1
    log = [(e["alert"], e["event"]) for e in get_json(b.port, "/sse/metrics")["alert_log"]]
    assert log == [("redis_down", "raised"), ("redis_down", "cleared")], log
    err = b.stderr()
    assert "alert raised alert=redis_down" in err and "alert cleared alert=redis_down" in err, err[-2000:]
    # the round trip is measured again once Redis is back
    wait_until(lambda: (get_json(b.port, "/sse/metrics")["current"]["redis"]["rtt_ms"] or -1) > 0, 5,
               what="a Redis round trip")


def test_error_rate_alert_follows_malformed_messages(bridge, clients, redis_server):
    b = bridge("--health-check-interval", "1")
    s = clients.sse(b.port, "/events?channels=alpha")
    s.connected()
    redis_server.wait_subscribed(["alpha"])
    pub = redis_server.client()
    for _ in range(10):
        pub.publish("alpha", "\x1e{broken")
    wait_until(lambda: _alert_active(b.port, "error_rate"), 6, what="error_rate raised")
    detail = [a for a in get_json(b.port, "/sse/metrics")["alerts"] if a["name"] == "error_rate"][0]["detail"]
    assert detail.startswith("10 errors"), detail
    # a quiet interval clears it
    wait_until(lambda: not _alert_active(b.port, "error_rate"), 6, what="error_rate cleared")


def test_dashboard_stream_sends_live_figures_and_the_page_is_self_contained(bridge, clients, redis_server):
    b = bridge()
    page = get(b.port, "/sse/dashboard")
    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.header("Content-Security-Policy")
    html = page.body.decode("utf-8")
    assert "<canvas" in html and "metrics/stream" in html
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html), "the page loads something from elsewhere"

    watch = clients.sse(b.port, "/sse/metrics/stream", name="dashboard")
    watch.read_head()
    assert watch.status == 200
    ev = watch.wait_event(lambda e: e.type == "metrics", 5, "a metrics event")
    first = json.loads(ev.data)
    assert first["bridge"] == "it-bridge" and first["connections"] == 0 and first["redis"]["up"] is True

    s = clients.sse(b.port, "/events?channels=alpha")
    s.connected()
    ev = watch.wait_event(lambda e: e.type == "metrics" and json.loads(e.data)["connections"] == 1, 5,
                          "a metrics event with one connection")
    redis_server.wait_subscribed(["alpha"])
    pub = redis_server.client()
    for i in range(20):
        pub.publish("alpha", envelope(str(i), ts=time.time() * 1000))
    ev = watch.wait_event(lambda e: e.type == "metrics" and json.loads(e.data)["events_per_s"] > 0, 5,
                          "a metrics event with events flowing")
    data = json.loads(ev.data)
    assert data["latency_ms"]["p50"] is not None and data["latency_ms"]["p99"] >= data["latency_ms"]["p50"]
    # the dashboard streams are not client streams
    assert b.healthz()["connections"] == 1
    # POST is refused
    resp = http_request(b.port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert resp.status == 405


def test_json_logs_are_one_object_per_line_with_stream_open_and_close(bridge, clients):
    b = bridge("--log-format", "json")
    s = clients.sse(b.port, "/events?channels=alpha&client_id=jlog")
    s.connected()
    s.close()
    wait_until(lambda: b.healthz()["connections"] == 0, 5, what="the stream closed")
    wait_until(lambda: '"stream closed"' in b.stderr(), 5, what="the close logged")
    lines = [json.loads(ln) for ln in b.stderr().splitlines() if ln.strip()]
    assert all({"ts", "level", "msg"} <= set(o) for o in lines), lines
    assert {o["level"] for o in lines} <= {"debug", "info", "warn", "error"}
    opened = [o for o in lines if o["msg"] == "stream opened"]
    closed = [o for o in lines if o["msg"] == "stream closed"]
    assert opened and opened[0]["client_id"] == "jlog" and opened[0]["channels"] == 1, opened
    assert closed and closed[0]["client_id"] == "jlog" and closed[0]["reason"] == "client closed", closed
    assert isinstance(closed[0]["duration_s"], float) and closed[0]["duration_s"] >= 0


def test_log_format_logfmt_and_a_bad_value(bridge, bridge_bin):
    b = bridge("--log-format", "logfmt")
    first = b.stderr().splitlines()[0]
    assert re.match(r'^ts=\S+Z level=(info|debug|warn|error) msg="', first), first
    p = subprocess.run([bridge_bin, "--log-format", "yaml"], capture_output=True, timeout=10)
    assert p.returncode == 2
    assert p.stderr.decode() == ("sse-bridge: invalid value 'yaml' for --log-format: expected one of text, "
                                 "logfmt, json\n")


def test_a_stream_falling_behind_is_unhealthy_and_raises_queue_pressure_until_it_catches_up(bridge, clients,
                                                                                           redis_server):
    # A large queue cap: the stream is never cut, only behind.
    b = bridge("--health-check-interval", "1", "--max-queue-bytes", "268435456")
    ok = clients.sse(b.port, "/events?channels=alpha&client_id=fine")
    ok.connected()
    slow = HTTPConnection(b.port, rcvbuf=4096)
    try:
        slow.send(b"GET /events?channels=beta&client_id=behind HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: b.healthz()["connections"] == 2, 5, what="both streams open")
        redis_server.wait_subscribed(["beta"])
        pub = redis_server.client()
        big = "z" * 65536

        def behind():
            pub.publish("beta", big)
            cur = get_json(b.port, "/sse/metrics")["current"]
            return cur is not None and cur["healthy_connections"] == 1 and "queue_pressure" in cur["alerts"]

        # Its queue grows check after check: unhealthy, and 1 of 2 streams is over the 10 % share.
        wait_until(behind, 15, interval=0.05, what="the stream that does not read counted unhealthy")
        # Between checks a stream is unhealthy while its queue is above the
        # last check's: so while the publishing goes on.
        wait_until(lambda: pub.publish("beta", big) and get_json(b.port, "/sse/health")["health"][
            "current_metrics"]["healthy_connections"] == 1, 10, interval=0.02, what="/sse/health: 1 healthy")
        wait_until(lambda: pub.publish("beta", big) and v(scrape(b.port), "sse_bridge_healthy_connections") == 1,
                   10, interval=0.02, what="/metrics: 1 healthy")
        assert b.counters()["slow_consumer_drops"] == 0

        # It reads everything: healthy again, the alert clears.
        slow.sock.setblocking(False)

        def caught_up():
            try:
                while slow.sock.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
            cur = get_json(b.port, "/sse/metrics")["current"]
            return cur["healthy_connections"] == 2 and cur["alerts"] == []
        wait_until(caught_up, 15, interval=0.05, what="the stream healthy again and the alert cleared")
    finally:
        slow.close()


def test_every_replica_is_shown_with_its_own_figures(bridge, clients, redis_server):
    # Short leases: the mirrored counters are renewed every 300 ms.
    a = bridge("--lease-ms", "900", bridge_id="rep-a")
    b = bridge("--lease-ms", "900", bridge_id="rep-b")
    clients.sse(a.port, "/events?channels=alpha").connected()
    for _ in range(2):
        clients.sse(b.port, "/events?channels=alpha").connected()

    def replicas():
        return {r["id"]: r for r in get_json(a.port, "/sse/metrics")["replicas"]}

    wait_until(lambda: {k: r["connections"] for k, r in replicas().items()} == {"rep-a": 1, "rep-b": 2}, 15,
               what="both replicas with their connections")
    rs = replicas()
    assert rs["rep-b"]["healthy"] == 2 and rs["rep-b"]["redis_up"] is True, rs
    # the dashboard stream carries them too
    watch = clients.sse(a.port, "/sse/metrics/stream", name="dashboard")
    ev = watch.wait_event(lambda e: e.type == "metrics" and json.loads(e.data)["cluster"] is not None
                          and len(json.loads(e.data)["cluster"]["replicas"]) == 2, 10, "two replicas")
    cl = json.loads(ev.data)["cluster"]
    assert [r["id"] for r in cl["replicas"]] == ["rep-a", "rep-b"], cl
    assert cl["bridges"] == 2 and cl["connections"] == 3, cl
