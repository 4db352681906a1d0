// Unit tests of bridge/static/sse-client.js without a browser: the backoff
// schedule, option handling, cursors, and the reconnection state machine
// driven by a fake EventSource and a fake clock (node --test).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const SOURCE = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'bridge', 'static', 'sse-client.js'), 'utf8');

// A fake clock: setTimeout/clearTimeout that run only when advanced.
function fakeClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    now: () => now,
    pending: () => [...timers.values()].map((t) => t.at - now).sort((a, b) => a - b),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let next = null;
        for (const [id, t] of timers)
          if (t.at <= end && (next === null || t.at < timers.get(next).at))
            next = id;
        if (next === null)
          break;
        const t = timers.get(next);
        timers.delete(next);
        now = t.at;
        t.fn();
      }
      now = end;
    },
  };
}

// A fake EventSource recording what the client does with it.
function fakeEventSourceClass(made) {
  return class FakeEventSource {
    constructor(url, init) {
      this.url = url;
      this.init = init;
      this.listeners = {};
      this.closed = false;
      this.onmessage = null;
      this.onerror = null;
      made.push(this);
    }
    addEventListener(type, fn) {
      (this.listeners[type] = this.listeners[type] || []).push(fn);
    }
    close() {
      this.closed = true;
    }
    // The server sends an event.
    emit(type, data, lastEventId) {
      const ev = { type, data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId: lastEventId || '' };
      if (type === 'message' && this.onmessage)
        this.onmessage(ev);
      for (const fn of this.listeners[type] || [])
        fn(ev);
    }
    fail() {
      if (this.onerror)
        this.onerror({ type: 'error' });
    }
  };
}

// Loads the client in a fresh context with the fake clock.
function load(clock) {
  const listeners = {};
  const sandbox = {
    setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, URL, console,
    // window's own events ('online')
    addEventListener: (type, fn) => (listeners[type] = listeners[type] || []).push(fn),
    removeEventListener: (type, fn) => {
      listeners[type] = (listeners[type] || []).filter((f) => f !== fn);
    },
    dispatch: (type) => (listeners[type] || []).slice().forEach((fn) => fn({ type })),
    listeners,
    Date: { now: () => 1700000000000 + clock.now() },
    module: { exports: {} },
  };
  vm.createContext(sandbox);
  vm.runInContext(SOURCE, sandbox, { filename: 'sse-client.js' });
  const Client = sandbox.module.exports;
  Client.window = sandbox;
  return Client;
}

function setup(opts, randomValue) {
  const clock = fakeClock();
  const Client = load(clock);
  const made = [];
  const events = [];
  const rnd = typeof randomValue === 'function' ? randomValue : () => (randomValue === undefined ? 0.5 : randomValue);
  const c = new Client('http://127.0.0.1:8080/events?channels=alpha,beta', Object.assign({
    EventSource: fakeEventSourceClass(made), random: rnd,
  }, opts || {}));
  for (const t of ['enhanced_connected', 'reconnecting', 'disconnected', 'failed', 'heartbeat', 'degraded',
    'recovered', 'shutdown', 'limit', 'reset', 'alpha', 'beta', 'progress'])
    c.addEventListener(t, (d) => events.push({ t: clock.now(), type: t, d }));
  const es = () => made[made.length - 1];
  const connected = (extra, id) => es().emit('connected', Object.assign({
    bridge: 'b1', client_id: null, channels: ['alpha', 'beta'], heartbeat_interval: 1, resumed: false,
  }, extra || {}), id);
  return { clock, Client, made, events, c, es, connected, of: (type) => events.filter((e) => e.type === type) };
}

test('backoff ceilings follow 1, 2, 4, 8, 16 s and stop at maxReconnectDelay', () => {
  const Client = load(fakeClock());
  const got = [1, 2, 3, 4, 5, 6, 7, 20, 2000].map((n) => Client.backoffCeiling(n, 1000, 30000));
  assert.deepEqual(got, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.deepEqual([1, 2, 3].map((n) => Client.backoffCeiling(n, 250, 600)), [250, 500, 600]);
});

test('full jitter draws the delay uniformly from zero to the ceiling', () => {
  const Client = load(fakeClock());
  assert.equal(Client.backoffDelay(4, 1000, 30000, 0, () => 0), 0);
  assert.equal(Client.backoffDelay(4, 1000, 30000, 0, () => 0.5), 4000);
  assert.equal(Client.backoffDelay(4, 1000, 30000, 0, () => 0.999999), 7999);
  assert.equal(Client.backoffDelay(9, 1000, 30000, 0, () => 0.999999), 29999);
  // Seeded draws stay within [0, ceiling) and cover the window.
  let s = 42;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let attempt = 1; attempt <= 8; attempt++) {
    const ceil = Client.backoffCeiling(attempt, 1000, 30000);
    const ds = Array.from({ length: 400 }, () => Client.backoffDelay(attempt, 1000, 30000, 0, rnd));
    assert.ok(ds.every((d) => d >= 0 && d < ceil), 'attempt ' + attempt);
    assert.ok(Math.min(...ds) < ceil * 0.1 && Math.max(...ds) > ceil * 0.9, 'attempt ' + attempt + ' not spread');
  }
});

test("the server's floor raises a shorter delay and leaves a longer one", () => {
  const Client = load(fakeClock());
  assert.equal(Client.backoffDelay(1, 1000, 30000, 2500, () => 0.1), 2500);
  assert.equal(Client.backoffDelay(5, 1000, 30000, 2500, () => 0.5), 8000);
  // Above the cap too: the server's word wins.
  assert.equal(Client.backoffDelay(1, 100, 200, 5000, () => 0.5), 5000);
});

test('options default to the integration guide values', () => {
  const Client = load(fakeClock());
  const o = Client.normalizeOptions(undefined);
  assert.equal(o.maxReconnectAttempts, 15);
  assert.equal(o.baseReconnectDelay, 1000);
  assert.equal(o.maxReconnectDelay, 30000);
  assert.equal(o.heartbeatTimeout, 45000);
  assert.equal(o.compressionSupport, true);
  assert.equal(o.metricsEnabled, true);
  assert.equal(o.debugMode, false);
  const p = Client.normalizeOptions({ maxReconnectAttempts: 3, debugMode: 1, heartbeatTimeout: undefined });
  assert.equal(p.maxReconnectAttempts, 3);
  assert.equal(p.debugMode, true);
  assert.equal(p.heartbeatTimeout, 45000);
});

test('bad options are refused with a TypeError naming the option', () => {
  const Client = load(fakeClock());
  const bad = [
    [{ maxReconnectAttempts: -1 }, /maxReconnectAttempts/],
    [{ maxReconnectAttempts: 1.5 }, /maxReconnectAttempts/],
    [{ baseReconnectDelay: 0 }, /baseReconnectDelay/],
    [{ baseReconnectDelay: '1000' }, /baseReconnectDelay/],
    [{ baseReconnectDelay: 2000, maxReconnectDelay: 1000 }, /maxReconnectDelay/],
    [{ heartbeatTimeout: NaN }, /heartbeatTimeout/],
    [{ maxReconectAttempts: 3 }, /unknown option maxReconectAttempts/],
    [{ channels: 5 }, /channels/],
    ['fast', /options must be an object/],
  ];
  for (const [opts, re] of bad)
    assert.throws(() => Client.normalizeOptions(opts), (e) => e.name === 'TypeError' && re.test(e.message), JSON.stringify(opts));
  // The client runs in its own realm: compare error names, not classes.
  assert.throws(() => new Client('', {}), (e) => e.name === 'TypeError');
  assert.throws(() => Client('/events'), (e) => e.name === 'TypeError');
});

test('cursors and ids of the form <ms>-<seq>@<channel> are parsed, others are not', () => {
  const Client = load(fakeClock());
  assert.deepEqual({ ...Client.parseCursor('1-0@alpha') }, { alpha: '1-0' });
  assert.deepEqual({ ...Client.parseCursor('1795579860000-3@a.b:c,17-2@beta') }, { 'a.b:c': '1795579860000-3', beta: '17-2' });
  for (const bad of ['', '17', 'abc@alpha', '1-0@', '1-0@al pha', '1-0@alpha,', 'x', null])
    assert.equal(Client.parseCursor(bad), null, String(bad));
});

test('data is parsed as JSON when it is JSON and left as text otherwise', () => {
  const Client = load(fakeClock());
  assert.deepEqual({ ...Client.parseData('{"pct":40}') }, { pct: 40 });
  assert.equal(Client.parseData('42'), 42);
  assert.equal(Client.parseData('null'), null);
  assert.equal(Client.parseData('hello'), 'hello');
  assert.equal(Client.parseData('{not json'), '{not json');
  assert.equal(Client.parseData('12 apples'), '12 apples');
});

test('connect opens one EventSource on the URL; compressionSupport false adds compression=none', () => {
  let t = setup();
  t.c.connect();
  assert.equal(t.made.length, 1);
  assert.equal(t.es().url, 'http://127.0.0.1:8080/events?channels=alpha%2Cbeta');
  t.c.connect(); // already connecting: nothing new
  assert.equal(t.made.length, 1);
  t = setup({ compressionSupport: false, clientId: 'tab-1' });
  t.c.connect();
  const u = new URL(t.es().url);
  assert.equal(u.searchParams.get('compression'), 'none');
  assert.equal(u.searchParams.get('client_id'), 'tab-1');
});

test('enhanced_connected carries the bridge, channels and resumed; channel events get parsed data', () => {
  const t = setup();
  t.c.connect();
  t.connected({ resumed: true }, '5-0@alpha,6-1@beta');
  const ec = t.of('enhanced_connected');
  assert.equal(ec.length, 1);
  assert.equal(ec[0].d.bridge, 'b1');
  assert.deepEqual([...ec[0].d.channels], ['alpha', 'beta']);
  assert.equal(ec[0].d.resumed, true);
  assert.equal(t.c.state, 'connected');
  t.es().emit('alpha', { pct: 40 }, '7-0@alpha');
  t.es().emit('beta', 'plain text', '8-0@beta');
  const a = t.of('alpha')[0].d;
  assert.deepEqual({ ...a.data }, { pct: 40 });
  assert.equal(a.id, '7-0@alpha');
  assert.equal(a.channel, 'alpha');
  assert.equal(t.of('beta')[0].d.data, 'plain text');
  assert.equal(t.c.cursor(), '7-0@alpha,8-0@beta');
});

test('an error closes the EventSource and reconnects after the jittered delay, with the cursor', () => {
  const t = setup({ baseReconnectDelay: 1000 }, 0.5);
  t.c.connect();
  t.connected({}, '5-0@alpha,6-1@beta');
  t.es().emit('alpha', 'x', '9-0@alpha');
  const first = t.es();
  first.fail();
  assert.ok(first.closed, 'the native EventSource was not closed on error');
  assert.equal(t.of('disconnected').length, 1);
  const r = t.of('reconnecting');
  assert.equal(r.length, 1);
  assert.equal(r[0].d.attempt, 1);
  assert.equal(r[0].d.delay, 500);
  t.clock.advance(499);
  assert.equal(t.made.length, 1, 'reconnected before the delay');
  t.clock.advance(1);
  assert.equal(t.made.length, 2);
  assert.equal(new URL(t.es().url).searchParams.get('last_event_id'), '9-0@alpha,6-1@beta');
  // Errors of the old EventSource after it was replaced change nothing.
  first.fail();
  assert.equal(t.of('reconnecting').length, 1);
});

test('failed attempts back off over growing windows; after maxReconnectAttempts comes failed, then nothing', () => {
  const t = setup({ maxReconnectAttempts: 5, baseReconnectDelay: 1000, maxReconnectDelay: 8000 }, 0.999);
  t.c.connect();
  for (let i = 0; i < 6; i++) {
    t.es().fail();
    t.clock.advance(60000);
  }
  const delays = t.of('reconnecting').map((e) => e.d.delay);
  assert.deepEqual(t.of('reconnecting').map((e) => e.d.attempt), [1, 2, 3, 4, 5]);
  assert.deepEqual(delays, [999, 1998, 3996, 7992, 7992]);
  assert.equal(t.of('failed').length, 1);
  assert.equal(t.of('failed')[0].d.attempts, 5);
  assert.equal(t.of('disconnected').length, 0, 'never connected: no disconnected');
  assert.equal(t.made.length, 6, 'one first connection and five reconnections');
  assert.equal(t.c.state, 'failed');
  t.clock.advance(600000);
  assert.equal(t.made.length, 6);
  assert.deepEqual(t.clock.pending(), []);
  // connect() after failed starts over.
  t.c.connect();
  assert.equal(t.made.length, 7);
});

test('a connected stream resets the attempt count', () => {
  const t = setup({ maxReconnectAttempts: 2 }, 0);
  t.c.connect();
  t.es().fail();
  t.clock.advance(10);
  t.es().fail();
  t.clock.advance(10);
  t.connected();
  t.es().fail();
  assert.equal(t.of('reconnecting').pop().d.attempt, 1);
  assert.equal(t.of('failed').length, 0);
});

test('the limit event sets a floor from its retry and counts as a failed attempt', () => {
  const t = setup({ maxReconnectAttempts: 2, baseReconnectDelay: 100 }, 0);
  t.c.connect();
  t.es().emit('limit', { error: 'Maximum connections per IP reached', code: 'too_many_connections_per_ip', retry: 2345 });
  assert.ok(t.made[0].closed);
  assert.equal(t.of('limit').length, 1);
  let r = t.of('reconnecting');
  assert.equal(r[0].d.delay, 2345);
  assert.equal(r[0].d.floor, 2345);
  t.clock.advance(2345);
  t.es().fail(); // a plain error: no floor any more
  r = t.of('reconnecting');
  assert.equal(r[1].d.delay, 0);
  t.clock.advance(1);
  t.es().emit('limit', { code: 'too_many_connections', retry: 10 });
  assert.equal(t.of('failed').length, 1);
});

test('a shutdown system event sets the floor for the reconnection', () => {
  const t = setup({ baseReconnectDelay: 100 }, 0);
  t.c.connect();
  t.connected();
  t.es().emit('system', { status: 'shutdown', bridge: 'b1', retry: 1800 });
  t.es().fail();
  assert.equal(t.of('shutdown').length, 1);
  assert.equal(t.of('reconnecting')[0].d.delay, 1800);
});

test('degraded and recovered come from system events', () => {
  const t = setup();
  t.c.connect();
  t.connected();
  t.es().emit('system', { status: 'degraded', bridge: 'b1', ts: 1 });
  t.es().emit('system', { status: 'recovered', bridge: 'b1', ts: 2 });
  assert.equal(t.of('degraded').length, 1);
  assert.equal(t.of('recovered').length, 1);
  assert.equal(t.of('recovered')[0].d.ts, 2);
});

test('heartbeats carry client_latency from the server ts and feed the metrics', () => {
  const t = setup();
  t.c.connect();
  t.connected();
  t.clock.advance(1000);
  t.es().emit('heartbeat', { ts: 1700000000000 + 1000 - 35, bridge: 'b1' });
  t.es().emit('heartbeat', { ts: 1700000000000 + 1000 - 15, bridge: 'b1' });
  const hb = t.of('heartbeat');
  assert.deepEqual(hb.map((e) => e.d.client_latency), [35, 15]);
  const m = t.c.getMetrics();
  assert.equal(m.lastLatency, 15);
  assert.equal(m.averageLatency, 25);
  assert.equal(m.messagesByType.heartbeat, 2);
  assert.equal(m.connects, 1);
  assert.equal(m.state, 'connected');
  assert.equal(m.connectedMs, 1000);
});

test('the watchdog reconnects when nothing arrives within heartbeatTimeout, and any event rearms it', () => {
  const t = setup({ heartbeatTimeout: 3000 }, 0);
  t.c.connect();
  t.connected({ heartbeat_interval: 1 });
  t.clock.advance(2900);
  t.es().emit('heartbeat', { ts: 1, bridge: 'b1' });
  t.clock.advance(2900);
  t.es().emit('alpha', 'x', '1-0@alpha');
  t.clock.advance(2999);
  assert.equal(t.of('disconnected').length, 0);
  t.clock.advance(1);
  const d = t.of('disconnected');
  assert.equal(d.length, 1);
  assert.equal(d[0].d.reason, 'heartbeat_timeout');
  assert.ok(t.made[0].closed);
  assert.equal(t.c.getMetrics().watchdogTimeouts, 1);
});

test('the watchdog also limits a connection that never says connected', () => {
  const t = setup({ heartbeatTimeout: 2000, maxReconnectAttempts: 1 }, 0);
  t.c.connect();
  t.clock.advance(2000);
  assert.equal(t.of('reconnecting').length, 1);
  assert.equal(t.of('reconnecting')[0].d.reason, 'heartbeat_timeout');
  t.clock.advance(2000);
  assert.equal(t.of('failed').length, 1);
});

test('a server announcing a slower heartbeat stretches the watchdog to 1.5 intervals', () => {
  const t = setup({ heartbeatTimeout: 2000 }, 0);
  t.c.connect();
  t.connected({ heartbeat_interval: 30 });
  t.clock.advance(44999);
  assert.equal(t.of('disconnected').length, 0);
  t.clock.advance(1);
  assert.equal(t.of('disconnected').length, 1);
});

test('close stops the stream, the watchdog and a pending reconnection', () => {
  const t = setup({}, 0.5);
  t.c.connect();
  t.connected();
  t.es().fail();
  t.c.close();
  assert.equal(t.c.state, 'closed');
  t.clock.advance(600000);
  assert.equal(t.made.length, 1);
  assert.deepEqual(t.clock.pending(), []);
  const u = setup();
  u.c.connect();
  u.connected();
  u.c.close();
  assert.ok(u.made[0].closed);
  assert.deepEqual(u.clock.pending(), []);
});

test('handlers registered later are attached to the live EventSource; removed ones are not called', () => {
  const t = setup();
  t.c.connect();
  t.connected();
  const got = [];
  const h = (d) => got.push(d.data);
  t.c.addEventListener('custom', h);
  t.es().emit('custom', { n: 1 }, '');
  t.c.removeEventListener('custom', h);
  t.es().emit('custom', { n: 2 }, '');
  assert.deepEqual(got.map((d) => d.n), [1]);
});

test('a handler that throws does not stop the others', () => {
  const t = setup();
  const seen = [];
  const orig = console.error;
  console.error = () => {};
  try {
    t.c.addEventListener('alpha', () => { throw new Error('boom'); });
    t.c.addEventListener('alpha', (d) => seen.push(d.data));
    t.c.connect();
    t.connected();
    t.es().emit('alpha', 'ok', '1-0@alpha');
  } finally {
    console.error = orig;
  }
  assert.deepEqual(seen, ['ok']);
});

test('an id that is no history id is kept as the cursor when no channel position is known', () => {
  const t = setup({}, 0);
  t.c.connect();
  t.connected();
  t.es().emit('alpha', 'x', 'my-own-17');
  t.es().fail();
  t.clock.advance(1);
  assert.equal(new URL(t.es().url).searchParams.get('last_event_id'), 'my-own-17');
});

test('metrics can be turned off', () => {
  const t = setup({ metricsEnabled: false });
  t.c.connect();
  t.connected();
  t.es().emit('alpha', 'x', '1-0@alpha');
  const m = t.c.getMetrics();
  assert.equal(m.messages, 0);
  assert.equal(m.connects, 1);
});

test('a history_unavailable reset leaves the stream and resumes later from the same cursor, backing off', () => {
  const t = setup({ maxReconnectAttempts: 3, baseReconnectDelay: 1000 }, 0.5);
  t.c.connect();
  t.connected({}, '5-0@alpha,6-0@beta');
  t.es().fail();
  t.clock.advance(500);
  // A restarted bridge without Redis yet: connected, then resets.
  t.connected({ resumed: false });
  t.es().emit('reset', { channel: 'alpha', reason: 'history_unavailable', last_event_id: '5-0@alpha', oldest_id: null });
  t.es().emit('reset', { channel: 'beta', reason: 'history_unavailable', last_event_id: '6-0@beta', oldest_id: null });
  t.es().emit('alpha', 'live', '9-0@alpha'); // from the abandoned stream: ignored
  assert.equal(t.of('reset').length, 1);
  assert.equal(t.of('alpha').length, 0);
  const r = t.of('reconnecting');
  assert.deepEqual(r.map((e) => e.d.attempt), [1, 2]);
  assert.equal(r[1].d.reason, 'history_unavailable');
  t.clock.advance(1000);
  assert.equal(new URL(t.es().url).searchParams.get('last_event_id'), '5-0@alpha,6-0@beta');
});

test('a trimmed reset is reported and the stream goes on', () => {
  const t = setup();
  t.c.connect();
  t.connected({ resumed: true }, '5-0@alpha');
  t.es().emit('reset', { channel: 'alpha', reason: 'trimmed', last_event_id: '1-0@alpha', oldest_id: '4-0@alpha' });
  t.es().emit('alpha', 'x', '6-0@alpha');
  assert.equal(t.of('reset').length, 1);
  assert.equal(t.of('alpha').length, 1);
  assert.equal(t.c.state, 'connected');
});

test("an event's id is its own: EventSource's sticky lastEventId is not repeated on events without one", () => {
  const t = setup();
  t.c.connect();
  t.connected({}, '1-0@alpha,1-0@beta');
  t.es().emit('alpha', 'plain', '1-0@alpha,1-0@beta'); // no id field: the sticky value
  t.es().emit('beta', 'with id', '2-0@beta');
  t.es().emit('progress', 'none again', '2-0@beta');
  assert.deepEqual(t.of('alpha').map((e) => [e.d.id, e.d.channel]), [[null, null]]);
  assert.deepEqual(t.of('beta').map((e) => [e.d.id, e.d.channel]), [['2-0@beta', 'beta']]);
  assert.deepEqual(t.of('progress').map((e) => e.d.id), [null]);
  assert.equal(t.c.cursor(), '1-0@alpha,2-0@beta');
});

test('debugMode logs state transitions to the console; off, it logs nothing', () => {
  const lines = [];
  const orig = console.debug;
  console.debug = (...a) => lines.push(a.join(' '));
  try {
    const t = setup({ debugMode: true }, 0);
    t.c.connect();
    t.connected();
    t.es().fail();
    const quiet = setup({}, 0);
    const before = lines.length;
    quiet.c.connect();
    quiet.connected();
    assert.equal(lines.length, before);
  } finally {
    console.debug = orig;
  }
  assert.ok(lines.some((l) => l.includes('[EnhancedSSEClient]') && l.includes('idle -> connecting')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('connecting -> connected')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('reconnecting in')), lines.join('\n'));
});

test('opening a fifth stream in one page warns once about the per-host connection limit', () => {
  const clock = fakeClock();
  const Client = load(clock);
  const made = [];
  const ES = fakeEventSourceClass(made);
  const warnings = [];
  const orig = console.warn;
  console.warn = (m) => warnings.push(m);
  try {
    const cs = [];
    for (let i = 0; i < 4; i++)
      cs.push(new Client('/events?channels=c' + i, { EventSource: ES }).connect());
    assert.equal(warnings.length, 0);
    cs[0].close();
    cs.push(new Client('/events?channels=c4', { EventSource: ES }).connect());
    assert.equal(warnings.length, 0, 'a closed stream still counted');
    cs.push(new Client('/events?channels=c5', { EventSource: ES }).connect());
    cs.push(new Client('/events?channels=c6', { EventSource: ES }).connect());
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /6 HTTP\/1\.1 connections per host/);
  } finally {
    console.warn = orig;
  }
});

test('coming back online reconnects at once instead of waiting out the backoff', () => {
  const t = setup({ baseReconnectDelay: 10000 }, 0.9);
  t.c.connect();
  t.connected();
  t.Client.window.dispatch('online'); // connected: nothing to do
  assert.equal(t.made.length, 1);
  t.es().fail();
  assert.equal(t.of('reconnecting')[0].d.delay, 9000);
  t.clock.advance(100);
  t.Client.window.dispatch('online');
  assert.equal(t.made.length, 2);
  assert.equal(t.c.state, 'connecting');
  t.c.close();
  assert.deepEqual(t.Client.window.listeners.online, []);
});

test("'message', 'error' and 'open' handlers are not confused with server events", () => {
  const t = setup({}, 0);
  const msgs = [];
  const errs = [];
  t.c.addEventListener('message', (d) => msgs.push(d.data));
  t.c.addEventListener('error', (d) => errs.push(d));
  t.c.addEventListener('open', () => assert.fail('open is not a server event'));
  t.c.connect();
  assert.equal(t.es().listeners.message, undefined, 'message would be dispatched twice');
  assert.equal(t.es().listeners.error, undefined);
  assert.equal(t.es().listeners.open, undefined);
  t.connected();
  t.es().emit('message', 'unnamed', '');
  assert.deepEqual(msgs, ['unnamed']);
  t.es().fail();
  assert.equal(errs.length, 1);
  assert.equal(errs[0].reason, 'error');
  assert.equal(errs[0].connected, true);
});

// Lets pending promise jobs (also of the client's own realm) run.
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a token string goes to every connection as token=', () => {
  const t = setup({ token: 'abc.def.ghi', baseReconnectDelay: 100 }, 0);
  t.c.connect();
  assert.equal(new URL(t.es().url).searchParams.get('token'), 'abc.def.ghi');
  t.es().fail();
  t.clock.advance(100);
  assert.equal(t.made.length, 2);
  assert.equal(new URL(t.es().url).searchParams.get('token'), 'abc.def.ghi');
});

test('a token function is asked before every connection, and a Promise is awaited', async () => {
  let n = 0;
  const t = setup({ token: () => Promise.resolve('tok-' + ++n), baseReconnectDelay: 100 }, 0);
  t.c.connect();
  assert.equal(t.made.length, 0); // waiting for the token
  await settle();
  assert.equal(t.made.length, 1);
  assert.equal(new URL(t.es().url).searchParams.get('token'), 'tok-1');
  t.es().fail();
  t.clock.advance(100);
  await settle();
  assert.equal(t.made.length, 2);
  assert.equal(new URL(t.es().url).searchParams.get('token'), 'tok-2');
});

test('a token function that fails counts as a failed attempt and backs off', async () => {
  const t = setup({ token: () => { throw new Error('no session'); }, baseReconnectDelay: 100 }, 0);
  t.c.connect();
  await settle();
  assert.equal(t.made.length, 0);
  assert.equal(t.of('reconnecting').length, 1);
  assert.equal(t.of('reconnecting')[0].d.reason, 'token_unavailable');
});

test('close while a token is awaited opens nothing', async () => {
  const t = setup({ token: () => Promise.resolve('late') });
  t.c.connect();
  t.c.close();
  await settle();
  assert.equal(t.made.length, 0);
  assert.equal(t.c.state, 'closed');
});

test('token_expired from the bridge leaves the stream and reconnects with a new token', async () => {
  let n = 0;
  const t = setup({ token: () => 'tok-' + ++n, baseReconnectDelay: 100 }, 0);
  const expired = [];
  t.c.addEventListener('token_expired', (d) => expired.push(d));
  t.c.connect();
  await settle();
  t.connected();
  const first = t.es();
  first.emit('system', { status: 'token_expired', bridge: 'b1' });
  assert.equal(expired.length, 1);
  assert.ok(first.closed);
  assert.equal(t.of('reconnecting')[0].d.reason, 'token_expired');
  t.clock.advance(100);
  await settle();
  assert.equal(new URL(t.es().url).searchParams.get('token'), 'tok-2');
});

test('a token option of another type is refused', () => {
  const clock = fakeClock();
  const Client = load(clock);
  assert.throws(() => new Client('/events', { token: 42 }), /option token must be a string or a function/);
});
