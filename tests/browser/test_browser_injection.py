"""Hostile publisher content in a real browser: Chromium's native
EventSource receives each injection attempt (event with LF, id with
CRLF + "event: x", data with "\\n\\ndata: evil", NUL, invalid UTF-8, lone CR)
as exactly one event; line breaks in event and id are dropped, the data
arrives as the WHATWG parser defines, and no extra event or field appears."""

import json

from test_browser_client import open_page, r, start  # noqa: F401  (r is a fixture)

ENVELOPE = b"\x1e"


def envelope(obj):
    return ENVELOPE + json.dumps(obj).encode()


def test_injection_attempts_reach_the_browser_as_exactly_one_event_each(bridge, browser, redis_server, r):  # noqa: F811
    b = start(bridge)
    open_page(browser, b.port)
    browser.eval("""(() => {
        window.seen = [];
        window.nativeConnected = false;
        const es = new EventSource('/events?channels=alpha');
        window.es = es;
        es.addEventListener('connected', () => { window.nativeConnected = true; });
        for (const t of ['alpha', 'progress', 'pro', 'gress', 'x', 'evil', 'message', 'done'])
            es.addEventListener(t, (e) => seen.push({type: t, data: e.data, id: e.lastEventId}));
        return true;
    })()""")
    browser.wait("nativeConnected", 10, what="the native EventSource's connected event")
    redis_server.wait_subscribed(["alpha"])
    attempts = [
        envelope({"event": "pro\ngress", "data": "one"}),
        envelope({"event": "alpha", "id": "7\r\nevent: x", "data": "two"}),
        b"three\n\ndata: evil\n\nevent: x\ndata: more",
        envelope({"event": "alpha", "data": "four\r\n\r\nevent: evil\r\ndata: x"}),
        b"a\x00b\xff\xfe end",
        b"c1\rc2\r\rc3",
        envelope({"event": "done", "data": "last"}),
    ]
    for raw in attempts:
        assert r.publish("alpha", raw) == 1
    browser.wait("seen.some((e) => e.type === 'done')", 10, what="the last event")
    seen = browser.eval("seen")
    assert seen == [
        {"type": "progress", "data": "one", "id": "0-0@alpha"},  # the connected event's cursor
        {"type": "alpha", "data": "two", "id": "7event: x"},
        {"type": "alpha", "data": "three\n\ndata: evil\n\nevent: x\ndata: more", "id": "7event: x"},
        {"type": "alpha", "data": "four\n\nevent: evil\ndata: x", "id": "7event: x"},
        {"type": "alpha", "data": "a\x00b\ufffd\ufffd end", "id": "7event: x"},
        {"type": "alpha", "data": "c1\nc2\n\nc3", "id": "7event: x"},
        {"type": "done", "data": "last", "id": "7event: x"},
    ], seen
    browser.eval("es.close()")
