"""gzip streams: negotiation (Accept-Encoding with q-values, ?compression=,
--compression), the wire format (one gzip member, one raw-deflate segment per
SSE block ending in a sync flush, stored blocks at or under the threshold, a
clean end that `gzip -t` accepts), promptness, equality with the identity
stream, compress-once fan-out and the /sse/health compression figures.

Clients are real: curl --compressed -N, and a raw-socket reader that inflates
the body with zlib (wbits=31) as it arrives and parses the result with the
suite's WHATWG event-stream parser.
"""

import json
import random
import re
import signal
import subprocess
import threading
import time
import zlib

import pytest

from helpers import assert_json_error, describe_mismatch, expect_body, sse_block, wait_until
from sse_client import EventStreamParser, HTTPConnection, StreamClosed, _StreamMixin, get, get_json

GZIP_HEADER_PREFIX = b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate
SYNC_FLUSH_MARK = b"\x00\x00\xff\xff"  # the empty stored block a sync flush ends with
DEFAULT_THRESHOLD = 1024


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class GzipSSEClient(_StreamMixin):
    """An SSE reader over a raw socket that asks for gzip and inflates the
    body (zlib, wbits=31: one gzip member, CRC32 and ISIZE checked) as it
    arrives. `raw` holds the body bytes as they came off the wire, the parser
    (`body`, `events`) the inflated bytes."""

    def __init__(self, port, target, accept_encoding="gzip", name=None, timeout=5.0):
        self.name = name or "gzip " + target
        self._init_stream()
        self.conn = HTTPConnection(port, timeout=timeout)
        hdrs = [("Host", "127.0.0.1:%d" % port), ("Accept", "text/event-stream"), ("Cache-Control", "no-cache")]
        if accept_encoding is not None:
            hdrs.append(("Accept-Encoding", accept_encoding))
        req = "GET %s HTTP/1.1\r\n" % target + "".join("%s: %s\r\n" % h for h in hdrs) + "\r\n"
        self.conn.send(req.encode("latin-1"))
        self.response = None
        self.raw = bytearray()
        self.inflater = zlib.decompressobj(wbits=31)
        self.zerror = None

    def _feed(self, chunk, eof=False):
        if chunk:
            self.raw += chunk
            if self.zerror is None:
                try:
                    out = self.inflater.decompress(chunk)
                except zlib.error as e:
                    self.zerror = "zlib: %s after %d raw body bytes (tail %r)" % (e, len(self.raw), bytes(self.raw[-64:]))
                    raise AssertionError("%s: %s" % (self.name, self.zerror))
                self.parser.feed(out)
        if eof:
            self.parser.feed(b"", eof=True)
            self.closed = True

    def read_head(self, timeout=5.0):
        if self.response is None:
            self.response = self.conn.read_response(timeout, head_only=True)
            leftover = bytes(self.conn.buf)
            self.conn.buf.clear()
            if self.response.status == 200:
                assert_gzip_head(self.response, self.name)
                self._feed(leftover, eof=self.conn.eof)
            else:
                self.closed = self.conn.eof
        return self.response

    def _pump(self, deadline):
        if self.response is None:
            self.read_head(max(0.01, deadline - time.monotonic()))
            return
        try:
            chunk = self.conn.recv_some(deadline)
        except OSError:  # socket.timeout included: nothing arrived in time
            return
        self._feed(chunk, eof=not chunk)

    def connected(self, timeout=5.0):
        resp = self.read_head(timeout)
        assert resp.status == 200, "%s: expected 200, got %r" % (self.name, resp)
        ev = self.next_event(timeout)
        assert ev.type == "connected", "%s: first event is %r, expected 'connected'" % (self.name, ev)
        assert bytes(self.raw[:3]) == GZIP_HEADER_PREFIX, "%s: body does not start with a gzip header: %r" % (
            self.name, bytes(self.raw[:16]))
        assert self.raw[3] == 0, "%s: gzip FLG=%#x, expected 0 (a plain 10-byte header)" % (self.name, self.raw[3])
        self.connected_event = ev
        self.raw_after_hello = len(self.raw)
        return ev

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() >= deadline:
                return False
            self._pump(deadline)
        return True

    def close(self):
        self.conn.close()


class CurlCompressedClient(_StreamMixin):
    """The real curl binary with --compressed -N (it sends its own
    Accept-Encoding and inflates); stdout pumped by a thread, the response
    head written to a file with -D."""

    def __init__(self, port, target, head_path, max_time=30, name=None):
        self.name = name or "curl --compressed " + target
        self._init_stream()
        self.head_path = head_path
        self._cond = threading.Condition()
        self._pending = bytearray()
        self._eof = False
        self.proc = subprocess.Popen(
            ["curl", "-sS", "-N", "--compressed", "--max-time", str(max_time), "-D", str(head_path),
             "-H", "Accept: text/event-stream", "http://127.0.0.1:%d%s" % (port, target)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self):
        while True:
            try:
                chunk = self.proc.stdout.read1(65536)
            except (OSError, ValueError):
                chunk = b""
            with self._cond:
                if chunk:
                    self._pending += chunk
                else:
                    self._eof = True
                self._cond.notify_all()
            if not chunk:
                return

    def _pump(self, deadline):
        with self._cond:
            if not self._pending and not self._eof:
                self._cond.wait(max(0.0, min(0.2, deadline - time.monotonic())))
            chunk = bytes(self._pending)
            self._pending.clear()
            eof = self._eof
        if chunk:
            self.parser.feed(chunk)
        if eof and not chunk:
            self.parser.feed(b"", eof=True)
            self.closed = True

    def connected(self, timeout=5.0):
        ev = self.next_event(timeout)
        assert ev.type == "connected", "%s: first event is %r" % (self.name, ev)
        self.connected_event = ev
        return ev

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() >= deadline:
                return False
            self._pump(deadline)
        return True

    def head_text(self):
        with open(self.head_path, "rb") as f:
            return f.read().decode("iso-8859-1")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._thread.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


@pytest.fixture
def gz(tmp_path):
    """Factory for gzip clients (raw socket, curl), all closed at teardown."""
    made = []

    class Factory:
        def sse(self, port, target, **kw):
            c = GzipSSEClient(port, target, **kw)
            made.append(c)
            return c

        def curl(self, port, target, **kw):
            c = CurlCompressedClient(port, target, tmp_path / ("curl-head-%d.txt" % len(made)), **kw)
            made.append(c)
            return c

    yield Factory()
    for c in made:
        try:
            c.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def assert_gzip_head(resp, name="response"):
    ce = resp.headers_named("Content-Encoding")
    assert ce == ["gzip"], "%s: Content-Encoding %r, expected exactly ['gzip']: %r" % (name, ce, resp)
    vary = ",".join(resp.headers_named("Vary")).lower()
    assert "accept-encoding" in [v.strip() for v in vary.split(",")], "%s: no Vary: Accept-Encoding: %r" % (name, resp)
    assert resp.header("Content-Length") is None, "%s: a stream with Content-Length: %r" % (name, resp)
    assert resp.header("Transfer-Encoding") is None, "%s: a stream with Transfer-Encoding: %r" % (name, resp)
    ctype = resp.header("Content-Type") or ""
    assert ctype.split(";")[0].strip() == "text/event-stream", "%s: Content-Type %r" % (name, ctype)


def mask(body):
    """The per-connection fields masked: every retry: value (also as JSON
    "retry" in the data) and JSON "ts"."""
    body = re.sub(rb"(?m)^retry: \d+$", b"retry: <N>", bytes(body))
    body = re.sub(rb'"retry":\d+', b'"retry":<N>', body)
    return re.sub(rb'"ts":\d+', b'"ts":<T>', body)


WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no will more can out up about who "
         "its into them than only time some could new these two may first then do any like my now over such our man "
         "me even most made after also did many before must through back years where much your way well down should "
         "because each just those people how too little state good very make world still own see men work long get "
         "here between both life being under never day same another know while last might us great old year off "
         "come since against go came right used take three river garden letter morning window station market "
         "question answer table summer winter naïve café déjà–vu").split()


def english_text(rng, nbytes):
    """About nbytes of English-like UTF-8 text in paragraphs (LF between them)."""
    out, size = [], 0
    while size < nbytes:
        para = []
        for _ in range(rng.randint(3, 7)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
            s = " ".join(words)
            para.append(s[0].upper() + s[1:] + rng.choice([".", ".", ".", "?", "!"]))
        p = " ".join(para)
        out.append(p)
        size += len(p.encode("utf-8")) + 1
    text = "\n".join(out).encode("utf-8")[:nbytes]
    return text.decode("utf-8", "ignore").rstrip("\n").encode("utf-8")


def small_json(rng, i):
    """About 200 bytes of JSON."""
    obj = {"seq": i, "kind": "order.updated", "user": "user-%05d" % rng.randint(0, 99999),
           "at": 1700000000000 + i, "items": [{"sku": "SKU-%04d" % rng.randint(0, 9999), "qty": rng.randint(1, 9)}
                                              for _ in range(3)],
           "note": " ".join(rng.choice(WORDS) for _ in range(6))}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def stored_segment(block):
    """The stored-block segment for block: non-final stored blocks of <= 65535 bytes."""
    out, p = b"", 0
    while True:
        n = min(len(block) - p, 65535)
        out += bytes([0, n & 0xFF, n >> 8, ~n & 0xFF, (~n >> 8) & 0xFF]) + block[p:p + n]
        p += n
        if p >= len(block):
            return out


def split_segments(raw, blocks, threshold, name="stream"):
    """Walks a raw gzip body: the 10-byte header, then for every expected SSE
    block its own segment: exactly the stored blocks when the block is at or
    under the threshold, else raw deflate (not stored) that a FRESH inflater
    turns into exactly that block, ending in a sync flush (00 00 ff ff),
    with no final bit. Returns (segments, rest): rest is what follows the
    last block's segment."""
    raw = bytes(raw)
    assert raw[:3] == GZIP_HEADER_PREFIX and raw[3] == 0, "%s: not a 10-byte gzip header: %r" % (name, raw[:10])
    p = 10
    segments = []
    for i, blk in enumerate(blocks):
        if len(blk) <= threshold:
            exp = stored_segment(blk)
            got = raw[p:p + len(exp)]
            if got != exp:
                pytest.fail("%s: block %d (%d bytes, <= threshold %d) is not sent as its own stored-block segment\n%s"
                            % (name, i, len(blk), threshold, describe_mismatch(got, exp)))
            segments.append(("stored", exp))
            p += len(exp)
            continue
        assert p < len(raw), "%s: raw body ends before the segment of block %d" % (name, i)
        btype = (raw[p] >> 1) & 3
        assert raw[p] & 1 == 0, "%s: segment of block %d starts a FINAL deflate block: %r" % (name, i, raw[p:p + 8])
        assert btype in (1, 2), ("%s: block %d (%d bytes, over threshold %d) is not compressed (BTYPE %d): %r"
                                 % (name, i, len(blk), threshold, btype, raw[p:p + 8]))
        end, q = None, p
        while True:
            q = raw.find(SYNC_FLUSH_MARK, q)
            if q < 0:
                break
            e = q + 4
            d = zlib.decompressobj(wbits=-15)
            try:
                out = d.decompress(raw[p:e])
            except zlib.error:
                out = None
            if out == blk and not d.eof:
                end = e
                break
            if out is None or not blk.startswith(out):
                break
            q += 1
        if end is None:
            d = zlib.decompressobj(wbits=-15)
            try:
                out = d.decompress(raw[p:])
                what = "inflates (fresh state, from its first byte) to %d bytes" % len(out)
            except zlib.error as ex:
                out, what = b"", "does not inflate on its own: %s" % ex
            pytest.fail("%s: no self-contained segment ending in a sync flush carries block %d (%d bytes) at raw "
                        "offset %d; the rest %s\n%s" % (name, i, len(blk), p, what, describe_mismatch(out, blk)))
        segments.append(("deflate", raw[p:end]))
        p = end
    return segments, raw[p:]


def gzip_trailer(plain):
    """The clean end of the member: an empty final stored block, CRC32, ISIZE."""
    return (b"\x01\x00\x00\xff\xff" + (zlib.crc32(plain) & 0xFFFFFFFF).to_bytes(4, "little")
            + (len(plain) & 0xFFFFFFFF).to_bytes(4, "little"))


def hello_bytes(client):
    """The preamble: the version comment and the connected block."""
    return bytes(client.parser.body[:client.connected_event.end])


def health(port):
    return get_json(port, "/sse/health")


def compression(port):
    return health(port)["system_metrics"]["compression"]


def collect_blocks(client, n, timeout):
    """The raw blocks of the next n events (system events included)."""
    return [client.next_event(timeout, skip_heartbeat=False).raw for _ in range(n)]


def shutdown_and_wait(b, streams, timeout=6.0):
    b.signal(signal.SIGTERM)
    for c in streams:
        assert c.wait_closed(timeout), "%s: not closed within %.0f s of SIGTERM" % (c.name, timeout)
    rc = b.wait_exit(timeout)
    assert rc == 0, "bridge exit code %r after SIGTERM (None: still running)" % rc


def gzip_t(tmp_path, raw, name):
    path = tmp_path / ("%s.gz" % name)
    path.write_bytes(bytes(raw))
    r = subprocess.run(["gzip", "-t", "-v", str(path)], capture_output=True, timeout=10)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# 1. curl --compressed and a zlib reader get every event byte-exact
# ---------------------------------------------------------------------------


def test_curl_compressed_and_zlib_reader_get_every_event_byte_exact_and_equal_to_the_identity_stream(
        bridge, clients, gz, redis_server, tmp_path):
    b = bridge("--drain-timeout", "5")
    target = "/events?channels=alpha"
    ident = clients.sse(b.port, target, name="identity")
    zr = gz.sse(b.port, target, name="zlib reader")
    cu = gz.curl(b.port, target, name="curl --compressed")
    ev_i, ev_z, ev_c = ident.connected(), zr.connected(), cu.connected()
    assert ident.response.header("Content-Encoding") is None, ident.response
    redis_server.wait_subscribed(["alpha"])

    rng = random.Random(1)
    payloads = []
    for i in range(12):
        if i % 3 == 2:
            payloads.append(english_text(rng, rng.randint(2048, 20480)))
        else:
            payloads.append(small_json(rng, i))
    payloads.append(english_text(rng, 20480))
    expected = b""
    pub = redis_server.client()
    for p in payloads:
        assert pub.publish("alpha", p) == 1, "the bridge is not subscribed to alpha"
        expected += sse_block("alpha", p)
    assert any(len(p) >= 2048 for p in payloads) and any(len(p) < 400 for p in payloads)

    expect_body(ident, ev_i, expected, timeout=10)
    expect_body(zr, ev_z, expected, timeout=10)
    expect_body(cu, ev_c, expected, timeout=10)
    assert "content-encoding: gzip" in cu.head_text().lower(), "curl was not sent gzip: %r" % cu.head_text()

    # The preambles agree except for the per-connection retry.
    assert mask(hello_bytes(zr)) == mask(hello_bytes(ident)), (hello_bytes(zr), hello_bytes(ident))
    assert mask(hello_bytes(cu)) == mask(hello_bytes(ident)), (hello_bytes(cu), hello_bytes(ident))
    assert hello_bytes(ident).startswith(b": sse-bridge 0.1.0\n\n")

    # A clean end: the shutdown event, then the end of the member; whole
    # bodies equal modulo retry/ts.
    shutdown_and_wait(b, [ident, zr, cu])
    assert zr.inflater.eof, "zlib reader: the gzip member did not end at the clean close"
    assert zr.inflater.unused_data == b"", "bytes after the gzip member: %r" % zr.inflater.unused_data
    for c in (zr, cu):
        if mask(c.body) != mask(ident.body):
            pytest.fail("%s: inflated body != identity body (retry/ts masked)\n%s"
                        % (c.name, describe_mismatch(mask(c.body), mask(ident.body))))
    assert ident.events[-1].type == "system" and ident.events[-1].json()["status"] == "shutdown"
    rc = cu.wait_exit(5)
    err = cu.proc.stderr.read().decode("utf-8", "replace")
    assert rc == 0, "curl --compressed exited %r after the clean close: %s" % (rc, err)


# ---------------------------------------------------------------------------
# 2. promptness: every event decodes from the bytes that arrived
# ---------------------------------------------------------------------------


def test_each_gzip_event_is_fully_decodable_before_the_next_is_published_one_segment_per_block(
        bridge, gz, redis_server):
    b = bridge()
    c = gz.sse(b.port, "/events?channels=beta", name="gzip reader")
    c.connected()
    redis_server.wait_subscribed(["beta"])
    rng = random.Random(2)
    pub = redis_server.client()
    blocks = []
    for i in range(20):
        kind = i % 4
        if kind == 0:
            p = small_json(rng, i)
        elif kind == 1:
            p = english_text(rng, rng.randint(2048, 20480))
        elif kind == 2:
            p = b"tiny %d" % i
        else:
            p = english_text(rng, rng.randint(4096, 8192)) + ("\n{\"i\":%d}" % i).encode()
        blk = sse_block("beta", p)
        t0 = time.monotonic()
        assert pub.publish("beta", p) >= 1
        try:
            ev = c.next_event(2.0)
        except (TimeoutError, StreamClosed) as e:
            pytest.fail("event %d (%d-byte block) not decodable within 2 s of its publish; %d raw bytes so far, "
                        "inflated tail %r: %s" % (i, len(blk), len(c.raw), c.body[-120:], str(e)[:200]))
        assert ev.raw == blk, "event %d decoded wrong:\n%s" % (i, describe_mismatch(ev.raw, blk))
        assert ev.t - t0 < 2.0
        blocks.append(blk)

    # Nothing beyond the 20 events, and the wire is one segment per block.
    assert c.quiet_for(0.2) == b""
    segs, rest = split_segments(c.raw, [hello_bytes(c)] + blocks, DEFAULT_THRESHOLD, c.name)
    assert rest == b"", "raw bytes after the last segment of an open stream: %r" % rest[:64]
    kinds = [k for k, _ in segs]
    assert kinds[0] == "stored", "the preamble (%d bytes) was compressed" % len(hello_bytes(c))
    assert kinds[1:] == ["stored" if len(blk) <= DEFAULT_THRESHOLD else "deflate" for blk in blocks], kinds


# ---------------------------------------------------------------------------
# 3. a clean close ends the member: gzip -t, CRC32, ISIZE
# ---------------------------------------------------------------------------


def test_sigterm_ends_the_gzip_member_so_gzip_t_accepts_it_with_correct_crc_and_size(
        bridge, gz, redis_server, tmp_path):
    b = bridge("--drain-timeout", "5")
    busy = gz.sse(b.port, "/events?channels=alpha", name="busy gzip stream")
    idle = gz.sse(b.port, "/events?channels=beta", name="idle gzip stream")
    busy.connected()
    idle.connected()
    redis_server.wait_subscribed(["alpha", "beta"])
    rng = random.Random(3)
    pub = redis_server.client()
    blocks = []
    for i in range(6):
        p = english_text(rng, 12000) if i % 2 else small_json(rng, i)
        assert pub.publish("alpha", p) >= 1
        blocks.append(sse_block("alpha", p))
    got = collect_blocks(busy, len(blocks), 10)
    assert got == blocks

    shutdown_and_wait(b, [busy, idle])
    for c in (busy, idle):
        sd = c.events[-1]
        assert sd.type == "system" and sd.json()["status"] == "shutdown", "%s: last event %r" % (c.name, sd)
        assert c.inflater.eof, ("%s: zlib saw no end of the gzip member at the clean close; raw tail %r"
                                % (c.name, bytes(c.raw[-24:])))
        assert c.inflater.unused_data == b"", "%s: bytes after the member: %r" % (c.name, c.inflater.unused_data)
        plain = c.body
        assert bytes(c.raw[-13:]) == gzip_trailer(plain), (
            "%s: member end is not final-empty-stored + CRC32 + ISIZE of the %d inflated bytes: got %r, expected %r"
            % (c.name, len(plain), bytes(c.raw[-13:]), gzip_trailer(plain)))
        rc, out = gzip_t(tmp_path, c.raw, c.name.replace(" ", "-"))
        assert rc == 0, "%s: gzip -t rejects the captured body (%d bytes): %s" % (c.name, len(c.raw), out)
        assert zlib.decompress(bytes(c.raw), wbits=31) == plain
        # The structure to the end: one segment per block, then the trailer.
        blks = [hello_bytes(c)] + [e.raw for e in c.events[1:]]
        _, rest = split_segments(c.raw, blks, DEFAULT_THRESHOLD, c.name)
        assert rest == gzip_trailer(plain), "%s: after the last segment %r" % (c.name, rest)


# ---------------------------------------------------------------------------
# 4. negotiation
# ---------------------------------------------------------------------------

# (Accept-Encoding header value or None for no header, gzip expected)
NEGOTIATION = [
    (None, False),
    ("gzip", True),
    ("GZIP", True),
    ("gzip, deflate, br, zstd", True),
    ("br", False),
    ("identity", False),
    ("gzip;q=0", False),
    ("*", True),
    ("*;q=0", False),
    ("deflate;q=1, gzip;q=0.1", True),
    # more of RFC 9110 12.5.3
    ("", False),
    ("gzip;q=0.5", True),
    ("gzip; q=0.001", True),
    ("gzip;q=1.000", True),
    ("gzip;Q=0.5", True),
    ("gzip;q=0.0", False),
    ("gzip;q=0.000", False),
    ("br;q=1, identity;q=0.5", False),
    ("gzip;q=0, *", False),  # "*" stands for codings not listed: gzip is refused explicitly
    ("*, gzip;q=0", False),
    ("identity;q=0, gzip", True),
    ("deflate, *;q=0.2", True),
]


def negotiated(port, target, ae_headers):
    """Opens a stream with the given Accept-Encoding header lines; returns
    (response, inflated or raw preamble bytes) after the connected event."""
    conn = HTTPConnection(port, timeout=5)
    try:
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" % target
        req += "".join("Accept-Encoding: %s\r\n" % v for v in ae_headers) + "\r\n"
        conn.send(req.encode("latin-1"))
        resp = conn.read_response(5, head_only=True)
        if resp.status != 200:
            return resp, b""
        gzipped = resp.header("Content-Encoding") is not None
        inflater = zlib.decompressobj(wbits=31)
        raw, plain = bytes(conn.buf), b""
        conn.buf.clear()
        deadline = time.monotonic() + 5
        while True:
            try:
                plain = inflater.decompress(raw) if gzipped else raw
            except zlib.error as e:
                return resp, ("zlib error %s on %r" % (e, raw[:64])).encode()
            if re.search(rb"event: connected\n(?:[^\n]+\n)*\n", plain) or time.monotonic() > deadline:
                return resp, plain
            try:
                chunk = conn.recv_some(deadline)
            except OSError:
                continue
            if not chunk:
                return resp, plain
            raw += chunk
            inflater = zlib.decompressobj(wbits=31)
    finally:
        conn.close()


def test_accept_encoding_q_values_decide_gzip_and_compression_query_opts_out(bridge):
    b = bridge()
    version = health(b.port)["bridge"]["version"]
    hello_re = re.compile(rb"\A: sse-bridge " + re.escape(version.encode()) + rb"\n\n(?:[^\n]+\n)*\n\Z")
    problems = []
    for ae, want_gzip in NEGOTIATION:
        resp, plain = negotiated(b.port, "/events?channels=alpha", [] if ae is None else [ae])
        if resp.status != 200:
            problems.append("AE %r: status %r" % (ae, resp.status_line))
            continue
        ce = resp.headers_named("Content-Encoding")
        if want_gzip:
            try:
                assert_gzip_head(resp, "AE %r" % ae)
            except AssertionError as e:
                problems.append(str(e))
        elif ce:
            problems.append("AE %r refuses gzip, but the response has Content-Encoding %r" % (ae, ce))
        if not hello_re.match(plain):
            problems.append("AE %r: preamble not readable as %s: %r" % (ae, "gzip" if want_gzip else "identity",
                                                                         plain[:200]))
    # Several Accept-Encoding lines are one list (RFC 9110 5.3).
    resp, plain = negotiated(b.port, "/events?channels=alpha", ["br", "gzip"])
    if resp.headers_named("Content-Encoding") != ["gzip"] or not hello_re.match(plain):
        problems.append("Accept-Encoding: br + Accept-Encoding: gzip -> %r %r" % (resp, plain[:80]))
    resp, plain = negotiated(b.port, "/events?channels=alpha", ["gzip;q=0", "br"])
    if resp.headers_named("Content-Encoding"):
        problems.append("Accept-Encoding: gzip;q=0 + Accept-Encoding: br -> %r" % resp)

    # ?compression=none opts one stream out; ?compression=gzip is the default.
    for target, want in (("/events?channels=alpha&compression=none", False),
                         ("/events?compression=none&channels=alpha", False),
                         ("/stream?channel=alpha&compression=none", False),
                         ("/events?channels=alpha&compression=gzip", True)):
        resp, plain = negotiated(b.port, target, ["gzip, deflate, br"])
        if resp.status != 200 or bool(resp.headers_named("Content-Encoding")) != want or not hello_re.match(plain):
            problems.append("%s with AE gzip: %r %r (gzip expected: %s)" % (target, resp, plain[:80], want))
    assert not problems, "negotiation problems:\n  " + "\n  ".join(problems)

    for target in ("/events?channels=alpha&compression=bogus", "/events?compression=bogus&channels=alpha",
                   "/stream?channel=alpha&compression=bogus"):
        r = get(b.port, target, headers=[("Accept-Encoding", "gzip")])
        assert_json_error(r, 400, "invalid_query")
        assert r.header("Content-Encoding") is None, r
    assert health(b.port)["bridge"]["connections"] == 0


def test_a_long_accept_encoding_that_refuses_gzip_with_q0_never_gets_gzip(bridge):
    """However long the header, "gzip;q=0" (or "gzip;q=0.0") in it refuses
    gzip: a bridge that keeps only part of the field must not read the part
    it kept as "gzip" with the default q=1."""
    b = bridge()
    wrong = []
    for refusal in ("gzip;q=0", "gzip;q=0.0"):
        for pad in range(236, 256):
            ae = "x-" + "a" * pad + ", " + refusal  # an unknown coding, then gzip refused
            resp, _ = negotiated(b.port, "/events?channels=alpha", [ae])
            assert resp.status == 200, resp
            if resp.headers_named("Content-Encoding"):
                wrong.append("%d-byte Accept-Encoding ending %r (byte 256 onwards: %r) -> Content-Encoding %r"
                             % (len(ae), ae[-14:], ae[256:], resp.headers_named("Content-Encoding")))
    assert not wrong, "gzip served to clients that refused it:\n  " + "\n  ".join(wrong)


def raw_response_until_close(port, request, timeout=5.0):
    conn = HTTPConnection(port, timeout=timeout)
    try:
        conn.send(request)
        assert conn.wait_closed(timeout), "the bridge did not close within %.0f s" % timeout
        return bytes(conn.buf)
    finally:
        conn.close()


@pytest.mark.parametrize("limit_args,code", [(("--max-connections-per-ip", "1"), "too_many_connections_per_ip"),
                                             (("--max-connections", "1"), "too_many_connections")],
                         ids=["per-ip", "total"])
def test_a_gzip_accepting_request_refused_over_a_pool_limit_gets_the_error_response_and_nothing_after_it(
        bridge, gz, limit_args, code):
    b = bridge(*limit_args)
    first = gz.sse(b.port, "/events?channels=alpha", name="the one stream allowed")
    first.connected()
    for ae in ("gzip", None):
        req = b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n"
        if ae:
            req += b"Accept-Encoding: " + ae.encode() + b"\r\n"
        raw = raw_response_until_close(b.port, req + b"\r\n")
        head, sep, body = raw.partition(b"\r\n\r\n")
        assert sep, "no response head: %r" % raw
        status_line, headers = head.decode("latin-1").split("\r\n", 1)
        assert " 429 " in status_line + " ", raw
        assert "content-encoding" not in headers.lower(), raw
        cl = int(re.search(r"(?im)^content-length:\s*(\d+)", headers).group(1))
        assert len(body) == cl, ("Accept-Encoding %r: the 429 (Content-Length %d) is followed by %d stray bytes %r; "
                                 "whole response %r" % (ae, cl, len(body) - cl, body[cl:], raw))
        assert json.loads(body)["code"] == code
    assert first.quiet_for(0.05) == b"" and not first.closed


def test_a_gzip_accepting_request_refused_with_limit_response_retry_gets_a_consistent_stream(bridge, gz):
    b = bridge("--max-connections-per-ip", "1", "--limit-response", "retry")
    first = gz.sse(b.port, "/events?channels=alpha", name="the one stream allowed")
    first.connected()
    raw = raw_response_until_close(b.port, b"GET /events?channels=alpha HTTP/1.1\r\nHost: x\r\n"
                                            b"Accept-Encoding: gzip\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), raw
    if b"content-encoding: gzip" in head.lower():
        body = zlib.decompress(body, wbits=31)  # a gzip answer must be a whole member
    parser = EventStreamParser()
    parser.feed(body, eof=True)
    assert [e.type for e in parser.events] == ["limit"], (raw, parser.events)
    assert body.endswith(parser.events[-1].raw), "bytes after the limit event: %r" % raw


def test_compression_off_gives_identity_streams_to_every_client(bridge, clients, redis_server):
    # a switch takes its value after '=' ("--compression off" is refused at start)
    b = bridge("--compression=off")
    assert health(b.port)["system_metrics"]["compression"]["enabled"] is False
    for ae in ("gzip", "*", "gzip;q=1, br", "GZIP"):
        resp, plain = negotiated(b.port, "/events?channels=alpha", [ae])
        assert resp.status == 200, resp
        assert resp.header("Content-Encoding") is None, "--compression off, AE %r: %r" % (ae, resp)
        assert plain.startswith(b": sse-bridge "), (ae, plain[:60])
    # and a live stream stays identity end to end
    c = clients.sse(b.port, "/events?channels=alpha", headers=[("Accept-Encoding", "gzip")])
    ev = c.connected()
    assert c.response.header("Content-Encoding") is None
    redis_server.wait_subscribed(["alpha"])
    text = english_text(random.Random(4), 8000)
    assert redis_server.publish("alpha", text) >= 1
    expect_body(c, ev, sse_block("alpha", text))
    comp = compression(b.port)
    assert comp["segments_built"] == 0 and comp["bytes_before"] == 0 and comp["bytes_after"] == 0, comp


# ---------------------------------------------------------------------------
# 5. compress once per message, not per client
# ---------------------------------------------------------------------------


def test_each_message_is_compressed_once_for_all_gzip_clients_and_counted_per_delivery(
        bridge, clients, gz, redis_server):
    b = bridge()
    nclients = 20
    streams = [gz.sse(b.port, "/events?channels=gamma", name="gzip %d" % i) for i in range(nclients)]
    for c in streams:
        c.connected()
    ident = clients.sse(b.port, "/events?channels=gamma", name="identity")
    ev_i = ident.connected()
    redis_server.wait_subscribed(["gamma"])
    h0 = compression(b.port)
    assert h0["enabled"] is True and h0["threshold_bytes"] == DEFAULT_THRESHOLD, h0
    # Every preamble was one stored segment of its own.
    assert h0["segments_built"] == nclients and h0["segments_compressed"] == 0, h0

    rng = random.Random(5)
    pub = redis_server.client()
    large = [english_text(rng, n) for n in (3000, 8000, 14000, 20000)]
    small = [small_json(rng, i) for i in range(3)]
    ident_large = sum(len(sse_block("gamma", p)) for p in large)
    ident_small = sum(len(sse_block("gamma", p)) for p in small)

    for p in large:
        assert pub.publish("gamma", p) == 1
    want = [sse_block("gamma", p) for p in large]
    for c in streams:
        assert collect_blocks(c, len(large), 10) == want, c.name
    h1 = compression(b.port)
    d = {k: h1[k] - h0[k] for k in ("segments_built", "segments_compressed", "bytes_before", "bytes_after")}
    assert d["segments_compressed"] == len(large), (
        "%d large messages to %d gzip clients: segments_compressed grew by %d (expected %d: once per message)"
        % (len(large), nclients, d["segments_compressed"], len(large)))
    assert d["segments_built"] == len(large), "segments_built grew by %d, expected %d" % (d["segments_built"], len(large))
    assert d["bytes_before"] == nclients * ident_large, (
        "bytes_before grew by %d, expected %d x %d identity bytes = %d"
        % (d["bytes_before"], nclients, ident_large, nclients * ident_large))
    # Every client got the very same segment bytes; bytes_after counts them per delivery.
    wire = [bytes(c.raw[c.raw_after_hello:]) for c in streams]
    assert all(w == wire[0] for w in wire), "gzip clients received different bytes for the same messages"
    assert d["bytes_after"] == nclients * len(wire[0]), (d["bytes_after"], nclients, len(wire[0]))
    assert h1["cpu_ms"] > h0["cpu_ms"], (h0, h1)
    assert h1["bytes_saved"] == h1["bytes_before"] - h1["bytes_after"], h1

    for p in small:
        assert pub.publish("gamma", p) == 1
    want = [sse_block("gamma", p) for p in small]
    for c in streams:
        assert collect_blocks(c, len(small), 10) == want, c.name
    expect_body(ident, ev_i, b"".join(sse_block("gamma", p) for p in large + small))
    h2 = compression(b.port)
    assert h2["segments_built"] - h1["segments_built"] == len(small), (h1, h2)
    assert h2["segments_compressed"] == h1["segments_compressed"], "small messages were compressed: %r %r" % (h1, h2)
    assert h2["bytes_before"] - h1["bytes_before"] == nclients * ident_small, (h1, h2, ident_small)
    # stored segments cost 5 bytes each more than the block
    assert h2["bytes_after"] - h1["bytes_after"] == nclients * (ident_small + 5 * len(small)), (h1, h2)


# ---------------------------------------------------------------------------
# 6. large payloads shrink on the wire
# ---------------------------------------------------------------------------


def test_20kb_english_text_is_under_60_percent_of_identity_bytes_on_the_wire_and_savings_reported(
        bridge, clients, gz, redis_server):
    b = bridge("--lease-ms", "600")  # the cluster totals behind system_metrics refresh every 200 ms
    c = gz.sse(b.port, "/events?channels=alpha", name="gzip")
    ident = clients.sse(b.port, "/events?channels=alpha", name="identity")
    c.connected()
    ev_i = ident.connected()
    redis_server.wait_subscribed(["alpha"])
    text = english_text(random.Random(6), 20480)
    assert len(text) >= 20000
    blk = sse_block("alpha", text)
    raw0, id0 = len(c.raw), len(ident.body)
    h0 = compression(b.port)
    assert redis_server.publish("alpha", text) == 1
    assert c.next_event(5).raw == blk
    expect_body(ident, ev_i, blk)
    wire, plain = len(c.raw) - raw0, len(ident.body) - id0
    assert plain == len(blk)
    assert wire < 0.6 * plain, "20 KB of text took %d gzip bytes for %d identity bytes (%.0f%%)" % (
        wire, plain, 100.0 * wire / plain)
    h = health(b.port)
    h1 = h["system_metrics"]["compression"]
    # this delivery's figures: the identity bytes in, the segment bytes out
    assert h1["bytes_before"] - h0["bytes_before"] == plain, (h0, h1)
    assert h1["bytes_after"] - h0["bytes_after"] == wire, (h0, h1, wire)
    # (the stored preamble cost 5 bytes more than it carried: savings are net)
    assert h["bridge"]["compression_savings_bytes"] == h1["bytes_saved"] == h1["bytes_before"] - h1["bytes_after"] > 0, h
    wait_until(lambda: health(b.port)["system_metrics"]["compression_savings_bytes"] > 0, 5,
               what="system_metrics.compression_savings_bytes > 0")
    sm = health(b.port)["system_metrics"]
    assert sm["compression_savings_bytes"] == sm["compression"]["bytes_saved"], sm


# ---------------------------------------------------------------------------
# 7. the threshold and the level are honoured
# ---------------------------------------------------------------------------


def test_compression_threshold_and_level_decide_stored_or_deflate_segments(bridge, gz, redis_server):
    rng = random.Random(7)
    payloads = [b"x" * 40, small_json(rng, 1), english_text(rng, 5000), english_text(rng, 20000)]
    blocks = [sse_block("alpha", p) for p in payloads]
    for threshold, level in ((0, 1), (100000, 6), (DEFAULT_THRESHOLD, 9)):
        b = bridge("--compression-threshold", threshold, "--compression-level", level)
        c = gz.sse(b.port, "/events?channels=alpha", name="threshold %d level %d" % (threshold, level))
        c.connected()
        redis_server.wait_subscribed(["alpha"])
        h0 = compression(b.port)
        assert h0["threshold_bytes"] == threshold, h0
        for p in payloads:
            assert redis_server.publish("alpha", p) == 1
        assert collect_blocks(c, len(blocks), 10) == blocks
        segs, rest = split_segments(c.raw, [hello_bytes(c)] + blocks, threshold, c.name)
        assert rest == b""
        h1 = compression(b.port)
        n_big = sum(len(x) > threshold for x in blocks)
        assert h1["segments_compressed"] - h0["segments_compressed"] == n_big, (threshold, h0, h1)
        for (kind, seg), blk in zip(segs[1:], blocks):
            if kind == "deflate":
                # the same zlib (the system libz) at the same level gives the same bytes
                z = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
                ref = z.compress(blk) + z.flush(zlib.Z_SYNC_FLUSH)
                assert seg == ref, "level %d: %d-byte block compressed to %d bytes, zlib level %d gives %d" % (
                    level, len(blk), len(seg), level, len(ref))
        assert b.terminate() == 0, "exit code after SIGTERM"
