/* EnhancedSSEClient: the browser client of sse-bridge (served at /sse-client.js).
 *
 * A native EventSource carries the stream (the browser decodes gzip by
 * itself), but reconnection is ours: on any error the EventSource is closed
 * and a new one opened after an exponential backoff with full jitter, from
 * the last position seen on every channel, so a bridge that keeps history
 * gives back everything missed, exactly once.
 *
 * Classic script: defines the global EnhancedSSEClient. ES module: import
 * /sse-client.mjs (which loads this file and exports the same class).
 * Node (unit tests): require() returns the class. No dependencies. */
(function (root) {
  'use strict';

  var DEFAULTS = {
    maxReconnectAttempts: 15, // reconnections in a row before 'failed'
    baseReconnectDelay: 1000, // ms: the first backoff window
    maxReconnectDelay: 30000, // ms: cap of the backoff window
    heartbeatTimeout: 45000, // ms without any event (or without 'connected' when opening) before reconnecting
    compressionSupport: true, // false adds compression=none: the bridge sends identity bytes
    metricsEnabled: true, // keep the figures getMetrics() returns
    debugMode: false, // log transitions to the console
    withCredentials: false, // passed to EventSource (cross-origin cookies)
    channels: null, // optional array or comma list: added as channels= to the URL
    clientId: null, // optional client id: added as client_id= to the URL
    token: null, // bridge token (--auth-secret): a string, or a function returning one (or a
    //              Promise of one), asked again before every connection; sent as token=
    random: null, // function returning [0, 1): Math.random unless given (tests)
    EventSource: null, // the EventSource constructor: the global one unless given (tests)
  };

  // Streams open in this page (every client), to warn before the browser's
  // per-host connection limit (6 over HTTP/1.1) stalls the page.
  var openStreams = 0;
  var STREAMS_WARN = 4;
  var warnedStreams = false;

  // Events the client makes itself; the rest come from the server.
  var OWN_EVENTS = ['enhanced_connected', 'reconnecting', 'disconnected', 'failed', 'degraded',
    'recovered', 'shutdown', 'state', 'error', 'token_expired'];
  // Events of the EventSource object itself, never listened to as server events.
  var NATIVE_EVENTS = ['message', 'error', 'open'];
  // Server events the client always listens to, whatever the page listens for.
  var CONTROL_EVENTS = ['connected', 'heartbeat', 'system', 'limit', 'reset'];
  // A history id: "<ms>-<seq>@<channel>" (bridge/README, "Resume").
  var HIST_TOKEN = /^(\d+-\d+)@([A-Za-z0-9_.:-]{1,128})$/;

  function num(v, name, min) {
    if (typeof v !== 'number' || !isFinite(v) || v < min)
      throw new TypeError('EnhancedSSEClient: option ' + name + ' must be a number >= ' + min + ', not ' + v);
    return v;
  }

  // Checks and completes the options; throws TypeError on a bad value.
  function normalizeOptions(opts) {
    var o = {};
    var k;
    if (opts != null && typeof opts !== 'object')
      throw new TypeError('EnhancedSSEClient: options must be an object');
    for (k in DEFAULTS)
      o[k] = DEFAULTS[k];
    for (k in opts || {}) {
      if (!Object.prototype.hasOwnProperty.call(opts, k))
        continue;
      if (!Object.prototype.hasOwnProperty.call(DEFAULTS, k))
        throw new TypeError('EnhancedSSEClient: unknown option ' + k);
      if (opts[k] !== undefined)
        o[k] = opts[k];
    }
    num(o.maxReconnectAttempts, 'maxReconnectAttempts', 0);
    if (o.maxReconnectAttempts !== Infinity && Math.floor(o.maxReconnectAttempts) !== o.maxReconnectAttempts)
      throw new TypeError('EnhancedSSEClient: option maxReconnectAttempts must be a whole number');
    num(o.baseReconnectDelay, 'baseReconnectDelay', 1);
    num(o.maxReconnectDelay, 'maxReconnectDelay', o.baseReconnectDelay);
    num(o.heartbeatTimeout, 'heartbeatTimeout', 1);
    ['compressionSupport', 'metricsEnabled', 'debugMode', 'withCredentials'].forEach(function (b) {
      o[b] = !!o[b];
    });
    if (typeof o.channels === 'string')
      o.channels = o.channels.split(',').filter(Boolean);
    if (o.channels != null && !Array.isArray(o.channels))
      throw new TypeError('EnhancedSSEClient: option channels must be an array or a comma list');
    if (o.token != null && typeof o.token !== 'string' && typeof o.token !== 'function')
      throw new TypeError('EnhancedSSEClient: option token must be a string or a function');
    if (o.random != null && typeof o.random !== 'function')
      throw new TypeError('EnhancedSSEClient: option random must be a function');
    return o;
  }

  // The backoff window before reconnection number attempt (1, 2, ...):
  // base * 2^(attempt-1), capped: 1, 2, 4, 8, 16, 30, 30 ... s by default.
  function backoffCeiling(attempt, base, cap) {
    var exp = Math.min(attempt - 1, 52);
    return Math.min(cap, base * Math.pow(2, exp));
  }

  // Full jitter: a delay drawn uniformly from [0, window], then raised to
  // the server's floor. Full rather than decorrelated jitter because what
  // hurts a bridge is a herd: when one restarts, every page it served errors
  // in the same instant, and full jitter spreads their returns evenly over
  // the whole window (decorrelated jitter keeps each client's delay near
  // its last one, so clients that failed together stay bunched); a short
  // first delay also brings one page back quickly after a blip. A server
  // that wants a minimum (limit, shutdown) states it and is obeyed.
  function backoffDelay(attempt, base, cap, floor, random) {
    var d = Math.floor(random() * backoffCeiling(attempt, base, cap));
    return Math.max(d, floor || 0);
  }

  // The positions in a cursor or id ("<id>@<channel>", comma-separated) as
  // {channel: id}; null when it is not one of ours.
  function parseCursor(text) {
    if (typeof text !== 'string' || text === '')
      return null;
    var out = {};
    var parts = text.split(',');
    for (var i = 0; i < parts.length; i++) {
      var m = HIST_TOKEN.exec(parts[i]);
      if (!m)
        return null;
      out[m[2]] = m[1];
    }
    return out;
  }

  function parseData(s) {
    if (typeof s !== 'string')
      return s;
    var c = s.charAt(0);
    // Only what can be JSON is tried: plain text stays text.
    if (c === '{' || c === '[' || c === '"' || c === '-' || (c >= '0' && c <= '9') ||
        s === 'true' || s === 'false' || s === 'null') {
      try {
        return JSON.parse(s);
      } catch (e) {
        return s;
      }
    }
    return s;
  }

  function EnhancedSSEClient(url, options) {
    if (!(this instanceof EnhancedSSEClient))
      throw new TypeError('EnhancedSSEClient must be called with new');
    if (typeof url !== 'string' || url === '')
      throw new TypeError('EnhancedSSEClient: url must be a non-empty string');
    this.url = url;
    this.options = normalizeOptions(options);
    this.state = 'idle'; // idle, connecting, connected, waiting, failed, closed
    this.attempt = 0; // reconnections since the last 'connected'
    this.positions = {}; // channel -> last history id seen
    this.lastEventId = ''; // the last id seen that is not a history id
    this.bridge = null; // id of the bridge of the current stream
    this._handlers = {}; // type -> [functions]
    this._es = null; // the current EventSource
    this._listening = {}; // types registered on _es
    this._timer = null; // reconnect timer
    this._watchdog = null; // heartbeat watchdog timer
    this._floor = 0; // the server's minimum for the next delay, ms
    this._tokenSeq = 0; // token requests made; a late answer to an older one is dropped
    this._everConnected = false; // a stream of this attempt said 'connected'
    this._hbInterval = 0; // the server's heartbeat interval, ms
    this._attemptsBefore = 0; // the attempt count before the last 'connected'
    this._seenId = ''; // the current EventSource's last id (sticky), to tell new ids
    this._onlineFn = null; // our 'online' listener on the window, while active
    this._random = this.options.random || Math.random;
    this._metrics = {
      connects: 0, reconnects: 0, watchdogTimeouts: 0, errors: 0, messages: 0,
      messagesByType: {}, bytes: 0, lastLatency: null, latencySum: 0, latencyCount: 0,
      connectedMs: 0, connectedSince: null,
    };
  }

  var P = EnhancedSSEClient.prototype;

  P._log = function () {
    if (!this.options.debugMode || typeof console === 'undefined')
      return;
    var args = ['[EnhancedSSEClient]'].concat([].slice.call(arguments));
    (console.debug || console.log).apply(console, args);
  };

  P._setState = function (s) {
    if (this.state === s)
      return;
    var was = this.state;
    var now = Date.now();
    if (was === 'connected' && this._metrics.connectedSince != null) {
      this._metrics.connectedMs += now - this._metrics.connectedSince;
      this._metrics.connectedSince = null;
    }
    if (s === 'connected')
      this._metrics.connectedSince = now;
    this.state = s;
    this._log('state', was, '->', s);
    this._emit('state', { from: was, to: s });
  };

  // Registers handler(data) for type: a channel's events, a server event
  // (heartbeat, reset, system, limit, connected) or one the client makes
  // (enhanced_connected, reconnecting, disconnected, failed, degraded,
  // recovered, shutdown, state). Returns this.
  P.addEventListener = function (type, handler) {
    if (typeof type !== 'string' || type === '' || typeof handler !== 'function')
      throw new TypeError('EnhancedSSEClient.addEventListener(type, function)');
    var list = this._handlers[type] || (this._handlers[type] = []);
    if (list.indexOf(handler) < 0)
      list.push(handler);
    if (this._es)
      this._listen(type);
    return this;
  };

  P.removeEventListener = function (type, handler) {
    var list = this._handlers[type];
    if (!list)
      return this;
    var i = list.indexOf(handler);
    if (i >= 0)
      list.splice(i, 1);
    return this;
  };

  P._emit = function (type, data) {
    var list = this._handlers[type];
    if (!list)
      return;
    list = list.slice(); // a handler may remove itself
    for (var i = 0; i < list.length; i++) {
      try {
        list[i].call(this, data);
      } catch (e) {
        // A page's handler must not break the stream: report it, go on.
        if (typeof console !== 'undefined')
          console.error('EnhancedSSEClient: a "' + type + '" handler threw', e);
      }
    }
  };

  // The URL of the next connection: the page's URL plus the resume cursor
  // (and the token, when one is given).
  P.buildUrl = function (token) {
    var base = (typeof location !== 'undefined' && location.href) || 'http://localhost/';
    var u = new URL(this.url, base);
    var o = this.options;
    if (o.channels && o.channels.length && !u.searchParams.has('channels'))
      u.searchParams.set('channels', o.channels.join(','));
    if (o.clientId != null && !u.searchParams.has('client_id'))
      u.searchParams.set('client_id', String(o.clientId));
    if (!o.compressionSupport)
      u.searchParams.set('compression', 'none');
    if (token)
      u.searchParams.set('token', token);
    var cursor = this.cursor();
    if (cursor)
      u.searchParams.set('last_event_id', cursor);
    else
      u.searchParams.delete('last_event_id');
    // A relative URL stays relative (same origin, no surprise in logs).
    if (/^[a-z][a-z0-9+.-]*:/i.test(this.url))
      return u.href;
    return u.pathname + u.search;
  };

  // The resume cursor: every channel's last history id, else the last
  // other id (the bridge ignores ids that are no cursor of its own).
  P.cursor = function () {
    var parts = [];
    for (var ch in this.positions)
      parts.push(this.positions[ch] + '@' + ch);
    return parts.length ? parts.join(',') : this.lastEventId;
  };

  P._note = function (id) {
    if (!id)
      return;
    var pos = parseCursor(id);
    if (!pos) {
      this.lastEventId = id;
      return;
    }
    for (var ch in pos)
      this.positions[ch] = pos[ch];
  };

  P._listen = function (type) {
    // 'message' comes through onmessage; 'error' and 'open' are the native
    // object's own events, not the server's.
    if (this._listening[type] || OWN_EVENTS.indexOf(type) >= 0 || NATIVE_EVENTS.indexOf(type) >= 0)
      return;
    this._listening[type] = true;
    var self = this;
    var es = this._es;
    es.addEventListener(type, function (ev) {
      if (self._es === es)
        self._onEvent(type, ev);
    });
  };

  // Opens the stream. Safe to call again: a pending reconnection happens now.
  P.connect = function () {
    if (this.state === 'connecting' || this.state === 'connected')
      return this;
    if (this.state === 'failed' || this.state === 'closed' || this.state === 'idle')
      this.attempt = 0;
    this._clearTimer();
    this._watchOnline(true);
    this._open();
    return this;
  };

  // A browser that comes back online does not wait out the backoff.
  P._watchOnline = function (on) {
    if (!root || typeof root.addEventListener !== 'function')
      return;
    var self = this;
    if (on && !this._onlineFn) {
      this._onlineFn = function () {
        if (self.state !== 'waiting')
          return;
        self._log('browser online: reconnecting now');
        self._clearTimer();
        self._metrics.reconnects++;
        self._open();
      };
      root.addEventListener('online', this._onlineFn);
    } else if (!on && this._onlineFn) {
      root.removeEventListener('online', this._onlineFn);
      this._onlineFn = null;
    }
  };

  // Opens the next connection, with a fresh token when a function gives it
  // (tokens expire; the bridge ends a stream whose token did).
  P._open = function () {
    var tok = this.options.token;
    if (typeof tok !== 'function')
      return this._openWith(tok);
    var self = this;
    var seq = ++this._tokenSeq;
    this._setState('connecting');
    var got;
    try {
      got = tok();
    } catch (e) {
      got = Promise.reject(e);
    }
    Promise.resolve(got).then(function (t) {
      if (self._tokenSeq === seq && self.state === 'connecting' && !self._es)
        self._openWith(t == null ? null : String(t));
    }, function (e) {
      if (self._tokenSeq !== seq || self.state !== 'connecting' || self._es)
        return;
      self._log('token function failed', e);
      self._onError('token_unavailable');
    });
  };

  P._openWith = function (token) {
    var ES = this.options.EventSource || (typeof EventSource !== 'undefined' ? EventSource : null);
    if (!ES)
      throw new Error('EnhancedSSEClient: no EventSource in this environment');
    var url = this.buildUrl(token);
    this._everConnected = false;
    this._seenId = '';
    this._setState('connecting');
    this._log('connect', url, 'attempt', this.attempt);
    var es = new ES(url, { withCredentials: this.options.withCredentials });
    this._es = es;
    openStreams++;
    if (openStreams > STREAMS_WARN && !warnedStreams && typeof console !== 'undefined') {
      warnedStreams = true;
      console.warn('EnhancedSSEClient: ' + openStreams + ' streams open in this page. Browsers allow 6 ' +
        'HTTP/1.1 connections per host, shared by every tab: use one client for several channels ' +
        '(channels=a,b,c), or serve the bridge over HTTP/2.');
    }
    this._listening = {};
    var self = this;
    var types = CONTROL_EVENTS.concat(Object.keys(this._handlers));
    for (var i = 0; i < types.length; i++)
      this._listen(types[i]);
    es.onmessage = function (ev) {
      if (self._es === es)
        self._onEvent('message', ev);
    };
    es.onerror = function () {
      if (self._es === es)
        self._onError('error');
    };
    // Until 'connected' arrives the same timeout applies: a server that
    // accepts the socket but never answers (stopped, black-holed) is left.
    this._armWatchdog();
  };

  P._armWatchdog = function () {
    var self = this;
    if (this._watchdog)
      clearTimeout(this._watchdog);
    // A server that announced a slower heartbeat gets 1.5 of its interval.
    var t = Math.max(this.options.heartbeatTimeout, this._hbInterval * 1.5);
    this._watchdog = setTimeout(function () {
      self._watchdog = null;
      self._metrics.watchdogTimeouts++;
      self._log('no event for', t, 'ms');
      self._onError('heartbeat_timeout');
    }, t);
  };

  P._clearTimer = function () {
    if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  };

  P._closeEs = function () {
    if (this._watchdog) {
      clearTimeout(this._watchdog);
      this._watchdog = null;
    }
    if (this._es) {
      var es = this._es;
      this._es = null;
      es.onmessage = es.onerror = null;
      es.close();
      openStreams--;
    }
  };

  // The stream ended or failed (reason: 'error', 'heartbeat_timeout',
  // 'limit', 'shutdown'): close it and come back after a backoff.
  P._onError = function (reason) {
    var wasConnected = this._everConnected;
    this._metrics.errors++;
    this._closeEs();
    this._emit('error', { reason: reason, connected: wasConnected });
    if (wasConnected)
      this._emit('disconnected', { reason: reason, bridge: this.bridge, cursor: this.cursor() });
    this._schedule(reason);
  };

  P._schedule = function (reason) {
    var o = this.options;
    if (this.attempt >= o.maxReconnectAttempts) {
      this._setState('failed');
      this._watchOnline(false);
      this._log('giving up after', this.attempt, 'reconnections');
      this._emit('failed', { attempts: this.attempt, reason: reason });
      return;
    }
    this.attempt++;
    var floor = this._floor;
    this._floor = 0;
    var delay = backoffDelay(this.attempt, o.baseReconnectDelay, o.maxReconnectDelay, floor, this._random);
    this._setState('waiting');
    this._log('reconnecting in', delay, 'ms, attempt', this.attempt, 'reason', reason);
    this._emit('reconnecting', {
      attempt: this.attempt, delay: delay, reason: reason, floor: floor,
      maxAttempts: o.maxReconnectAttempts,
    });
    var self = this;
    this._timer = setTimeout(function () {
      self._timer = null;
      self._metrics.reconnects++;
      self._open();
    }, delay);
  };

  P._count = function (type, ev) {
    var m = this._metrics;
    if (!this.options.metricsEnabled)
      return;
    m.messages++;
    m.messagesByType[type] = (m.messagesByType[type] || 0) + 1;
    if (typeof ev.data === 'string')
      m.bytes += ev.data.length;
  };

  P._onEvent = function (type, ev) {
    this._armWatchdog();
    this._count(type, ev);
    var data = parseData(ev.data);
    switch (type) {
    case 'connected':
      this._onConnected(ev, data);
      return;
    case 'heartbeat':
      this._onHeartbeat(data);
      return;
    case 'system':
      this._onSystem(data);
      return;
    case 'reset':
      this._onReset(data);
      return;
    case 'limit':
      // Over a limit: the bridge says when to come back, then closes.
      if (data && typeof data.retry === 'number')
        this._floor = data.retry;
      this._emit('limit', data);
      this._onError('limit');
      return;
    }
    // EventSource's lastEventId is sticky (the last id field seen on the
    // stream, not this event's): an event has an id of its own when it
    // changed. (Two events in a row with the same id show it once.)
    var id = ev.lastEventId && ev.lastEventId !== this._seenId ? ev.lastEventId : null;
    this._seenId = ev.lastEventId || '';
    if (id)
      this._note(id);
    var pos = id && parseCursor(id);
    this._emit(type, {
      type: type, data: data, id: id, channel: pos ? Object.keys(pos)[0] : null,
      raw: ev.data,
    });
  };

  P._onConnected = function (ev, data) {
    // The connected event's id is the stream's full cursor.
    this._seenId = ev.lastEventId || '';
    if (ev.lastEventId)
      this._note(ev.lastEventId);
    var info = data && typeof data === 'object' ? data : {};
    this.bridge = info.bridge || null;
    this._hbInterval = typeof info.heartbeat_interval === 'number' ? info.heartbeat_interval * 1000 : 0;
    this._armWatchdog();
    var attempts = this.attempt;
    this._attemptsBefore = attempts;
    this.attempt = 0;
    this._everConnected = true;
    this._metrics.connects++;
    this._setState('connected');
    this._emit('connected', info);
    this._emit('enhanced_connected', {
      bridge: this.bridge, client_id: info.client_id == null ? null : info.client_id,
      channels: info.channels || [], resumed: !!info.resumed,
      heartbeat_interval: info.heartbeat_interval, attempts: attempts,
      cursor: this.cursor(),
    });
  };

  // The bridge could not replay everything after the cursor. 'trimmed' and
  // 'missing' are final: the events are gone, the page hears it and the
  // stream goes on. 'history_unavailable' and 'history_error' are passing
  // (Redis away, e.g. a bridge just restarted): staying would move the
  // positions past the gap with the next live event, so the client leaves
  // and resumes later from the positions it has.
  P._onReset = function (data) {
    var r = data && typeof data === 'object' ? data : {};
    this._emit('reset', r);
    if (r.reason === 'history_unavailable' || r.reason === 'history_error') {
      // Not a success: the backoff goes on from where it was.
      this.attempt = this._attemptsBefore;
      this._onError('history_unavailable');
    }
  };

  P._onHeartbeat = function (data) {
    var hb = data && typeof data === 'object' ? data : {};
    var latency = typeof hb.ts === 'number' ? Date.now() - hb.ts : null;
    var m = this._metrics;
    if (latency != null && this.options.metricsEnabled) {
      m.lastLatency = latency;
      m.latencySum += latency;
      m.latencyCount++;
    }
    this._emit('heartbeat', { ts: hb.ts, bridge: hb.bridge, client_latency: latency });
  };

  P._onSystem = function (data) {
    var s = data && typeof data === 'object' ? data : { status: String(data) };
    this._emit('system', s);
    if (s.status === 'degraded' || s.status === 'recovered')
      this._emit(s.status, s);
    if (s.status === 'shutdown') {
      if (typeof s.retry === 'number')
        this._floor = s.retry;
      this._emit('shutdown', s);
    }
    if (s.status === 'token_expired') {
      // The bridge ends the stream now: leave first, come back with a new token.
      this._emit('token_expired', s);
      this._onError('token_expired');
    }
  };

  // Stops everything: the stream, the reconnection, the watchdog.
  P.close = function () {
    this._clearTimer();
    this._closeEs();
    this._watchOnline(false);
    this._setState('closed');
    return this;
  };

  // The figures kept since construction (empty counters when metrics are off).
  P.getMetrics = function () {
    var m = this._metrics;
    var now = Date.now();
    var connectedMs = m.connectedMs + (m.connectedSince != null ? now - m.connectedSince : 0);
    var byType = {};
    for (var k in m.messagesByType)
      byType[k] = m.messagesByType[k];
    return {
      state: this.state,
      bridge: this.bridge,
      connects: m.connects,
      reconnects: m.reconnects,
      reconnectAttempt: this.attempt,
      watchdogTimeouts: m.watchdogTimeouts,
      errors: m.errors,
      messages: m.messages,
      messagesByType: byType,
      bytes: m.bytes,
      lastLatency: m.lastLatency,
      averageLatency: m.latencyCount ? m.latencySum / m.latencyCount : null,
      connectedMs: connectedMs,
      cursor: this.cursor(),
    };
  };

  EnhancedSSEClient.DEFAULTS = DEFAULTS;
  EnhancedSSEClient.normalizeOptions = normalizeOptions;
  EnhancedSSEClient.backoffCeiling = backoffCeiling;
  EnhancedSSEClient.backoffDelay = backoffDelay;
  EnhancedSSEClient.parseCursor = parseCursor;
  EnhancedSSEClient.parseData = parseData;

  if (typeof module === 'object' && module && module.exports)
    module.exports = EnhancedSSEClient;
  if (root)
    root.EnhancedSSEClient = EnhancedSSEClient;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this);
