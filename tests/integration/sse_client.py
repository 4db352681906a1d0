"""Real clients for the integration tests: a raw-socket HTTP/SSE client, a
curl-driven SSE client, and an event-stream parser that follows the WHATWG
"event stream interpretation" rules.

Nothing here is a mock: every client talks TCP to the real bridge binary.
Every wait is bounded by a deadline; nothing here blocks without a timeout.
"""

import json
import socket
import subprocess
import threading
import time

DEFAULT_TIMEOUT = 5.0


class StreamClosed(Exception):
    """The server closed the connection while we were waiting for something."""


def _snippet(buf, n=600):
    b = bytes(buf)
    if len(b) <= n:
        return repr(b)
    return "%d bytes, last %d: %r" % (len(b), n, b[-n:])


# ---------------------------------------------------------------------------
# Event-stream parsing (WHATWG HTML, "9.2.6 Interpreting an event stream")
# ---------------------------------------------------------------------------


class Event:
    """One dispatched event, plus the exact bytes of the block it came from."""

    def __init__(self, type_, data, id_, last_event_id, retry, raw, start, end):
        self.type = type_  # event type; "message" when the block had none
        self.data = data  # data lines joined with LF
        self.id = id_  # value of an "id" field in this block, else None
        self.last_event_id = last_event_id  # the parser's last event ID after this block
        self.retry = retry  # value of a valid "retry" field in this block, else None
        self.raw = raw  # bytes of the block, from its first line to its blank line
        self.start = start  # offset of raw in the body
        self.end = end  # offset just past raw in the body
        self.t = time.monotonic()  # when it was dispatched

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return "Event(type=%r, data=%r, id=%r, retry=%r)" % (
            self.type,
            self.data if len(self.data) < 200 else self.data[:200] + "...",
            self.id,
            self.retry,
        )


class EventStreamParser:
    """Incremental WHATWG event-stream parser over raw body bytes.

    - lines end at CRLF, LF or a lone CR;
    - a line starting with ':' is a comment;
    - "field: value" (one leading space stripped from value), or "field" alone;
    - data fields append to the data buffer with LF, the trailing LF is removed;
    - a blank line dispatches (when the data buffer is not empty), the type
      defaulting to "message"; unknown fields are ignored; an id containing NUL
      is ignored; a retry made of anything but ASCII digits is ignored.
    Every block (text up to a blank line) is also kept raw in `blocks`.
    """

    def __init__(self):
        self.body = bytearray()  # every body byte fed so far
        self._pos = 0  # parse position in body
        self._block_start = 0
        self._data = []
        self._type = ""
        self._block_id = None
        self._block_retry = None
        self.last_event_id = ""
        self.reconnection_time = None
        self.events = []
        self.blocks = []  # raw bytes of every block, comment-only ones included
        self.comments = []  # text of every comment line
        self._bom_checked = False

    def feed(self, chunk, eof=False):
        """Feeds body bytes; returns the events dispatched by them."""
        if chunk:
            self.body += chunk
        out = []
        body = self.body
        n = len(body)
        if not self._bom_checked:
            if n < 3 and not eof and body == b"\xef\xbb\xbf"[:n]:
                return out
            if body[:3] == b"\xef\xbb\xbf":
                self._pos = self._block_start = 3
            self._bom_checked = True
        while self._pos < n:
            i_lf = body.find(b"\n", self._pos)
            i_cr = body.find(b"\r", self._pos, i_lf if i_lf >= 0 else n)
            if i_cr >= 0:
                if i_cr + 1 == n and not eof:
                    break  # a CR at the end: an LF may follow in the next chunk
                line_end = i_cr
                nxt = i_cr + 2 if i_cr + 1 < n and body[i_cr + 1] == 0x0A else i_cr + 1
            elif i_lf >= 0:
                line_end = i_lf
                nxt = i_lf + 1
            else:
                break  # incomplete line
            line = bytes(body[self._pos:line_end]).decode("utf-8", "replace")
            self._pos = nxt
            ev = self._line(line)
            if ev is not None:
                out.append(ev)
        return out

    def _line(self, line):
        if line == "":
            raw = bytes(self.body[self._block_start:self._pos])
            start, end = self._block_start, self._pos
            self._block_start = self._pos
            self.blocks.append(raw)
            block_id, block_retry = self._block_id, self._block_retry
            self._block_id = self._block_retry = None
            if not self._data:
                self._type = ""
                return None
            data = "\n".join(self._data)
            ev = Event(self._type or "message", data, block_id, self.last_event_id, block_retry, raw, start, end)
            self._data = []
            self._type = ""
            self.events.append(ev)
            return ev
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            self._type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._block_id = value
        elif field == "retry":
            if value and all("0" <= c <= "9" for c in value):
                self.reconnection_time = int(value)
                self._block_retry = int(value)
        return None


# ---------------------------------------------------------------------------
# Raw HTTP over a socket
# ---------------------------------------------------------------------------


class Response:
    def __init__(self, status_line, headers, body, raw_head):
        self.status_line = status_line
        parts = status_line.split(" ", 2)
        self.version = parts[0]
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        self.reason = parts[2] if len(parts) > 2 else ""
        self.header_list = headers  # [(name, value)] in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.header_list:
            if k.lower() == name:
                return v
        return default

    def headers_named(self, name):
        name = name.lower()
        return [v for k, v in self.header_list if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Response(%r, headers=%r, body=%s)" % (self.status_line, self.header_list, _snippet(self.body, 300))


def parse_head(raw_head):
    """Parses b"HTTP/1.1 200 OK\\r\\nName: value\\r\\n..." (without the blank line)."""
    text = raw_head.decode("iso-8859-1")
    lines = text.split("\r\n")
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        assert ":" in ln, "malformed response header line %r in %r" % (ln, raw_head)
        k, v = ln.split(":", 1)
        headers.append((k, v.strip(" \t")))
    return lines[0], headers


class HTTPConnection:
    """One TCP connection to the bridge; sends raw bytes, reads raw responses."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # must be set before connect() to bound the advertised window
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.port = port
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def send(self, data):
        self.sock.sendall(data)

    def recv_some(self, deadline):
        """Reads once (bounded by deadline). Returns the bytes read, b"" at EOF.
        Raises socket.timeout when the deadline passes with nothing read."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError:
            self.reset = True
            self.eof = True
            return b""
        if not chunk:
            self.eof = True
        return chunk

    def read_response(self, timeout=DEFAULT_TIMEOUT, head_only=False):
        """Reads one response: head, then a Content-Length body or (without
        one) everything up to EOF. head_only returns after the head."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if self.eof:
                raise StreamClosed("connection closed before a complete response head; got %s" % _snippet(self.buf))
            try:
                self.buf += self.recv_some(deadline)
            except socket.timeout:
                raise TimeoutError("no complete response head within %.1fs; got %s" % (timeout, _snippet(self.buf)))
        idx = self.buf.index(b"\r\n\r\n")
        raw_head = bytes(self.buf[:idx])
        del self.buf[:idx + 4]
        status_line, headers = parse_head(raw_head)
        resp = Response(status_line, headers, b"", raw_head)
        if head_only:
            return resp
        cl = resp.header("Content-Length")
        if cl is not None:
            n = int(cl)
            while len(self.buf) < n:
                if self.eof:
                    raise StreamClosed("closed after %d of %d body bytes: %s" % (len(self.buf), n, _snippet(self.buf)))
                try:
                    self.buf += self.recv_some(deadline)
                except socket.timeout:
                    raise TimeoutError("body incomplete within %.1fs: %s" % (timeout, _snippet(self.buf)))
            resp.body = bytes(self.buf[:n])
            del self.buf[:n]
        else:
            while not self.eof:
                try:
                    self.buf += self.recv_some(deadline)
                except socket.timeout:
                    raise TimeoutError("response without Content-Length not closed within %.1fs" % timeout)
            resp.body = bytes(self.buf)
            self.buf.clear()
        return resp

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """True when the server closes (EOF or reset) within timeout; extra
        bytes read meanwhile are kept in self.buf."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                self.buf += self.recv_some(deadline)
            except socket.timeout:
                return False
            except OSError:
                return True
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_request(port, raw, timeout=DEFAULT_TIMEOUT):
    """Sends raw request bytes on a new connection and reads one response."""
    c = HTTPConnection(port, timeout=timeout)
    try:
        c.send(raw)
        return c.read_response(timeout)
    finally:
        c.close()


def get(port, target, headers=(), timeout=DEFAULT_TIMEOUT):
    """GET target with Connection: close; returns the Response."""
    lines = ["GET %s HTTP/1.1" % target, "Host: 127.0.0.1:%d" % port]
    lines += ["%s: %s" % h for h in headers]
    lines += ["Connection: close", "", ""]
    return http_request(port, "\r\n".join(lines).encode("latin-1"), timeout)


def get_json(port, target="/healthz", timeout=DEFAULT_TIMEOUT):
    r = get(port, target, timeout=timeout)
    assert r.status == 200, "GET %s: %r" % (target, r)
    return r.json()


# ---------------------------------------------------------------------------
# SSE over a raw socket
# ---------------------------------------------------------------------------


class _StreamMixin:
    """Waiting helpers shared by the socket and curl SSE clients.
    Subclasses provide self.parser, self.closed and _pump(deadline)."""

    def _init_stream(self):
        self.parser = EventStreamParser()
        self.closed = False
        self._cursor = 0  # index in events of the next event next_event returns

    @property
    def events(self):
        return self.parser.events

    @property
    def body(self):
        return bytes(self.parser.body)

    def read_until(self, predicate, timeout=DEFAULT_TIMEOUT, what="condition"):
        """Reads until predicate(self) is true; TimeoutError after timeout,
        StreamClosed if the server closes first."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if self.closed:
                raise StreamClosed("%s: stream closed before %s; body so far %s" % (self.name, what, _snippet(self.parser.body)))
            if time.monotonic() >= deadline:
                raise TimeoutError("%s: no %s within %.1fs; body so far %s" % (self.name, what, timeout, _snippet(self.parser.body)))
            self._pump(deadline)
        return self

    def next_event(self, timeout=DEFAULT_TIMEOUT, skip_heartbeat=True, skip_types=()):
        """Returns the next event not yet returned (heartbeats skipped unless asked)."""
        skip = set(skip_types)
        if skip_heartbeat:
            skip.add("heartbeat")
        deadline = time.monotonic() + timeout
        while True:
            while self._cursor < len(self.parser.events):
                ev = self.parser.events[self._cursor]
                self._cursor += 1
                if ev.type not in skip:
                    return ev
            if self.closed:
                raise StreamClosed("%s: stream closed while waiting for an event; body so far %s" % (self.name, _snippet(self.parser.body)))
            if time.monotonic() >= deadline:
                raise TimeoutError("%s: no event within %.1fs; body so far %s" % (self.name, timeout, _snippet(self.parser.body)))
            self._pump(deadline)

    def wait_event(self, predicate, timeout=DEFAULT_TIMEOUT, what="matching event"):
        """Skips events until predicate(event) is true; returns that event."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event(max(0.0, deadline - time.monotonic()), skip_heartbeat=False)
            if predicate(ev):
                return ev

    def collect(self, n, timeout=DEFAULT_TIMEOUT, skip_heartbeat=True):
        """The next n events."""
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.0, deadline - time.monotonic()), skip_heartbeat) for _ in range(n)]

    def body_after(self, ev):
        """Raw body bytes after event ev's block."""
        return bytes(self.parser.body[ev.end:])

    def read_body_length(self, n, timeout=DEFAULT_TIMEOUT):
        """Reads until the body holds at least n bytes."""
        return self.read_until(lambda c: len(c.parser.body) >= n, timeout, "%d body bytes" % n)

    def quiet_for(self, seconds):
        """Reads for `seconds` (bounded); returns the bytes that arrived meanwhile."""
        before = len(self.parser.body)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            self._pump(deadline)
        return bytes(self.parser.body[before:])


class SSEClient(_StreamMixin):
    """A browser-like SSE reader over a raw socket.

    SSEClient(port, "/events?channels=a") connects and sends the GET at once;
    call read_head() (or connected()) to read the response head.
    """

    def __init__(self, port, target="/events", headers=None, host="127.0.0.1", rcvbuf=None,
                 timeout=DEFAULT_TIMEOUT, name=None, conn=None, send=True):
        """conn: reuse an open HTTPConnection (keep-alive); send=False: the
        request was already sent on conn (pipelining)."""
        self.name = name or target
        self.port = port
        self.target = target
        self._init_stream()
        self.conn = conn or HTTPConnection(port, host=host, timeout=timeout, rcvbuf=rcvbuf)
        hdrs = [("Host", "%s:%d" % (host, port)), ("Accept", "text/event-stream"), ("Cache-Control", "no-cache")]
        if headers:
            hdrs += list(headers)
        req = "GET %s HTTP/1.1\r\n" % target + "".join("%s: %s\r\n" % h for h in hdrs) + "\r\n"
        if send:
            self.conn.send(req.encode("latin-1"))
        self.response = None
        self.reset = False

    @property
    def sock(self):
        return self.conn.sock

    def read_head(self, timeout=DEFAULT_TIMEOUT):
        """Reads the status line and headers; leftover bytes go to the parser."""
        if self.response is None:
            self.response = self.conn.read_response(timeout, head_only=True)
            te = self.response.header("Transfer-Encoding")
            assert te is None, "%s: SSE response uses Transfer-Encoding %r; this client expects a close-delimited body" % (self.name, te)
            leftover = bytes(self.conn.buf)
            self.conn.buf.clear()
            self.parser.feed(leftover, eof=self.conn.eof)
            if self.conn.eof:
                self.closed = True
                self.reset = self.conn.reset
        return self.response

    @property
    def status(self):
        return self.response.status if self.response else None

    def _pump(self, deadline):
        if self.response is None:
            self.read_head(max(0.01, deadline - time.monotonic()))
            return
        try:
            chunk = self.conn.recv_some(deadline)
        except socket.timeout:
            return
        if not chunk:
            self.closed = True
            self.reset = self.conn.reset
            self.parser.feed(b"", eof=True)
        else:
            self.parser.feed(chunk)

    def connected(self, timeout=DEFAULT_TIMEOUT):
        """Reads the head (expects 200) and returns the 'connected' event."""
        resp = self.read_head(timeout)
        assert resp.status == 200, "%s: expected 200, got %r (body %s)" % (self.name, resp.status_line, _snippet(self.parser.body))
        ev = self.next_event(timeout)
        assert ev.type == "connected", "%s: first event is %r, expected 'connected'" % (self.name, ev)
        self.connected_event = ev
        return ev

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """True when the server closes the stream within timeout."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() >= deadline:
                return False
            try:
                self._pump(deadline)
            except (StreamClosed, OSError):
                self.closed = True
        return True

    def close(self):
        self.conn.close()


class CurlSSEClient(_StreamMixin):
    """An SSE reader that is the real curl binary (curl -N), its stdout
    pumped by a thread into an EventStreamParser."""

    def __init__(self, port, target="/events", max_time=30, name=None):
        self.name = name or "curl " + target
        self._init_stream()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending = bytearray()
        self._eof = False
        url = "http://127.0.0.1:%d%s" % (port, target)
        self.proc = subprocess.Popen(
            ["curl", "-sS", "-N", "--max-time", str(max_time), "-H", "Accept: text/event-stream", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self):
        fd = self.proc.stdout
        while True:
            try:
                chunk = fd.read1(65536)
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

    def connected(self, timeout=DEFAULT_TIMEOUT):
        ev = self.next_event(timeout)
        assert ev.type == "connected", "%s: first event is %r, expected 'connected'" % (self.name, ev)
        self.connected_event = ev
        return ev

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
