"""--reuseport lets several bridge processes share one port (the kernel
spreads connections); --coalesce-ms batches writes without losing or
reordering anything."""

import json

from helpers import free_port, wait_until
from sse_client import SSEClient


def _bridge_of(client):
    ev = client.next_event(timeout=5)
    assert ev.type == "connected"
    return json.loads(ev.data)["bridge"]


def test_two_bridges_with_reuseport_share_one_port_and_both_deliver(bridge, redis_server):
    port = free_port()
    listen = "127.0.0.1:%d" % port
    a = bridge("--listen", listen, "--reuseport", bridge_id="bridge-a")
    b = bridge("--listen", listen, "--reuseport=on", bridge_id="bridge-b")
    assert a.port == b.port == port
    clients = [SSEClient(port, "/events?channels=alpha") for _ in range(40)]
    try:
        owners = [_bridge_of(c) for c in clients]
        # 40 connections hashed over two listeners: both get some (a miss
        # would have odds of 2^-39).
        assert set(owners) == {"bridge-a", "bridge-b"}, owners
        # Readiness was probed through the shared port, so wait for both
        # bridges' subscriptions (one each) before publishing.
        r = redis_server.client()
        wait_until(lambda: dict(r.pubsub_numsub("alpha"))[b"alpha"] == 2, 10, what="two subscribers")
        assert redis_server.publish("alpha", "to everyone") == 2
        for c in clients:
            # A stream that reached a bridge before its Redis link was up
            # was told "degraded" (and then "recovered") first.
            ev = c.next_event(timeout=5, skip_types=("system",))
            assert (ev.type, ev.data) == ("alpha", "to everyone")
    finally:
        for c in clients:
            c.close()


def test_a_second_bridge_without_reuseport_exits_1_naming_the_address(bridge):
    port = free_port()
    listen = "127.0.0.1:%d" % port
    bridge("--listen", listen, "--reuseport", bridge_id="first")
    second = bridge("--listen", listen, bridge_id="second", wait=False)
    assert second.wait_exit(10) == 1
    assert "cannot listen on 127.0.0.1:%d: address already in use" % port in second.stderr()


def test_coalesced_writes_deliver_every_message_in_order(bridge, redis_server):
    b = bridge("--coalesce-ms", "20")
    clients = [SSEClient(b.port, "/events?channels=alpha") for _ in range(3)]
    try:
        for c in clients:
            assert c.next_event(timeout=5).type == "connected"
        redis_server.wait_subscribed(["alpha"])
        for i in range(300):
            redis_server.publish("alpha", "m%d" % i)
        for c in clients:
            got = [c.next_event(timeout=5).data for _ in range(300)]
            assert got == ["m%d" % i for i in range(300)]
    finally:
        for c in clients:
            c.close()
