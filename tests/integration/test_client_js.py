"""GET /sse-client.js and /sse-client.mjs: the browser client, embedded in the
binary at build time, served with an ETag (304 when the browser's copy is
current), caching headers and a JavaScript Content-Type."""

import re
from pathlib import Path

import pytest

from helpers import assert_json_error
from sse_client import HTTPConnection, get, http_request

STATIC = Path(__file__).resolve().parents[2] / "bridge" / "static"
FILES = [("/sse-client.js", "sse-client.js"), ("/sse-client.mjs", "sse-client.mjs")]


def request(port, method, target, headers=(), keep_alive=False):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1:%d" % port]
    lines += ["%s: %s" % h for h in headers]
    if not keep_alive:
        lines.append("Connection: close")
    lines += ["", ""]
    return "\r\n".join(lines).encode("latin-1")


@pytest.mark.parametrize("path,name", FILES)
def test_get_answers_200_with_the_file_byte_for_byte_and_caching_headers(bridge, path, name):
    b = bridge()
    r = get(b.port, path)
    assert r.status == 200, r
    assert r.body == (STATIC / name).read_bytes(), "served bytes differ from bridge/static/%s" % name
    assert r.header("Content-Type") == "text/javascript; charset=utf-8", r
    assert int(r.header("Content-Length")) == len(r.body)
    assert re.fullmatch(r'"[0-9a-f]{16}-[0-9a-f]+"', r.header("ETag") or ""), r
    assert r.header("Cache-Control") == "public, max-age=300", r
    assert r.header("X-Content-Type-Options") == "nosniff", r
    assert r.header("Access-Control-Allow-Origin") == "*", r


def test_the_two_files_have_different_etags_and_a_query_string_is_ignored(bridge):
    b = bridge()
    js, mjs = get(b.port, "/sse-client.js"), get(b.port, "/sse-client.mjs?v=1")
    assert mjs.status == 200 and mjs.body == (STATIC / "sse-client.mjs").read_bytes()
    assert js.header("ETag") != mjs.header("ETag")


def test_the_etag_is_stable_across_requests_and_restarts(bridge):
    a = bridge()
    e1 = get(a.port, "/sse-client.js").header("ETag")
    e2 = get(a.port, "/sse-client.js").header("ETag")
    b = bridge(bridge_id="other")
    assert e1 == e2 == get(b.port, "/sse-client.js").header("ETag")


@pytest.mark.parametrize("inm", ["{etag}", "W/{etag}", '"nope", {etag}', "*", ' "x" ,  W/{etag} '])
def test_if_none_match_with_the_current_etag_answers_304_without_a_body(bridge, inm):
    b = bridge()
    etag = get(b.port, "/sse-client.js").header("ETag")
    r = get(b.port, "/sse-client.js", headers=[("If-None-Match", inm.format(etag=etag))])
    assert r.status == 304, r
    assert r.body == b"" and r.header("Content-Length") is None, r
    assert r.header("ETag") == etag and r.header("Cache-Control") == "public, max-age=300", r


@pytest.mark.parametrize("inm", ['"0000000000000000-1"', 'W/"stale"', '"' + "a" * 400 + '"'])
def test_if_none_match_with_another_etag_answers_200_with_the_body(bridge, inm):
    b = bridge()
    r = get(b.port, "/sse-client.js", headers=[("If-None-Match", inm)])
    assert r.status == 200 and r.body == (STATIC / "sse-client.js").read_bytes(), r


def test_head_answers_the_headers_of_get_without_a_body(bridge):
    b = bridge()
    g = get(b.port, "/sse-client.js")
    c = HTTPConnection(b.port)
    try:
        c.send(request(b.port, "HEAD", "/sse-client.js"))
        r = c.read_response(head_only=True)
        assert c.wait_closed(5), "the connection stayed open after a HEAD with Connection: close"
        assert bytes(c.buf) == b"", "HEAD sent a body: %r" % bytes(c.buf[:80])
    finally:
        c.close()
    assert r.status == 200, r
    for h in ("Content-Type", "Content-Length", "ETag", "Cache-Control"):
        assert r.header(h) == g.header(h), (h, r, g)


def test_keep_alive_serves_get_304_and_head_then_another_route_on_one_connection(bridge):
    b = bridge()
    c = HTTPConnection(b.port)
    try:
        c.send(request(b.port, "GET", "/sse-client.js", keep_alive=True))
        r1 = c.read_response()
        etag = r1.header("ETag")
        c.send(request(b.port, "GET", "/sse-client.js", [("If-None-Match", etag)], keep_alive=True))
        r2 = c.read_response(head_only=True)
        c.send(request(b.port, "HEAD", "/sse-client.mjs", keep_alive=True))
        r3 = c.read_response(head_only=True)
        c.send(request(b.port, "GET", "/healthz", keep_alive=True))
        r4 = c.read_response()
    finally:
        c.close()
    assert r1.status == 200 and r1.header("Connection") is None, r1
    assert r2.status == 304, r2
    assert r3.status == 200 and int(r3.header("Content-Length")) == len((STATIC / "sse-client.mjs").read_bytes())
    assert r4.status == 200 and r4.json()["status"] == "ok", r4


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_get_405_with_allow_get_head(bridge, method):
    b = bridge()
    raw = request(b.port, method, "/sse-client.js", [("Content-Length", "0")])
    r = http_request(b.port, raw)
    assert_json_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET, HEAD", r


def test_similar_paths_are_not_found(bridge):
    b = bridge()
    for path in ("/sse-client.jsx", "/sse-client", "/static/sse-client.js", "/SSE-CLIENT.JS"):
        assert_json_error(get(b.port, path), 404, "not_found")


def test_the_stream_routes_still_allow_get_only(bridge):
    b = bridge()
    r = http_request(b.port, request(b.port, "HEAD", "/healthz"))
    assert_json_error(r, 405, "method_not_allowed")
    assert r.header("Allow") == "GET", r
