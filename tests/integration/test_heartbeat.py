"""Heartbeats: every --heartbeat-interval seconds, to every stream."""

import re
import time

from helpers import BRIDGE_ID, now_ms

HEARTBEAT_RE = re.compile(rb'\Aevent: heartbeat\ndata: \{"ts":(\d+),"bridge":"' + BRIDGE_ID.encode() + rb'"\}\n\n\Z')


def test_heartbeat_reaches_every_stream_each_interval_with_plausible_timestamp(bridge, clients):
    b = bridge("--heartbeat-interval", "1")
    streams = [clients.sse(b.port, "/events?channels=alpha", name="s1"),
               clients.sse(b.port, "/stream?channel=beta", name="s2")]
    for c in streams:
        assert c.connected().json()["heartbeat_interval"] == 1
    t0 = now_ms()
    # read every stream round-robin, so each event's arrival time is accurate
    beats = lambda c: [e for e in c.events if e.type == "heartbeat"]
    deadline = time.monotonic() + 4.5
    while any(len(beats(c)) < 3 for c in streams):
        assert time.monotonic() < deadline, "fewer than 3 heartbeats in 4.5 s: %r" % [c.events for c in streams]
        for c in streams:
            c.quiet_for(0.02)
    for c in streams:
        assert [e.type for e in c.events[1:4]] == ["heartbeat"] * 3, c.events
        hbs = beats(c)[:3]
        ts = []
        for h in hbs:
            m = HEARTBEAT_RE.match(h.raw)
            assert m, "heartbeat block not as specified: %r" % h.raw
            ts.append(int(m.group(1)))
            assert t0 - 2000 <= ts[-1] <= now_ms() + 2000, "heartbeat ts %d is not near now (%d)" % (ts[-1], now_ms())
        for a, z in zip(ts, ts[1:]):
            assert 600 <= z - a <= 1600, "heartbeat ts spacing %d ms for --heartbeat-interval 1" % (z - a)
        for a, z in zip(hbs, hbs[1:]):
            assert 0.5 <= z.t - a.t <= 1.7, "heartbeats arrived %.2f s apart" % (z.t - a.t)
    assert b.counters()["heartbeats_sent"] >= 6

