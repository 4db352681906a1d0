"""EnhancedSSEClient with --auth-secret in Chromium: the page's token
function gives a short-lived token, the bridge ends the stream when it
expires (system token_expired), and the client reconnects at once with the
next token from the function, resuming where it left off."""

import json
import time

from sse_publish import make_token, publish
from test_browser_client import CLIENT_EVENTS, channel_events, make_client, of, open_page, r, start, wait_count  # noqa: F401

SECRET = "browser-test-secret-of-more-than-32-bytes"


def test_an_expired_token_is_replaced_by_the_token_function_and_nothing_is_lost(
        bridge, browser, redis_server, r):  # noqa: F811
    b = start(bridge, "--auth-secret", SECRET, "--token-skew", "0")
    open_page(browser, b.port)
    tokens = [make_token(SECRET, "tab-1", ["alpha"], ttl=2), make_token(SECRET, "tab-1", ["alpha"], ttl=600)]
    browser.eval("window.tokens = %s; window.asked = 0; true" % json.dumps(tokens))
    browser.eval("""(() => {
        const c = new EnhancedSSEClient('/events?channels=alpha', {
            baseReconnectDelay: 50, maxReconnectDelay: 100, heartbeatTimeout: 10000,
            token: () => { window.asked++; return Promise.resolve(window.tokens.shift()); },
        });
        for (const t of %s.concat(['alpha', 'token_expired']))
            c.addEventListener(t, (d) => rec(t, d));
        window.client = c;
        c.connect();
        return true;
    })()""" % json.dumps(CLIENT_EVENTS))
    wait_count(browser, "enhanced_connected", 1)
    redis_server.wait_subscribed(["alpha"])
    first = publish(r, "alpha", {"n": 1})
    wait_count(browser, "alpha", 1)
    wait_count(browser, "token_expired", 1, timeout=8)
    # Published while the client changes tokens: resumed, not lost.
    second = publish(r, "alpha", {"n": 2})
    wait_count(browser, "enhanced_connected", 2, timeout=8)
    third = publish(r, "alpha", {"n": 3})
    deadline = time.monotonic() + 10
    got = []
    while time.monotonic() < deadline:
        got = channel_events(browser, ["alpha"])
        if len(got) >= 3:
            break
        time.sleep(0.05)
    assert [e["d"]["data"]["n"] for e in got] == [1, 2, 3], got
    assert [e["d"]["id"] for e in got] == [first, second, third]
    assert browser.eval("window.asked") == 2
    assert b.counters()["tokens_expired"] == 1
    browser.eval("client.close()")
