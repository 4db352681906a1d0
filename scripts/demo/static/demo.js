// The demo page: one EnhancedSSEClient (loaded from the bridge) for both
// channels, a form that starts a job, a progress bar and the summary.
// window.demo holds what the page saw (the end-to-end tests read it).
(function () {
  'use strict';

  var cfg = JSON.parse(document.getElementById('demo-config').textContent);
  var $ = function (id) { return document.getElementById(id); };

  var demo = window.demo = {
    clientId: cfg.client_id,
    job: null, // the job this page started last
    progress: [], // every summary_progress event: {job, step, pct, id, bridge}
    complete: [], // every summary_complete event: {job, id, bytes, bridge}
    bridges: [], // the bridge of each 'connected', in order
    states: [], // connection states, in order
    reconnects: 0,
    tokenRefreshes: 0, // tokens fetched from /sse-token
    tokenExpiries: 0, // streams the bridge ended with token_expired
    client: null,
  };
  var token = cfg.token; // issued with the page
  var tokenAt = Date.now();

  // The stream URL: both channels. EnhancedSSEClient adds client_id, the
  // token and, on reconnection, last_event_id.
  var streamUrl = cfg.bridge_url + '/events?channels=' + encodeURIComponent(cfg.channels.join(','));

  // Tokens expire: the client asks for one before every connection. The one
  // in hand is used while it is fresh (under 80 % of its lifetime), else the
  // app signs a new one. When the bridge ends a stream with token_expired,
  // the client reconnects at once through this function.
  function currentToken() {
    if (token && Date.now() - tokenAt < cfg.token_ttl * 800)
      return token;
    return fetch('/sse-token', { credentials: 'same-origin' }).then(function (res) {
      if (!res.ok)
        throw new Error('token refresh: HTTP ' + res.status);
      return res.json();
    }).then(function (t) {
      token = t.token;
      tokenAt = Date.now();
      demo.tokenRefreshes++;
      return token;
    });
  }

  var sse = demo.client = new EnhancedSSEClient(streamUrl, {
    clientId: cfg.client_id,
    token: cfg.auth ? currentToken : null,
    maxReconnectAttempts: 15,
    baseReconnectDelay: 1000,
    maxReconnectDelay: 30000,
    heartbeatTimeout: 45000,
    compressionSupport: true,
  });

  function showState(s) {
    $('conn').dataset.state = s;
    $('conn-state').textContent = s;
  }

  sse.addEventListener('state', function (d) {
    demo.states.push(d.to);
    showState(d.to);
  });
  sse.addEventListener('enhanced_connected', function (d) {
    demo.bridges.push(d.bridge);
    $('conn-bridge').textContent = 'via ' + d.bridge + (d.resumed ? ' (resumed)' : '');
  });
  sse.addEventListener('reconnecting', function (d) {
    demo.reconnects++;
    $('conn-reconnects').textContent = '· reconnecting, attempt ' + d.attempt + ' in ' +
      (d.delay / 1000).toFixed(1) + ' s';
  });
  sse.addEventListener('connected', function () {
    $('conn-reconnects').textContent = demo.reconnects ? '· reconnected ' + demo.reconnects + '×' : '';
  });
  sse.addEventListener('token_expired', function () {
    demo.tokenExpiries++;
  });

  function render() {
    var job = demo.job;
    if (!job)
      return;
    var steps = demo.progress.filter(function (p) { return p.job === job; });
    var last = steps.length ? steps[steps.length - 1] : null;
    var pct = last ? last.pct : 0;
    $('bar-fill').style.width = pct + '%';
    $('bar').setAttribute('aria-valuenow', String(pct));
    $('pct').textContent = pct + '%';
    $('stage').textContent = last ? last.stage : '';
    $('steps-count').textContent = String(steps.length);
    var ol = $('steps');
    while (ol.children.length < steps.length) {
      var p = steps[ol.children.length];
      var li = document.createElement('li');
      li.textContent = p.pct + '% ' + p.stage + ' (' + (p.bridge || '?') + ')';
      li.dataset.pct = String(p.pct);
      ol.appendChild(li);
    }
    var done = demo.complete.filter(function (c) { return c.job === job; })[0];
    if (done) {
      $('summary-title').textContent = done.title;
      $('summary-words').textContent = String(done.words);
      $('summary').textContent = done.summary;
      $('result').hidden = false;
    }
  }

  sse.addEventListener('summary_progress', function (e) {
    var d = e.data || {};
    demo.progress.push({ job: d.job, step: d.step, pct: d.pct, stage: d.stage, id: e.id, bridge: sse.bridge });
    render();
  });
  sse.addEventListener('summary_complete', function (e) {
    var d = e.data || {};
    demo.complete.push({ job: d.job, id: e.id, title: d.title, words: d.words, summary: d.summary,
      bytes: e.raw.length, bridge: sse.bridge });
    render();
  });

  $('job-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    $('form-error').hidden = true;
    $('submit').disabled = true;
    fetch('/jobs', { method: 'POST', body: new FormData($('job-form')), credentials: 'same-origin' })
      .then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok)
            throw new Error(body.error || ('HTTP ' + res.status));
          return body;
        });
      }).then(function (body) {
        demo.job = body.job;
        $('job-id').textContent = body.job;
        $('job').hidden = false;
        $('result').hidden = true;
        $('steps').textContent = '';
        render(); // events that came before the answer are shown now
      }).catch(function (e) {
        $('form-error').textContent = e.message;
        $('form-error').hidden = false;
      }).then(function () {
        $('submit').disabled = false;
      });
  });

  sse.connect();
})();
