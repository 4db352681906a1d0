// Drives one headless Debian chromium for the pytest browser tests.
//
// Protocol: one JSON command per line on stdin, one JSON answer per line on
// stdout ({"id", "ok", "value"} or {"id", "ok": false, "error"}):
//   {"id", "op": "page", "url", "html"}  new page (the old one is closed);
//        url (on the bridge's origin) is answered with html by the driver,
//        every other request goes to the network (the real bridge)
//   {"id", "op": "eval", "expr"}         page.evaluate(expr) (a JS expression,
//        promises awaited); the value must be JSON
//   {"id", "op": "responses"}            status and headers of every response
//        the page got, in order (EventSource streams included)
//   {"id", "op": "goto", "url"}          new page loading url from the network
//        (a page the bridge serves itself, e.g. /sse/dashboard)
//   {"id", "op": "screenshot", "path"}   saves the page as a PNG at path
//   {"id", "op": "quit"}
// The browser is closed and the process exits when stdin closes (the test
// process died), on quit, or after DRIVER_MAX_MS whatever happens.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const DRIVER_MAX_MS = Number(process.env.DRIVER_MAX_MS || 15 * 60 * 1000);
// Flags Debian's chromium needs headless in a container (DESIGN.md §10).
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

let context = null;
let page = null;
let responses = [];
let profile = null;
let quitting = false;

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function shutdown(code) {
  if (quitting)
    return;
  quitting = true;
  try {
    if (context)
      await Promise.race([context.close(), new Promise((r) => setTimeout(r, 5000))]);
  } catch (e) {
    process.stderr.write('driver: closing the browser: ' + e + '\n');
  }
  if (profile)
    fs.rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}

async function newPage(url, html) {
  if (page)
    await page.close();
  responses = [];
  page = await context.newPage();
  page.on('console', (m) => process.stderr.write('page console ' + m.type() + ': ' + m.text() + '\n'));
  page.on('pageerror', (e) => process.stderr.write('page error: ' + e + '\n'));
  page.on('response', (r) => {
    responses.push({ url: r.url(), status: r.status(), headers: r.headers() });
  });
  if (html !== null)
    await page.route(url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  return true;
}

async function run(cmd) {
  switch (cmd.op) {
  case 'page':
    return newPage(cmd.url, cmd.html);
  case 'eval':
    if (!page)
      throw new Error('no page');
    return page.evaluate(cmd.expr);
  case 'responses':
    return responses;
  case 'goto':
    return newPage(cmd.url, null);
  case 'screenshot':
    if (!page)
      throw new Error('no page');
    await page.screenshot({ path: cmd.path, fullPage: true, timeout: 15000 });
    return true;
  case 'quit':
    setImmediate(() => shutdown(0));
    return true;
  default:
    throw new Error('unknown op ' + cmd.op);
  }
}

async function main() {
  setTimeout(() => {
    process.stderr.write('driver: ran longer than ' + DRIVER_MAX_MS + ' ms, quitting\n');
    shutdown(3);
  }, DRIVER_MAX_MS).unref();
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-browser-profile-'));
  // A persistent context gets a fresh profile directory of its own.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30000,
  });
  reply({ id: 0, ok: true, value: { version: context.browser() ? context.browser().version() : null } });
  const rl = readline.createInterface({ input: process.stdin });
  // Commands run one at a time, in order.
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      let cmd;
      try {
        cmd = JSON.parse(line);
      } catch (e) {
        reply({ id: null, ok: false, error: 'bad command: ' + e });
        return;
      }
      try {
        const value = await run(cmd);
        reply({ id: cmd.id, ok: true, value: value === undefined ? null : value });
      } catch (e) {
        reply({ id: cmd.id, ok: false, error: String(e && e.stack || e) });
      }
    });
  });
  rl.on('close', () => chain.then(() => shutdown(0)));
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
main().catch((e) => {
  process.stderr.write('driver: ' + (e && e.stack || e) + '\n');
  reply({ id: 0, ok: false, error: String(e) });
  shutdown(2);
});
