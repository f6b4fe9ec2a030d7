// The page's JS API (window.Chatvisor, ChatvisorQueue, chatvisor:ready) and
// identity (identify() with a signature; chatvisor_identify at the edge) in
// real headless Chromium. Prints TAP; t/111-widget-api-browser.t starts
// nginx and runs it.
//
//   node t/browser/widget-api.test.mjs BASE_URL
//
// BASE_URL serves /index.html (whose /page.js queues calls and records the
// API's events in window.__log), /login?user=NAME and /logout (the backend's
// own login cookie, named to nginx in X-Chatvisor-Customer), the chatvisor
// location at /chatvisor/ with the REST client "crm" (secret in
// CHATVISOR_API_SECRET) and chatvisor_identity_secret (in
// CHATVISOR_IDENTITY_SECRET). Screenshots go to CHATVISOR_ARTIFACTS.
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, '');
const PREFIX = '/chatvisor/';
const ID_SECRET = process.env.CHATVISOR_IDENTITY_SECRET || '';
const API_SECRET = process.env.CHATVISOR_API_SECRET || '';
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 140000);
const WAIT_MS = Number(process.env.CHATVISOR_WAIT_MS || 15000);

if (!BASE) skipAll('no base URL given');

const sign = (id) => createHmac('sha256', ID_SECRET).update(String(id)).digest('hex');

// ---- helpers --------------------------------------------------------------

async function until(fn, timeout) {
  const deadline = Date.now() + (timeout || WAIT_MS);
  for (;;) {
    let v = null;
    try { v = await fn(); } catch (e) { v = null; }
    if (v) return v;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function openPage(context, path) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e && e.message || e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(BASE + path, { waitUntil: 'load' });
  page.__errors = errors;
  return page;
}

// what the page and the widget show
async function state(page) {
  return page.evaluate(() => {
    const host = document.querySelector('chatvisor-widget');
    const sr = host && host.shadowRoot;
    const log = sr && sr.querySelector('[role="log"]');
    const panel = sr && sr.querySelector('[role="dialog"]');
    return {
      api: typeof window.Chatvisor === 'object' && window.Chatvisor !== null,
      log: (window.__log || []).slice(),
      hosts: document.querySelectorAll('chatvisor-widget').length,
      shown: !!sr && getComputedStyle(sr.querySelector('.root')).display !== 'none' && sr.querySelector('.launcher').getBoundingClientRect().width > 0,
      open: !!panel && !panel.hidden,
      bubbles: log ? Array.from(log.querySelectorAll('.bubble'), (b) => b.textContent) : [],
    };
  });
}

const ready = (page) => until(async () => (await state(page)).api);

async function send(page, text) {
  await page.evaluate(() => window.Chatvisor.open());
  await page.fill('chatvisor-widget textarea', text);
  await page.keyboard.press('Enter');
}

const seesText = (page, text) => until(async () => (await state(page)).bubbles.includes(text));

async function api(method, path, body, token) {
  const res = await fetch(BASE + PREFIX + 'api/v1/' + path, {
    method,
    headers: Object.assign({ 'Content-Type': 'application/json' },
      token ? { Authorization: 'Bearer ' + token } : {}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

// ---- the checks -----------------------------------------------------------

async function run(browser) {
  // 1. the queue, ready, and the calls
  const ctxA = await browser.newContext();
  const a = await openPage(ctxA, '/index.html');
  ok(await ready(a), 'window.Chatvisor exists once the widget has loaded');
  let s = await state(a);
  const iEvent = s.log.indexOf('event:true');
  ok(s.log.includes('ready') && iEvent >= 0,
    'the queued on("ready") listener ran, and chatvisor:ready fired with the API as detail', s.log);
  ok(await until(async () => (await state(a)).open), 'the queued open() opened the panel');
  s = await state(a);
  ok(s.log.includes('open') && s.log.indexOf('open') < s.log.indexOf('ready'),
    '  in order: the open listener queued before it heard it, before ready', s.log);
  is(s.hosts, 1, 'one widget on the page');
  is(await a.evaluate(() => window.Chatvisor.isAgentOnline()), false, 'isAgentOnline(): false with nobody online');
  is(await a.evaluate(() => window.Chatvisor.shouldShowWebchat()), true, 'shouldShowWebchat(): true');

  await a.evaluate(() => window.Chatvisor.close());
  s = await state(a);
  ok(!s.open && s.log[s.log.length - 1] === 'close', 'close() closes the panel and tells "close"', s.log);
  await a.evaluate(() => window.Chatvisor.toggle());
  ok((await state(a)).open, 'toggle() opens it');
  await a.evaluate(() => window.Chatvisor.toggle());
  ok(!(await state(a)).open, 'toggle() closes it again');

  await a.evaluate(() => window.Chatvisor.hide());
  s = await state(a);
  ok(!s.shown, 'hide() hides the widget');
  is(await a.evaluate(() => window.Chatvisor.shouldShowWebchat()), false, '  shouldShowWebchat(): false');
  await a.evaluate(() => window.Chatvisor.show());
  ok((await state(a)).shown, 'show() shows it again');

  // off(): a listener taken away hears nothing
  const heard = await a.evaluate(() => {
    let n = 0;
    const fn = () => { n += 1; };
    window.Chatvisor.on('open', fn);
    window.Chatvisor.off('open', fn);
    window.Chatvisor.open();
    window.Chatvisor.close();
    return n;
  });
  is(heard, 0, 'off() takes a listener away');

  // on('ready') after ready: called at once; the queue calls at once now
  is(await a.evaluate(() => {
    let got = null;
    window.Chatvisor.on('ready', (x) => { got = x === window.Chatvisor; });
    return got;
  }), true, 'on("ready") after the widget is ready is called at once');
  await a.evaluate(() => window.ChatvisorQueue.push(['open']));
  ok((await state(a)).open, 'ChatvisorQueue.push() after load calls at once');

  // message and unread: the visitor writes, the integrator answers
  await send(a, 'Where is my order?');
  ok(await until(async () => (await state(a)).log.includes('message:Where is my order?')),
    'on("message") hears the visitor\'s own message', (await state(a)).log);
  const conv = await a.evaluate(() => window.__last && window.__last.conversation_id);
  ok(/^conv_/.test(conv || ''), '  with the message (its conversation_id)');
  await a.evaluate(() => window.Chatvisor.close());
  const tok = await api('POST', 'auth/token', { grant_type: 'client_credentials', client_id: 'crm', client_secret: API_SECRET });
  is(tok.status, 200, 'the integrator gets a token');
  const reply = await api('POST', `conversations/${conv}/messages`, { text: 'It ships today.' }, tok.json && tok.json.access_token);
  is(reply.status, 201, 'the integrator replies through the REST API');
  ok(await until(async () => (await state(a)).log.includes('message:It ships today.')),
    'on("message") hears the reply', (await state(a)).log);
  ok(await until(async () => (await state(a)).log.includes('unread:1')),
    'on("unread") hears 1 while the panel is closed', (await state(a)).log);
  await a.evaluate(() => window.Chatvisor.open());
  ok(await until(async () => (await state(a)).log.includes('unread:0')), '  and 0 once it is opened');
  await a.screenshot({ path: join(ARTIFACTS, 'widget-api-a.png') });

  // identify(): an id only with its signature
  const bad = await a.evaluate(() => window.Chatvisor.identify({ id: 'crm-7', signature: '0'.repeat(64) })
    .then(() => 'resolved', (e) => `${e.status} ${e.code}`));
  is(bad, '403 bad_signature', 'identify() with a wrong signature rejects: 403 bad_signature');
  const none = await a.evaluate(() => window.Chatvisor.identify({ id: 'crm-7' })
    .then(() => 'resolved', (e) => `${e.status} ${e.code}`));
  is(none, '400 invalid_request', 'identify() with no signature rejects: 400');
  const good = await a.evaluate((sig) => window.Chatvisor.identify({ id: 'crm-7', signature: sig, email: 'eve@example.com' }),
    sign('crm-7'));
  ok(good && good.id === 'crm-7' && good.moved === false,
    'identify() with its signature: {id: "crm-7", moved: false} (the visitor\'s customer takes it)', good);
  const cus = await api('GET', 'customers?id=crm-7', undefined, tok.json.access_token);
  ok(cus.json && cus.json.items.length === 1 && cus.json.items[0].email === 'eve@example.com',
    '  GET customers?id=crm-7 finds it, with the email', cus.json);
  ok((await state(a)).bubbles.includes('It ships today.'), '  the chat stays on screen');

  // another browser signs in as crm-7 from the queue: it sees that chat
  const ctxB = await browser.newContext();
  await ctxB.addInitScript((sig) => {
    window.ChatvisorQueue = [['identify', { id: 'crm-7', signature: sig }]];
  }, sign('crm-7'));
  const b = await openPage(ctxB, '/index.html');
  ok(await ready(b), 'a second browser with a queued identify() loads');
  ok(await seesText(b, 'It ships today.'), '  and shows crm-7\'s chat (identified before the history loaded)');
  is((await state(b)).hosts, 1, '  one widget');

  // 2. identity at the edge: two contexts as the same user
  const ctxC = await browser.newContext();
  const c = await openPage(ctxC, '/login?user=alice');
  ok(await ready(c), 'alice logs in on a first device; the widget loads');
  await send(c, 'Hello from the laptop');
  ok(await seesText(c, 'Hello from the laptop'), '  and she writes');

  const ctxD = await browser.newContext();
  const d = await openPage(ctxD, '/login?user=alice');
  ok(await ready(d), 'alice logs in on a second device');
  ok(await seesText(d, 'Hello from the laptop'), '  which shows the same chat');
  await send(c, 'Second line from the laptop');
  ok(await seesText(d, 'Second line from the laptop'), '  and what the first device writes next, live');
  await send(d, 'Answer from the phone');
  ok(await seesText(c, 'Answer from the phone'), '  and the other way round');

  await d.goto(BASE + '/logout', { waitUntil: 'load' });
  ok(await ready(d), 'the second device logs out');
  ok(await seesText(d, 'Answer from the phone'), '  and still has the chat (an empty value changes nothing)');

  await d.goto(BASE + '/login?user=bob', { waitUntil: 'load' });
  ok(await ready(d), 'bob logs in on that device');
  await d.waitForTimeout(1000);
  s = await state(d);
  ok(!s.bubbles.some((t) => /laptop|phone/.test(t)), '  and does not see alice\'s chat', s.bubbles);
  await send(d, 'Bob here');
  ok(await seesText(d, 'Bob here'), '  bob writes');

  await d.goto(BASE + '/login?user=alice', { waitUntil: 'load' });
  ok(await ready(d), 'alice logs in again');
  ok(await seesText(d, 'Answer from the phone'), '  her chat is back');
  ok(!(await state(d)).bubbles.includes('Bob here'), '  without bob\'s');
  await d.screenshot({ path: join(ARTIFACTS, 'widget-api-d.png') });

  // identify() after load, as another existing customer: the widget is
  // drawn again with that customer's chat, listeners and state kept
  await a.evaluate(() => window.Chatvisor.open());
  const moved = await a.evaluate((sig) => window.Chatvisor.identify({ id: 'alice', signature: sig }), sign('alice'));
  ok(moved && moved.moved === true && moved.id === 'alice', 'page a identifies as alice: {moved: true}', moved);
  ok(await seesText(a, 'Answer from the phone'), '  its widget shows alice\'s chat');
  s = await state(a);
  ok(!s.bubbles.includes('It ships today.'), '  and no more crm-7\'s', s.bubbles);
  ok(s.hosts === 1 && s.open, '  one widget, still open');
  await send(c, 'Third from the laptop');
  ok(await until(async () => (await state(a)).log.includes('message:Third from the laptop')),
    '  on("message") listeners go on after the redraw', (await state(a)).log);
  ok(!(await state(a)).log.includes('message:Answer from the phone'), '  the new history was not told as news');

  for (const [name, p] of [['a', a], ['b', b], ['c', c], ['d', d]]) {
    const errs = p.__errors.filter((e) => !/status of 40[03]/.test(e));
    ok(errs.length === 0, `page ${name}: no script errors`, errs);
  }
  note('done');
}

await runInChromium('widget API browser test', DEADLINE_MS, run);
