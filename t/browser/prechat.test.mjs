// The offline notice and the pre-chat form in real headless Chromium
// (playwright-core). Prints TAP; t/67-prechat-browser.t starts nginx (the
// widget on / without chatvisor_prechat, on /must/ with "name,email
// required" in French), makes the agent's login URL, runs this, and then
// checks REST and webhooks.
//
//   node t/browser/prechat.test.mjs BASE_URL LOGIN_URL
//
// env CHATVISOR_OFFLINE_TEXT: the chatvisor_widget_text offline of the
// server. Screenshots go to CHATVISOR_ARTIFACTS (prechat-*.png).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, '');
const LOGIN_URL = process.argv[3] || process.env.CHATVISOR_LOGIN_URL || '';
const PREFIX = process.env.CHATVISOR_PREFIX || '/chatvisor/';
const OFFLINE = process.env.CHATVISOR_OFFLINE_TEXT || '';
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 120000);
const WAIT_MS = Number(process.env.CHATVISOR_WAIT_MS || 10000);

if (!BASE || !LOGIN_URL) skipAll('no base URL or login URL given');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fn, timeout) {
  const deadline = Date.now() + (timeout || WAIT_MS);
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { /* the page may be navigating */ }
    if (Date.now() > deadline) return null;
    await sleep(100);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `prechat-${name}.png`) });
}

// A visitor's page; records errors and the visitor requests it makes.
async function visit(browser, path) {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 760 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const rec = { errors: [], calls: [] };
  page.on('pageerror', (e) => rec.errors.push(String(e && e.message || e)));
  page.on('request', (r) => {
    if (r.url().includes(`${PREFIX}v1/visitor/`) && r.method() !== 'GET') {
      rec.calls.push(`${r.method()} ${new URL(r.url()).pathname}`);
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !/favicon/.test(r.url())) rec.errors.push(`HTTP ${r.status()} ${r.url()}`);
  });
  await page.goto(BASE + path, { waitUntil: 'load' });
  await page.waitForFunction(() => {
    const h = document.querySelector('chatvisor-widget');
    return h && h.shadowRoot && h.shadowRoot.querySelector('.launcher');
  }, null, { timeout: WAIT_MS });
  return { ctx, page, rec };
}

// Opens the panel and waits for the availability answer it asks for.
async function openPanel(page) {
  const answer = page.waitForResponse((r) => r.url().includes(`${PREFIX}v1/visitor/availability`), { timeout: WAIT_MS });
  await page.evaluate(() => document.querySelector('chatvisor-widget').shadowRoot.querySelector('.launcher').click());
  const r = await answer;
  await r.finished();
  await sleep(150);   // the widget draws what it learnt
  return r.json();
}

// The widget as the visitor sees it.
async function state(page) {
  return page.evaluate(() => {
    const sr = document.querySelector('chatvisor-widget').shadowRoot;
    const q = (s) => sr.querySelector(s);
    const shown = (s) => !!q(s) && !q(s).hidden && q(s).getClientRects().length > 0;
    const log = q('[role="log"]');
    return {
      open: shown('[role="dialog"]'),
      banner: shown('.offline') ? q('.offline').textContent : null,
      form: shown('.prechat'),
      ask: q('.prechat-ask') ? q('.prechat-ask').textContent : null,
      name: shown('.prechat-name'),
      email: shown('.prechat-email'),
      emailPlaceholder: q('.prechat-email') ? q('.prechat-email').getAttribute('placeholder') : null,
      skip: shown('.prechat-skip'),
      save: q('.prechat-save') ? q('.prechat-save').textContent : null,
      error: shown('.prechat-error') ? q('.prechat-error').textContent : null,
      thanks: shown('.prechat-thanks') ? q('.prechat-thanks').textContent : null,
      inputDisabled: q('.input').disabled,
      focus: sr.activeElement ? sr.activeElement.className : null,
      bubbles: Array.from(log.querySelectorAll('.msg.customer .bubble'), (b) => b.textContent),
      pending: log.querySelectorAll('.pending, .failed').length,
    };
  });
}

async function fillIn(page, sel, value) {
  await page.evaluate(([s, v]) => {
    const el = document.querySelector('chatvisor-widget').shadowRoot.querySelector(s);
    el.focus();
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, [sel, value]);
}

async function click(page, sel) {
  await page.evaluate((s) => document.querySelector('chatvisor-widget').shadowRoot.querySelector(s).click(), sel);
}

// Types a message into the composer and presses Enter.
async function send(page, text) {
  await fillIn(page, '.input', text);
  await page.keyboard.press('Enter');
}

async function sent(page, text) {
  return until(async () => {
    const s = await state(page);
    return s.bubbles.includes(text) && s.pending === 0 ? s : null;
  });
}

async function run(browser) {
  mkdirSync(ARTIFACTS, { recursive: true });

  // ---- 1. nobody online, no chatvisor_prechat: offline text, skippable form
  note('1. no agent online: the offline text and a form to skip');
  const a = await visit(browser, '/index.html');
  let av = await openPanel(a.page);
  is(av.agents_available, false, 'availability: no agent available');
  let s = await state(a.page);
  is(s.banner, OFFLINE, 'the panel shows the configured offline text');
  ok(s.form && s.email && !s.name, 'it asks for an email (no name without chatvisor_prechat name,email)', s);
  is(s.ask, 'Leave your email so we can get back to you.', '  in English');
  ok(s.skip, '  with a Skip button');
  ok(!s.inputDisabled, '  and the message box stays usable');
  is(s.focus, 'input', '  with the focus in it');
  await shot(a.page, '1-offline-form');

  await fillIn(a.page, '.prechat-email', 'nobody-at-example');
  await click(a.page, '.prechat-save');
  s = await until(async () => { const x = await state(a.page); return x.error ? x : null; });
  is(s && s.error, 'Please enter a valid email address.', 'a malformed email: the browser says so');
  ok(!a.rec.calls.some((c) => /contact$/.test(c)), '  and sends nothing', a.rec.calls);

  await click(a.page, '.prechat-skip');
  s = await state(a.page);
  ok(!s.form, 'Skip hides the form');
  await send(a.page, 'Hello, anyone there?');
  ok(await sent(a.page, 'Hello, anyone there?'), 'a message is sent without an email');
  await a.page.reload({ waitUntil: 'load' });
  await openPanel(a.page);
  s = await state(a.page);
  ok(!s.form && s.banner === OFFLINE, 'after a reload: still offline, the skipped form is not asked again', s);
  await a.page.goto(`${BASE}/must/index.html`, { waitUntil: 'load' });
  await openPanel(a.page);
  s = await state(a.page);
  ok(s.form && !s.skip && s.inputDisabled, 'a skip does not answer the required form of another page', s);
  ok(a.rec.errors.length === 0, 'no page errors, no failed requests', a.rec.errors.join('\n'));
  await a.ctx.close();

  // ---- 2. nobody online: the email right after the first message
  note('2. no agent online: a message, then the email');
  const b = await visit(browser, '/index.html');
  await openPanel(b.page);
  await send(b.page, 'Where is my order 1234?');
  ok(await sent(b.page, 'Where is my order 1234?'), 'the first message is sent');
  s = await state(b.page);
  ok(s.form, 'the form is still there after it');
  await fillIn(b.page, '.prechat-email', 'amy@example.com');
  await click(b.page, '.prechat-save');
  s = await until(async () => { const x = await state(b.page); return x.thanks ? x : null; });
  is(s && s.thanks, 'Thanks! We will reply to amy@example.com.', 'saved: the widget thanks and names the address');
  ok(s && !s.form, '  the form is gone');
  ok(b.rec.calls.includes(`PUT ${PREFIX}v1/visitor/contact`), '  PUT v1/visitor/contact was sent', b.rec.calls);
  await shot(b.page, '2-saved');
  ok(b.rec.errors.length === 0, 'no page errors, no failed requests', b.rec.errors.join('\n'));
  await b.ctx.close();

  // ---- 3. chatvisor_prechat name,email required, in French
  note('3. a required form, in French');
  const c = await visit(browser, '/must/index.html');
  await openPanel(c.page);
  s = await state(c.page);
  ok(s.form && s.name && s.email, 'the form asks for name and email', s);
  is(s.ask, 'Veuillez indiquer votre e-mail pour commencer la conversation.', '  in the widget\'s language (fr)');
  is(s.emailPlaceholder, 'Votre e-mail', '  its fields too');
  is(s.save, 'Enregistrer', '  and its button');
  ok(!s.skip, '  no Skip: it is required');
  ok(s.inputDisabled, 'the message box is locked before the email');
  is(s.focus, 'prechat-name', '  the focus is in the form');
  is(s.banner, OFFLINE, 'the offline text shows too');
  await shot(c.page, '3-required');
  await c.page.keyboard.press('Enter');
  await fillIn(c.page, '.input', 'Bonjour');   // what a script could do to a locked box
  await c.page.evaluate(() => {
    const f = document.querySelector('chatvisor-widget').shadowRoot.querySelector('.composer');
    f.requestSubmit();
  });
  await sleep(500);
  ok(!c.rec.calls.some((m) => /messages$/.test(m)), 'a message cannot be sent before the email', c.rec.calls);
  s = await state(c.page);
  ok(s.bubbles.length === 0, '  nothing shows as sent', s.bubbles);

  await fillIn(c.page, '.prechat-name', 'Zoé');
  await fillIn(c.page, '.prechat-email', 'zoe@');
  await click(c.page, '.prechat-save');
  s = await until(async () => { const x = await state(c.page); return x.error ? x : null; });
  is(s && s.error, 'Veuillez saisir une adresse e-mail valide.', 'a bad email: the French error');
  ok(s && s.inputDisabled, '  still locked');
  await fillIn(c.page, '.prechat-email', 'zoe@example.com');
  await click(c.page, '.prechat-save');
  s = await until(async () => { const x = await state(c.page); return x.thanks ? x : null; });
  is(s && s.thanks, 'Merci ! Nous vous répondrons à zoe@example.com.', 'saved, thanked in French');
  ok(s && !s.inputDisabled, '  the message box is unlocked');
  await send(c.page, 'Bonjour, une question');
  ok(await sent(c.page, 'Bonjour, une question'), 'now the message is sent');
  await shot(c.page, '3-sent');
  ok(c.rec.errors.length === 0, 'no page errors, no failed requests', c.rec.errors.join('\n'));
  await c.ctx.close();

  // ---- 4. the agent sees the emails; online, the widget stops asking
  note('4. the console shows the email');
  const actx = await browser.newContext({ viewport: { width: 1360, height: 820 }, deviceScaleFactor: 1 });
  const agent = await actx.newPage();
  await agent.goto(LOGIN_URL, { waitUntil: 'load' });
  await agent.waitForURL((u) => u.pathname === `${PREFIX}agent/`, { timeout: WAIT_MS }).catch(() => {});
  const names = await until(async () => {
    const n = await agent.$$eval('.conv .conv-name', (els) => els.map((e) => e.textContent));
    return n.length >= 3 ? n : null;
  });
  ok(names, 'the console lists the three conversations', names);
  ok(names && names.includes('Zoé'), "Zoé's conversation carries her name", names);
  await agent.click('.conv:has(.conv-name:text-is("Zoé"))');
  const details = await until(async () => {
    const d = await agent.textContent('.details-body');
    return /zoe@example\.com/.test(d || '') ? d : null;
  });
  ok(details, "the customer panel shows Zoé's email", await agent.textContent('.details-body'));
  await agent.screenshot({ path: join(ARTIFACTS, 'prechat-4-console.png') });
  const amy = await agent.$$eval('.conv', (els) => els.map((e) => e.getAttribute('data-id')));
  let amyShown = false;
  for (const id of amy) {
    await agent.click(`.conv[data-id="${id}"]`);
    if (await until(async () => /amy@example\.com/.test((await agent.textContent('.details-body')) || ''), 1500)) {
      amyShown = true;
      break;
    }
  }
  ok(amyShown, "Amy's email (given after her message) shows too");

  note('5. an agent available: no offline text, no form');
  const d = await visit(browser, '/index.html');
  const online = await until(async () => {
    const r = await d.page.evaluate((p) => fetch(p + 'v1/visitor/availability').then((x) => x.json()), PREFIX);
    return r.agents_available ? r : null;
  });
  ok(online, 'the agent with the console open is available');
  av = await openPanel(d.page);
  is(av.agents_available, true, 'the widget learns it on opening');
  s = await state(d.page);
  ok(!s.banner && !s.form, 'no offline text and no form', s);
  await shot(d.page, '5-online');
  await d.ctx.close();
  await actx.close();
}

await runInChromium('prechat browser test', DEADLINE_MS, run);
