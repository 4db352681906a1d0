"""Publishing helper for sse-bridge: put events on Redis the way the bridge reads them.

sse-bridge subscribes to Redis pub/sub channels and fans every message out to
the browsers streaming that channel (see README.md, "Publishing contract").
This module builds the bridge's envelope -- byte 0x1E (RFC 7464 record
separator) followed by a compact JSON object with "data", "event", "id",
"retry", "target" and "ts" -- checks everything the bridge would refuse or
silently drop *before* anything is sent to Redis, and (by default) keeps a
capped history of every channel in a Redis stream, so that each event gets a
unique, increasing id that a later replay can resume from.

Only redis-py (4.x) and the standard library are needed; the module is one
file: copy it next to your app, or put ``scripts/`` on ``sys.path``.

Flask example::

    import redis
    from flask import Flask, request
    from sse_publish import publish, PublishConnectionError, SSEPublishError

    app = Flask(__name__)
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0",
                             socket_timeout=2, socket_connect_timeout=2)

    @app.post("/jobs/<job_id>/progress")
    def progress(job_id):
        try:
            event_id = publish(
                r, "summary_progress", {"job": job_id, "pct": 40},
                event="progress",
                target=request.args.get("client_id"),  # None: every subscriber
            )
        except PublishConnectionError:
            return {"error": "event bus unavailable"}, 503
        except SSEPublishError as e:  # bad channel, event, id, size, ...
            return {"error": str(e)}, 400
        return {"id": event_id}  # e.g. "1732500000000-0@summary_progress", the SSE id too

and in the browser::

    const es = new EventSource("/events?channels=summary_progress&client_id=browser-42");
    es.addEventListener("progress", (e) => console.log(e.lastEventId, JSON.parse(e.data)));

What goes on the wire, for ``publish(r, "alpha", {"pct": 40}, event="progress")``
at history=True (one EVALSHA; the script XADDs, then PUBLISHes)::

    XADD {sse}:history:alpha MAXLEN ~ 1000 * format envelope json {"event":"progress","data":{"pct":40},"ts":1732500000000}
    PUBLISH alpha \\x1e{"id":"1732500000000-0@alpha","event":"progress","data":{"pct":40},"ts":1732500000000}

History stream entries (key ``history_prefix + channel``, default
``"{sse}:history:<channel>"``; the ``{sse}`` hash tag keeps them in the same
Redis Cluster slot as the bridge's own keys) have two fields:

``format``
    ``"envelope"`` (the payload is 0x1E + JSON) or ``"flask-sse"`` (the
    payload is the JSON alone; see *flask channels* below).
``json``
    the JSON object exactly as published, minus the ``"id"`` key, which is
    the entry id itself. The published payload is therefore, byte for byte,
    ``(b"\\x1e" if format == "envelope" else b"") + b'{"id":"' + entry_id +
    b'@' + channel + b'",' + json[1:]``.

The SSE id of a history event is ``"<entry id>@<channel>"`` (what publish()
returns): the channel makes it a resume position the bridge can use however
many channels a client follows. Stream ids are per channel (each channel has
its own stream): they increase strictly within a channel, not across
channels. Ids of that shape are reserved for history; give your own ids
(history=False) another shape.

Flask channels: the bridge reads channels listed in its ``--flask-channels``
(default ``sse``) as flask-sse JSON ``{"data","type","id","retry"}`` and
drops a 0x1E envelope there as malformed. For a channel matching
``flask_channels`` (default ``("sse",)``, entries may be ``prefix*``
families as in the bridge) publish() therefore writes that format instead:
the event goes in ``"type"`` (absent means the browser's ``"message"``
event), and ``target`` is refused because that format cannot carry it (the
bridge would deliver the event to every subscriber). Pass the same list the
bridge runs with (``flask_channels=()`` when it runs with an empty one).

Errors (all raised before anything is sent, except PublishConnectionError):
:class:`SSEPublishError` is the base of :class:`InvalidChannel`,
:class:`InvalidEvent`, :class:`PayloadTooLarge` and
:class:`PublishConnectionError`. Other Redis errors (e.g. ``WRONGTYPE`` when
the history key holds something else, ``READONLY`` on a replica) propagate
unchanged as redis-py exceptions. Wrong helper arguments (``maxlen``,
``max_bytes``, ``history_prefix``, a pipeline as ``r``) raise TypeError or
ValueError.
"""

import json
import math
import re
import time

import redis
import redis.client
import redis.exceptions

__all__ = [
    "publish",
    "publish_plain",
    "history_key",
    "SSEPublishError",
    "InvalidChannel",
    "InvalidEvent",
    "PayloadTooLarge",
    "PublishConnectionError",
    "ENVELOPE_RS",
    "DEFAULT_HISTORY_PREFIX",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAXLEN",
    "DEFAULT_FLASK_CHANNELS",
    "CHANNEL_RULE",
    "HISTORY_ID_MAX_BYTES",
]

#: First byte of an envelope payload (RFC 7464 record separator).
ENVELOPE_RS = b"\x1e"
#: Prefix of the per-channel history stream keys.
DEFAULT_HISTORY_PREFIX = "{sse}:history:"
#: The bridge's default ``--max-message-bytes``: larger payloads are dropped.
DEFAULT_MAX_BYTES = 1048576
#: Default approximate cap (``XADD MAXLEN ~``) of a history stream.
DEFAULT_MAXLEN = 1000
#: The bridge's default ``--flask-channels``.
DEFAULT_FLASK_CHANNELS = ("sse",)
#: The rule channel names and client ids (``target``) follow, as the bridge checks it.
CHANNEL_RULE = "1 to 128 bytes of [A-Za-z0-9_.:-]"
#: Longest stream entry id: "<ms>-<seq>", two unsigned 64-bit integers.
HISTORY_ID_MAX_BYTES = 41

_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
# The bridge accepts an integer id or retry only where a double holds it exactly.
_MAX_EXACT_INT = 2 ** 53
# A JSON "\u0000" escape (an odd run of backslashes before "u0000"): the bridge
# refuses envelopes holding one (its JSON parser cannot keep a NUL in a string).
_ESCAPED_NUL_RE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# What publish() adds around the JSON of a history event: '"id":"' + id + '",'.
_HISTORY_ID_OVERHEAD = len(b'"id":"",') + HISTORY_ID_MAX_BYTES

# KEYS[1]  history stream
# ARGV[1]  channel
# ARGV[2]  MAXLEN ~ cap, "" for an uncapped stream
# ARGV[3]  the JSON object without "id" (starts with '{"', it always has "data")
# ARGV[4]  what precedes the JSON on the channel: "\x1e", or "" (flask-sse)
# ARGV[5]  the stream's "format" field
# Publishes the event with "id" = "<entry id>@<channel>".
# Returns {entry id, receivers of the PUBLISH}.
_HISTORY_LUA = b"""
local id
if ARGV[2] == '' then
  id = redis.call('XADD', KEYS[1], '*', 'format', ARGV[5], 'json', ARGV[3])
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'format', ARGV[5], 'json', ARGV[3])
end
local n = redis.call('PUBLISH', ARGV[1], ARGV[4] .. '{"id":"' .. id .. '@' .. ARGV[1] .. '",' .. string.sub(ARGV[3], 2))
return {id, n}
"""


class SSEPublishError(Exception):
    """Base of every error this module raises about an event or its delivery."""


class InvalidChannel(SSEPublishError, ValueError):
    """The channel name breaks the bridge's rule (1 to 128 bytes of
    ``[A-Za-z0-9_.:-]``), or the channel cannot carry this kind of payload
    (plain text on a flask-sse channel). Nothing was sent."""


class InvalidEvent(SSEPublishError, ValueError):
    """A field of the event is one the bridge would refuse, mangle or drop:
    ``event`` not a string or with CR, LF or NUL; ``id`` not a str/int (or
    an int beyond +-2**53) or a str with CR, LF or NUL, or given with
    history=True; ``retry`` not a non-negative int; ``target`` not a valid
    client id; ``ts`` not a finite number; ``data`` not JSON-serializable
    (NaN, sets, lone surrogates, ...) or holding a NUL character; plain text
    starting with 0x1E. Nothing was sent."""


class PayloadTooLarge(SSEPublishError, ValueError):
    """The payload is over ``max_bytes`` (the bridge's --max-message-bytes):
    the bridge would drop it. ``size`` and ``limit`` hold both numbers of
    bytes. Nothing was sent."""

    def __init__(self, message, size, limit):
        super().__init__(message)
        #: bytes of the payload (history events: counting the longest possible id)
        self.size = size
        #: the max_bytes it was checked against
        self.limit = limit


class PublishConnectionError(SSEPublishError, redis.exceptions.ConnectionError):
    """Redis could not be reached, the connection broke, or it timed out.

    Wraps redis-py's ConnectionError or TimeoutError (``original``, also the
    ``__cause__``); it is a ``redis.exceptions.ConnectionError`` too, so
    existing handlers keep working. After a timeout or a connection lost
    mid-command the event may or may not have been published."""

    def __init__(self, message, original):
        super().__init__(message)
        #: the redis-py exception that was raised
        self.original = original


def _check_name(value, what):
    """Returns value when it is a valid channel name / client id; else the error text."""
    if not isinstance(value, str):
        return "%s must be a str, not %s" % (what, type(value).__name__)
    if _NAME_RE.fullmatch(value) is None:
        shown = value if len(value) <= 64 else value[:64] + "..."
        return "invalid %s %r (%d bytes): it must be %s" % (
            what, shown, len(value.encode("utf-8", "surrogatepass")), CHANNEL_RULE)
    return None


def _check_channel(channel):
    err = _check_name(channel, "channel name")
    if err is not None:
        raise InvalidChannel(err)


def _is_flask_channel(channel, flask_channels):
    for entry in flask_channels or ():
        if entry.endswith("*"):
            if channel.startswith(entry[:-1]):
                return True
        elif channel == entry:
            return True
    return False


def _check_text_field(value, name):
    if not isinstance(value, str):
        raise InvalidEvent("%s must be a str, not %s" % (name, type(value).__name__))
    for ch, label in (("\r", "CR"), ("\n", "LF"), ("\x00", "NUL")):
        if ch in value:
            raise InvalidEvent("%s %r contains %s: an SSE field cannot hold CR, LF or NUL" % (name, value, label))


def _check_int(value, lo):
    """True for an int (not a bool) in [lo, 2**53]."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and lo <= value <= _MAX_EXACT_INT)


def _check_client(r):
    if isinstance(r, redis.client.Pipeline):
        raise TypeError("r must be a redis.Redis, not a pipeline: publish() needs the reply at once")


def _wrap_connection_errors(call, what):
    try:
        return call()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
        kind = "timed out" if isinstance(e, redis.exceptions.TimeoutError) else "connection failed"
        raise PublishConnectionError("%s: Redis %s: %s" % (what, kind, e), e) from e


def _size_error(what, size, limit, note=""):
    return PayloadTooLarge("%s is %d bytes%s, over max_bytes %d (the bridge drops larger payloads)"
                           % (what, size, note, limit), size, limit)


def history_key(channel, history_prefix=DEFAULT_HISTORY_PREFIX):
    """The Redis stream key holding ``channel``'s history: ``history_prefix + channel``.

    Raises InvalidChannel for a bad channel name."""
    _check_channel(channel)
    if not isinstance(history_prefix, str):
        raise TypeError("history_prefix must be a str, not %s" % type(history_prefix).__name__)
    return history_prefix + channel


def publish(r, channel, data, event=None, id=None, target=None, history=True, ts=True, retry=None,
            maxlen=DEFAULT_MAXLEN, max_bytes=DEFAULT_MAX_BYTES, history_prefix=DEFAULT_HISTORY_PREFIX,
            flask_channels=DEFAULT_FLASK_CHANNELS):
    """Publishes one SSE event on ``channel`` for sse-bridge.

    r
        a ``redis.Redis`` (not a pipeline); ``decode_responses`` may be on or off.
    channel
        the Redis channel, 1 to 128 bytes of ``[A-Za-z0-9_.:-]``.
    data
        a str (bytes: UTF-8 text) is delivered verbatim (line breaks become
        separate ``data:`` lines, received as LF); any other JSON value is
        delivered compactly serialized. Integers beyond +-2**53 inside it
        lose precision in the bridge's JSON parser.
    event
        the SSE event type; None: the channel name (the bridge's default).
    id
        str or int SSE id, only with history=False (with history the id is
        the stream entry id).
    target
        a client id: only streams opened with ``?client_id=<target>`` get
        the event; None: every subscriber of the channel.
    history
        True: one EVALSHA of a Lua script (registered with redis-py's
        ``register_script``, which reloads it after NOSCRIPT) atomically
        XADDs the event to the stream ``history_prefix + channel`` (capped
        at about ``maxlen`` entries with ``MAXLEN ~``; None: uncapped) and
        PUBLISHes it with ``"<entry id>@<channel>"`` (e.g.
        ``"1732500000000-0@alpha"``) as its ``"id"``, which is what publish()
        returns. False: one plain PUBLISH.
    ts
        True: add ``"ts"``, the current time in ms since the epoch; a
        number: that value; False/None: no ``"ts"``.
    retry
        a non-negative int: the client's reconnection time in ms.
    max_bytes
        the bridge's ``--max-message-bytes``; a larger payload raises
        PayloadTooLarge. With history the size counts the longest possible
        entry id (41 bytes), as the id is only known inside Redis.
    flask_channels
        channels the bridge reads as flask-sse JSON (see the module doc).

    Returns the event id (str) with history=True, else the number of
    clients that received the PUBLISH (bridges, not browsers).

    Everything is validated before anything is sent to Redis: raises
    InvalidChannel, InvalidEvent or PayloadTooLarge with nothing written,
    PublishConnectionError when Redis cannot be reached.
    """
    _check_client(r)
    _check_channel(channel)
    flask = _is_flask_channel(channel, flask_channels)
    if history:
        if not isinstance(history_prefix, str):
            raise TypeError("history_prefix must be a str, not %s" % type(history_prefix).__name__)
        if maxlen is not None and not (_check_int(maxlen, 1)):
            raise ValueError("maxlen must be a positive int or None, not %r" % (maxlen,))
    if not (isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and max_bytes > 0):
        raise ValueError("max_bytes must be a positive int, not %r" % (max_bytes,))

    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidEvent("data bytes are not UTF-8 text (%s); JSON cannot carry them" % e) from None

    obj = {}
    if id is not None:
        if history:
            raise InvalidEvent("id %r cannot be given with history=True: the event id is the history "
                               "stream entry id (pass history=False to choose ids)" % (id,))
        if isinstance(id, str):
            _check_text_field(id, "id")
        elif not _check_int(id, -_MAX_EXACT_INT):
            raise InvalidEvent("id must be a str or an int within +-2**53, not %r (%s)" % (id, type(id).__name__))
        obj["id"] = id
    if event is not None:
        _check_text_field(event, "event")
        obj["type" if flask else "event"] = event  # flask-sse calls it "type"
    obj["data"] = data
    if retry is not None:
        if not _check_int(retry, 0):
            raise InvalidEvent("retry must be a non-negative int (ms), not %r" % (retry,))
        obj["retry"] = retry
    if target is not None:
        if flask:
            raise InvalidEvent("target cannot be used on flask-sse channel %r: that format has no target, "
                               "the bridge would deliver the event to every subscriber" % channel)
        err = _check_name(target, "target client id")
        if err is not None:
            raise InvalidEvent(err)
        obj["target"] = target
    if ts is True:
        obj["ts"] = int(time.time() * 1000)
    elif ts is not None and ts is not False:
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise InvalidEvent("ts must be True, False, None or a finite number of ms, not %r" % (ts,))
        obj["ts"] = ts
    try:
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:  # UnicodeEncodeError is a ValueError
        raise InvalidEvent("data cannot be serialized as JSON: %s" % e) from None
    if _ESCAPED_NUL_RE.search(body):
        raise InvalidEvent("the event holds a NUL character (in data or a key): "
                           "the bridge refuses \\u0000 in an envelope")

    prefix = b"" if flask else ENVELOPE_RS
    what = "%s for channel %r" % ("flask-sse message" if flask else "envelope", channel)
    if not history:
        payload = prefix + body
        if len(payload) > max_bytes:
            raise _size_error(what, len(payload), max_bytes)
        return _wrap_connection_errors(lambda: r.publish(channel.encode("ascii"), payload), "PUBLISH " + channel)

    size = len(prefix) + len(body) + _HISTORY_ID_OVERHEAD + 1 + len(channel)
    if size > max_bytes:
        raise _size_error(what, size, max_bytes, " (with room for a %d-byte history id)" % HISTORY_ID_MAX_BYTES)
    key = (history_prefix + channel).encode("utf-8")
    script = r.register_script(_HISTORY_LUA)
    args = [channel.encode("ascii"), b"" if maxlen is None else str(maxlen).encode("ascii"), body, prefix,
            b"flask-sse" if flask else b"envelope"]
    res = _wrap_connection_errors(lambda: script(keys=[key], args=args), "history publish on " + channel)
    entry_id = res[0]
    entry_id = entry_id.decode("ascii") if isinstance(entry_id, bytes) else str(entry_id)
    return entry_id + "@" + channel


def publish_plain(r, channel, text, max_bytes=DEFAULT_MAX_BYTES, flask_channels=DEFAULT_FLASK_CHANNELS):
    """PUBLISHes ``text`` (str, or bytes) on ``channel`` as is, without an envelope.

    The bridge sends it as ``event: <channel>`` with one ``data:`` line per
    line of text. Raises InvalidChannel for a bad name or a flask-sse channel
    (where plain text is dropped), InvalidEvent when the text starts with
    0x1E (the bridge would read it as an envelope), PayloadTooLarge over
    ``max_bytes``, all before anything is sent; PublishConnectionError when
    Redis cannot be reached. Returns the number of receivers (bridges)."""
    _check_client(r)
    _check_channel(channel)
    if _is_flask_channel(channel, flask_channels):
        raise InvalidChannel("channel %r carries flask-sse JSON on the bridge (flask_channels): plain text "
                             "would be dropped there; use publish()" % channel)
    if isinstance(text, str):
        try:
            payload = text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidEvent("text is not encodable as UTF-8: %s" % e) from None
    elif isinstance(text, (bytes, bytearray, memoryview)):
        payload = bytes(text)
    else:
        raise InvalidEvent("text must be a str or bytes, not %s" % type(text).__name__)
    if payload[:1] == ENVELOPE_RS:
        raise InvalidEvent("plain text must not start with byte 0x1E: the bridge would read it as an "
                           "envelope; use publish()")
    if not (isinstance(max_bytes, int) and not isinstance(max_bytes, bool) and max_bytes > 0):
        raise ValueError("max_bytes must be a positive int, not %r" % (max_bytes,))
    if len(payload) > max_bytes:
        raise _size_error("plain text for channel %r" % channel, len(payload), max_bytes)
    return _wrap_connection_errors(lambda: r.publish(channel.encode("ascii"), payload), "PUBLISH " + channel)


#: the shortest HS256 key the bridge accepts (--auth-secret)
MIN_SECRET_BYTES = 32
#: the longest token lifetime make_token issues, in seconds (a week)
MAX_TOKEN_TTL = 7 * 24 * 3600


def make_token(secret, client_id, channels, ttl=3600, now=None):
    """Returns an HS256 token for the bridge's ``--auth-secret``: the browser
    passes it as ``/events?token=...`` (or ``Authorization: Bearer``).

    ``client_id`` becomes the token's ``sub``: the identity ``target``
    delivery trusts. ``channels`` lists what the holder may subscribe to
    (names, or ``"prefix*"`` families; public channels need no grant).
    The token expires ``ttl`` seconds after ``now`` (default: the current
    time); the bridge closes a stream whose token expired, and the client
    reconnects with a fresh token from the app. Raises ValueError for a
    secret shorter than 32 bytes, an invalid client id or channel, or a ttl
    outside 1 second to a week. Needs PyJWT (Debian ``python3-jwt``).

    Flask example::

        @app.get("/sse-token")
        def sse_token():
            return {"token": make_token(app.config["SSE_SECRET"], session["client_id"],
                                        ["summary_progress", "summary_complete"], ttl=900)}
    """
    import jwt  # PyJWT; only token issuers need it

    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_SECRET_BYTES:
        raise ValueError("secret must be at least %d bytes (the bridge refuses shorter keys)" % MIN_SECRET_BYTES)
    err = _check_name(client_id, "client id")
    if err is not None:
        raise ValueError(err)
    if isinstance(channels, str) or not hasattr(channels, "__iter__"):
        raise ValueError("channels must be a list of channel names or 'prefix*' families")
    grants = []
    for ch in channels:
        name = ch[:-1] if isinstance(ch, str) and ch.endswith("*") else ch
        if not (isinstance(ch, str) and (name == "" and ch == "*" or _NAME_RE.fullmatch(name))):
            raise ValueError("invalid channel grant %r: a channel name (%s) or 'prefix*'" % (ch, CHANNEL_RULE))
        if ch in grants:
            raise ValueError("channel grant %r is listed twice" % ch)
        grants.append(ch)
    if not (isinstance(ttl, int) and not isinstance(ttl, bool) and 1 <= ttl <= MAX_TOKEN_TTL):
        raise ValueError("ttl must be an int from 1 to %d seconds, not %r" % (MAX_TOKEN_TTL, ttl))
    issued = int(time.time() if now is None else now)
    claims = {"sub": client_id, "channels": grants, "iat": issued, "exp": issued + ttl}
    token = jwt.encode(claims, bytes(key), algorithm="HS256")
    return token.decode("ascii") if isinstance(token, bytes) else token
