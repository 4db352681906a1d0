"""Many streams, clients that vanish (even with writes pending), and
channels whose last stream leaves and comes back: the bridge keeps
delivering, keeps its counts right and (under ASan) stays clean."""

import socket
import struct
import time

from helpers import expect_body, sse_block, wait_until
from sse_client import HTTPConnection


def reset_close(sock):
    """Closes with an RST (SO_LINGER 0), as a crashed client would."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def gets_probe(redis_server, client, channel, timeout=5.0):
    """Publishes probes on channel until client receives one (bounded).
    For a subscription whose readiness cannot be observed from outside."""
    deadline = time.monotonic() + timeout
    k = 0
    while time.monotonic() < deadline:
        redis_server.publish(channel, "probe-%d" % k)
        k += 1
        try:
            ev = client.next_event(0.15)
        except TimeoutError:
            continue
        assert ev.data.startswith("probe-"), ev
        return True
    return False


def test_message_reaches_a_hundred_streams_byte_exact(bridge, clients, redis_server):
    b = bridge()
    streams = [clients.sse(b.port, "/events?channels=alpha&client_id=n%d" % i, name="n%d" % i) for i in range(100)]
    evs = [c.connected() for c in streams]
    assert b.healthz()["connections"] == 100
    redis_server.wait_subscribed(["alpha"])
    for i in range(3):
        assert redis_server.publish("alpha", "to all %d" % i) >= 1
    want = b"".join(sse_block("alpha", "to all %d" % i) for i in range(3))
    for c, ev in zip(streams, evs):
        expect_body(c, ev, want)
    assert b.counters()["events_sent"] == 300


def test_clients_that_vanish_abruptly_are_cleaned_up_and_the_rest_still_get_messages(bridge, clients, redis_server):
    b = bridge()
    streams = [clients.sse(b.port, "/events?channels=alpha,beta", name="v%d" % i) for i in range(20)]
    evs = [c.connected() for c in streams]
    redis_server.wait_subscribed(["alpha", "beta"])
    for c in streams[::2]:
        reset_close(c.sock)  # half reset
    for c in streams[1::4]:
        c.close()  # a quarter close cleanly
    for i in range(5):
        redis_server.publish("alpha", "after vanish %d" % i)
    wait_until(lambda: b.healthz()["connections"] == 5, 5, what="5 streams left")
    assert redis_server.publish("beta", "last") >= 1
    want = b"".join(sse_block("alpha", "after vanish %d" % i) for i in range(5)) + sse_block("beta", "last")
    for c, ev in list(zip(streams, evs))[3::4]:
        expect_body(c, ev, want)
    h = b.healthz()
    assert h["counters"]["connections_opened"] == 20
    assert h["counters"]["connections_closed"] == 15


def test_client_that_vanishes_with_writes_pending_is_cleaned_up(bridge, clients, redis_server):
    b = bridge("--max-queue-bytes", str(64 * 1024 * 1024))
    reader = clients.sse(b.port, "/events?channels=alpha", name="reader")
    ev = reader.connected()
    stuck = HTTPConnection(b.port, rcvbuf=4096)
    stuck.send(b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_until(lambda: b.healthz()["connections"] == 2, 5, what="both streams open")
    redis_server.wait_subscribed(["alpha"])
    big = b"z" * (128 * 1024)
    expected = b""
    for i in range(24):  # 3 MiB: the stuck socket's kernel buffers fill, a write stays pending
        assert redis_server.publish("alpha", big) >= 1
        expected += sse_block("alpha", big)
        reader.read_until(lambda c: len(c.events) >= i + 2, 10, "message %d" % i)
    reset_close(stuck.sock)
    for i in range(3):
        assert redis_server.publish("alpha", "after %d" % i) >= 1
        expected += sse_block("alpha", "after %d" % i)
    expect_body(reader, ev, expected, timeout=10)
    wait_until(lambda: b.healthz()["connections"] == 1, 5, what="the vanished stream closed")
    assert b.counters()["slow_consumer_drops"] == 0
    assert b.alive()


def test_channel_left_by_its_last_stream_and_joined_again_at_once_still_delivers(bridge, clients, redis_server):
    b = bridge()
    prev = clients.sse(b.port, "/events?channels=fam.churn", name="churn-0")
    prev.connected()
    assert gets_probe(redis_server, prev, "fam.churn"), "the first stream never got a message"
    for i in range(1, 8):
        prev.close()  # the channel's last stream leaves...
        nxt = clients.sse(b.port, "/events?channels=fam.churn", name="churn-%d" % i)  # ...and one joins at once
        nxt.connected()
        assert gets_probe(redis_server, nxt, "fam.churn"), \
            "round %d: a stream that joined the channel right after its last stream left gets nothing" % i
        prev = nxt
    wait_until(lambda: b.healthz()["connections"] == 1, 5, what="one stream left")


def test_connection_closed_before_finishing_its_request_does_not_disturb_the_bridge(bridge, clients, redis_server):
    b = bridge()
    for raw in (b"", b"GET /events?chan", b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n"):
        conn = HTTPConnection(b.port)
        if raw:
            conn.send(raw)
        reset_close(conn.sock)
    c = clients.sse(b.port, "/events?channels=alpha")
    ev = c.connected()
    redis_server.wait_subscribed(["alpha"])
    assert redis_server.publish("alpha", "fine") >= 1
    expect_body(c, ev, sse_block("alpha", "fine"))
    assert b.healthz()["connections"] == 1
