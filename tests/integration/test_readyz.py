"""/readyz tells a load balancer whether to send new clients: 200 while Redis
delivers, 503 with a reason while it is lost, 200 again once it is back;
/healthz (liveness) stays 200 throughout."""

import json

from helpers import wait_until
from sse_client import get, http_request


def _status(port, path):
    resp = get(port, path)
    return resp.status, json.loads(resp.body)


def test_readyz_follows_redis_and_healthz_stays_alive(bridge, redis_server):
    b = bridge(bridge_id="ready-1")
    status, body = _status(b.port, "/readyz")
    assert (status, body) == (200, {"status": "ready", "bridge": "ready-1"})

    port = redis_server.port
    redis_server.kill()
    wait_until(lambda: _status(b.port, "/readyz")[0] == 503, 10, what="/readyz to turn 503")
    status, body = _status(b.port, "/readyz")
    assert body == {"status": "not_ready", "reason": "redis_unavailable", "bridge": "ready-1"}
    assert _status(b.port, "/healthz")[0] == 200

    redis_server.start(port=port)
    wait_until(lambda: _status(b.port, "/readyz")[0] == 200, 15, what="/readyz to turn 200 again")


def test_readyz_answers_only_get(bridge):
    b = bridge()
    resp = http_request(b.port, b"POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert resp.status == 405
    assert json.loads(resp.body)["code"] == "method_not_allowed"
