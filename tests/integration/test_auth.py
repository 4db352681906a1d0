"""Identity and authorization with --auth-secret: HS256 tokens signed by the
app (scripts/sse_publish.make_token, PyJWT) open streams on the channels they
grant; every bad token gets 401/403 with a JSON error; a stream closes when
its token expires; without a token no one receives another client's
targeted events or private channels. And CORS with --cors-origins."""

import base64
import json
import sys
import time
from pathlib import Path

import jwt as pyjwt
import pytest

from helpers import assert_json_error, wait_until
from sse_client import get, http_request

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from sse_publish import make_token, publish  # noqa: E402

SECRET = "a-test-secret-of-more-than-32-bytes-0123456789"
CHANNELS = "alpha,beta,news,private"


@pytest.fixture
def authed(bridge):
    return bridge("--auth-secret", SECRET, "--public-channels", "news", channels=CHANNELS)


def b64(obj):
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(sub="alice", channels=("alpha",), ttl=600, **extra):
    now = int(time.time())
    c = {"sub": sub, "channels": list(channels), "iat": now, "exp": now + ttl}
    c.update(extra)
    return c


def refused(b, query, headers=()):
    """The whole answer to GET /events?query (an error is expected)."""
    req = "GET /events?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % query
    req += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return http_request(b.port, req.encode())


def test_a_valid_token_in_the_query_or_the_header_opens_the_stream_as_its_subject(authed, clients, redis_server):
    tok = make_token(SECRET, "alice", ["alpha", "beta"], ttl=600)
    c = clients.sse(authed.port, "/events?channels=alpha&token=" + tok)
    hello = c.connected().json()
    assert hello["client_id"] == "alice" and hello["channels"] == ["alpha"]
    c2 = clients.sse(authed.port, "/events?channels=alpha,beta", headers=[("Authorization", "Bearer " + tok)])
    assert c2.connected().json()["client_id"] == "alice"
    redis_server.wait_subscribed(["alpha", "beta"])
    r = redis_server.client()
    publish(r, "beta", {"n": 1}, history=False)
    ev = c2.next_event(timeout=10)
    assert (ev.type, ev.json()["n"]) == ("beta", 1)


@pytest.mark.parametrize("make, status, code", [
    (lambda: pyjwt.encode(claims(ttl=-100), SECRET, algorithm="HS256"), 401, "token_expired"),
    (lambda: pyjwt.encode(claims(), "another-secret-of-more-than-32-bytes-xx", algorithm="HS256"), 401,
     "token_signature"),
    (lambda: b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims()) + ".", 401, "token_algorithm"),
    (lambda: pyjwt.encode(claims(), SECRET, algorithm="HS512"), 401, "token_algorithm"),
    (lambda: pyjwt.encode(claims(channels=["beta"]), SECRET, algorithm="HS256"), 403, "channel_forbidden"),
    (lambda: "e30*.e30.AAAA", 401, "token_malformed"),
    (lambda: pyjwt.encode(claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256"), 401,
     "token_not_yet_valid"),
    (lambda: pyjwt.encode({"sub": "alice", "channels": ["alpha"]}, SECRET, algorithm="HS256"), 401,
     "token_claims"),
    (lambda: pyjwt.encode(claims(pad="x" * 5000), SECRET, algorithm="HS256"), 401, "token_too_large"),
])
def test_bad_tokens_are_refused_with_the_status_and_code_and_nothing_else_breaks(
        authed, clients, redis_server, make, status, code):
    watcher = clients.sse(authed.port, "/events?channels=news")
    watcher.connected()
    tok = make()
    # Too long for the URL: the oversized token goes in the header.
    r = refused(authed, "channels=alpha", [("Authorization", "Bearer " + tok)])
    body = assert_json_error(r, status, code)
    if status == 401:
        assert r.header("WWW-Authenticate", "").startswith("Bearer realm=\"sse-bridge\"")
    assert tok not in body["error"]
    if len(tok) < 1500:
        assert_json_error(refused(authed, "channels=alpha&token=" + tok), status, code)
    redis_server.wait_subscribed(["news"])
    redis_server.publish("news", "still here")
    ev = watcher.next_event(timeout=10)
    assert (ev.type, ev.data) == ("news", "still here")
    assert authed.counters()["auth_failures"] >= 1


def test_an_authorization_header_that_is_not_bearer_is_refused(authed, clients):
    r = refused(authed, "channels=alpha", [("Authorization", "Basic YWxpY2U6cHc=")])
    assert_json_error(r, 401, "token_malformed")


def test_the_stream_ends_with_token_expired_when_its_token_expires(bridge, clients):
    b = bridge("--auth-secret", SECRET, "--token-skew", "0", channels=CHANNELS)
    tok = make_token(SECRET, "alice", ["alpha"], ttl=2)
    c = clients.sse(b.port, "/events?channels=alpha&token=" + tok)
    c.connected()
    t0 = time.monotonic()
    ev = c.next_event(timeout=10)
    assert ev.type == "system" and ev.json()["status"] == "token_expired", ev
    assert time.monotonic() - t0 < 4.0
    assert c.wait_closed(5), "the stream stayed open after its token expired"
    assert b.counters()["tokens_expired"] == 1


def test_without_a_token_no_one_gets_private_channels_or_another_clients_targeted_events(
        authed, clients, redis_server):
    # Private channel, no token: 401.
    r = refused(authed, "channels=private")
    assert_json_error(r, 401, "token_required")
    # Claiming a client id without proof: 401.
    r = refused(authed, "channels=news&client_id=bob")
    assert_json_error(r, 401, "token_required")
    # A token for alice cannot claim bob.
    tok = make_token(SECRET, "alice", ["alpha"], ttl=600)
    r = refused(authed, "channels=alpha&client_id=bob&token=" + tok)
    assert_json_error(r, 403, "client_id_mismatch")
    # Public channel without a token: a stream with no client id.
    anon = clients.sse(authed.port, "/events?channels=news")
    assert anon.connected().json()["client_id"] is None
    bob = clients.sse(authed.port, "/events?channels=news&token=" + make_token(SECRET, "bob", [], ttl=600))
    assert bob.connected().json()["client_id"] == "bob"
    alice = clients.sse(authed.port, "/events?channels=news&token=" + tok)
    alice.connected()
    redis_server.wait_subscribed(["news"])
    r = redis_server.client()
    publish(r, "news", {"for": "bob"}, target="bob", history=False)
    publish(r, "news", {"for": "all"}, history=False)
    ev = bob.next_event(timeout=10)
    assert ev.json() == {"for": "bob"}
    for client in (anon, alice):
        ev = client.next_event(timeout=10)
        assert ev.json() == {"for": "all"}, "a targeted event reached the wrong client: %r" % ev


def test_a_prefix_grant_allows_the_family_only(bridge, clients):
    b = bridge("--auth-secret", SECRET, channels="user:*")
    tok = make_token(SECRET, "u42", ["user:42:*"], ttl=600)
    ok = clients.sse(b.port, "/events?channels=user:42:jobs&token=" + tok)
    ok.connected()
    r = refused(b, "channels=user:43:jobs&token=" + tok)
    assert_json_error(r, 403, "channel_forbidden")


def test_without_a_secret_the_bridge_warns_that_client_ids_are_not_proven(bridge):
    b = bridge()
    assert "no --auth-secret: client ids are claimed, not proven" in b.stderr()


def test_the_secret_can_come_from_a_file_and_never_reaches_the_log(bridge, clients, tmp_path):
    f = tmp_path / "secret"
    f.write_text(SECRET + "\n")
    b = bridge("--auth-secret-file", str(f), channels=CHANNELS)
    c = clients.sse(b.port, "/events?channels=alpha&token=" + make_token(SECRET, "alice", ["alpha"]))
    c.connected()
    assert SECRET not in b.stderr()
    assert "no --auth-secret" not in b.stderr()


def test_a_short_secret_is_refused_at_start_without_echoing_it(bridge_bin):
    import subprocess
    r = subprocess.run([bridge_bin, "--auth-secret", "short-secret"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert r.stderr.strip() == ("sse-bridge: invalid value '***' for --auth-secret: expected 32 to 1024 bytes "
                                "(an HS256 key shorter than 32 bytes is weak)")


# --- CORS -----------------------------------------------------------------------


def raw(port, target, headers, method="GET"):
    req = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, target)
    req += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return http_request(port, req.encode())


def test_cors_allowed_origin_gets_its_headers_on_the_stream_and_on_errors(bridge, clients):
    b = bridge("--cors-origins", "https://app.example.com,http://localhost:5000")
    c = clients.sse(b.port, "/events?channels=alpha", headers=[("Origin", "https://app.example.com")])
    c.connected()
    h = c.response
    assert h.header("Access-Control-Allow-Origin") == "https://app.example.com"
    assert h.header("Access-Control-Allow-Credentials") == "true"
    assert "Origin" in h.headers_named("Vary")
    err = raw(b.port, "/events?channels=nope", [("Origin", "http://localhost:5000")])
    assert err.status == 403 and err.header("Access-Control-Allow-Origin") == "http://localhost:5000"
    # Same-origin pages and services send no Origin: served, no CORS headers.
    plain = clients.sse(b.port, "/events?channels=alpha")
    plain.connected()
    assert plain.response.header("Access-Control-Allow-Origin") is None
    # A page from elsewhere is refused before it takes a slot.
    bad = raw(b.port, "/events?channels=alpha", [("Origin", "https://evil.example.net")])
    assert_json_error(bad, 403, "origin_forbidden")
    assert bad.header("Access-Control-Allow-Origin") is None


def test_cors_preflight_is_answered_for_allowed_origins_only(bridge):
    b = bridge("--cors-origins", "https://app.example.com")
    pre = [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET"),
           ("Access-Control-Request-Headers", "authorization, last-event-id")]
    r = raw(b.port, "/events?channels=alpha", pre, method="OPTIONS")
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") == "https://app.example.com"
    assert "GET" in r.header("Access-Control-Allow-Methods")
    allowed = r.header("Access-Control-Allow-Headers").lower()
    assert "authorization" in allowed and "last-event-id" in allowed
    r = raw(b.port, "/events", [("Origin", "https://evil.example.net"), ("Access-Control-Request-Method", "GET")],
            method="OPTIONS")
    assert_json_error(r, 403, "origin_forbidden")


def test_cors_wildcard_allows_any_origin_without_credentials(bridge, clients):
    b = bridge("--cors-origins", "*")
    c = clients.sse(b.port, "/events?channels=alpha", headers=[("Origin", "https://anything.example")])
    c.connected()
    assert c.response.header("Access-Control-Allow-Origin") == "*"
    assert c.response.header("Access-Control-Allow-Credentials") is None


def test_without_cors_origins_there_are_no_cors_headers_and_options_is_405(bridge, clients):
    b = bridge()
    c = clients.sse(b.port, "/events?channels=alpha", headers=[("Origin", "https://app.example.com")])
    c.connected()
    assert c.response.header("Access-Control-Allow-Origin") is None
    r = raw(b.port, "/events", [("Origin", "https://app.example.com")], method="OPTIONS")
    assert_json_error(r, 405, "method_not_allowed")
