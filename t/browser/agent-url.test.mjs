// A one-time agent URL of the REST API (POST customers/{customerId}/agent-url,
// docs/api.md) opened in real headless Chromium (playwright-core): it must
// log the agent in and land in the console on that customer's conversation,
// with the token gone from the address bar; the same URL again, or one
// past its ttl_seconds, must be refused by the join page with no session.
// Prints TAP; t/73-api-agent-url-browser.t starts nginx, creates the agent,
// the customers and the URLs over HTTP, and runs it.
//
//   node t/browser/agent-url.test.mjs BASE_URL AGENT_URL
//
// Environment (set by the .t):
//   CHATVISOR_CONVERSATION     the conversation AGENT_URL must open
//   CHATVISOR_OTHER_CONV       another conversation (must be listed, not open)
//   CHATVISOR_TEXT             the message of CHATVISOR_CONVERSATION
//   CHATVISOR_OTHER_TEXT       the message of the other conversation
//   CHATVISOR_CUSTOMER_NAME    the customer's name ("John Doe")
//   CHATVISOR_CUSTOMER_EMAIL   the customer's email
//   CHATVISOR_AGENT_NAME       the agent's name (default "Ann")
//   CHATVISOR_SHORT_URL        an agent URL made with ttl_seconds 1 ...
//   CHATVISOR_SHORT_OPEN_AT    ... to be opened at this time (epoch ms) or later
//   CHATVISOR_ARTIFACTS        where screenshots go (agent-url-*.png)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, '');
const URL_ = process.argv[3] || process.env.CHATVISOR_AGENT_URL || '';
const PREFIX = process.env.CHATVISOR_PREFIX || '/chatvisor/';
const AGENT = process.env.CHATVISOR_AGENT_NAME || 'Ann';
const CONV = process.env.CHATVISOR_CONVERSATION || '';
const OTHER_CONV = process.env.CHATVISOR_OTHER_CONV || '';
const TEXT = process.env.CHATVISOR_TEXT || '';
const OTHER_TEXT = process.env.CHATVISOR_OTHER_TEXT || '';
const CUSTOMER = process.env.CHATVISOR_CUSTOMER_NAME || 'John Doe';
const EMAIL = process.env.CHATVISOR_CUSTOMER_EMAIL || '';
const SHORT_URL = process.env.CHATVISOR_SHORT_URL || '';
const SHORT_OPEN_AT = Number(process.env.CHATVISOR_SHORT_OPEN_AT || 0);
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 60000);
const WAIT_MS = Number(process.env.CHATVISOR_WAIT_MS || 10000);

if (!BASE) skipAll('no base URL given');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- helpers --------------------------------------------------------------
async function shot(page, name) {
  const file = join(ARTIFACTS, `agent-url-${name}.png`);
  await page.screenshot({ path: file });
  note(`screenshot ${file}`);
}

// A page that records errors, failed responses and the join answers.
async function openPage(context, url, opts) {
  const o = opts || {};
  const page = await context.newPage();
  const rec = { errors: [], joins: [] };
  page.on('pageerror', (e) => rec.errors.push(String(e && e.message || e)));
  page.on('console', (m) => {
    const t = m.text();
    if (/^Failed to load resource/.test(t)) return; // reported below, with the URL
    if (m.type() === 'error' || /Content Security Policy/i.test(t)) rec.errors.push(`console.${m.type()}: ${t}`);
  });
  page.on('response', async (r) => {
    const u = new URL(r.url());
    if (u.pathname === `${PREFIX}v1/agent/join`) {
      let body = null;
      try { body = await r.json(); } catch (e) { body = null; }
      rec.joins.push({ status: r.status(), body });
    }
    if (r.status() >= 400 && !(o.allowStatus && o.allowStatus.test(`${r.status()} ${r.url()}`))) {
      rec.errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    }
  });
  page.on('dialog', (d) => d.dismiss().catch(() => {}));
  const response = await page.goto(url, { waitUntil: 'load' });
  return { page, rec, response };
}

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

// What the console shows (selectors of www/agent/index.js).
async function consoleState(page) {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    const txt = (s) => (q(s) || {}).textContent || null;
    const log = q('.chat-log');
    const items = Array.from(log ? log.children : [], (el) => ({
      cls: el.className,
      text: el.querySelector('.bubble') ? el.querySelector('.bubble').textContent : el.textContent,
      bubble: !!el.querySelector('.bubble'),
    }));
    const chatMain = q('.chat-main');
    return {
      me: txt('.me-name'),
      gate: txt('.gate h1'),
      conv: Array.from(document.querySelectorAll('.conv'), (li) => ({
        id: li.getAttribute('data-id'),
        name: (li.querySelector('.conv-name') || {}).textContent,
        active: li.classList.contains('active'),
      })),
      chatOpen: !!chatMain && !chatMain.hidden,
      chatName: txt('.chat-name'),
      bubbles: items.filter((i) => i.bubble).map((i) => i.text),
      detailsName: txt('.details-name'),
      detailsEmail: txt('.details-email'),
      details: txt('.details-body') || '',
      detailsVisible: !!q('.details') && getComputedStyle(q('.details')).display !== 'none'
        && getComputedStyle(q('.details')).visibility !== 'hidden',
      hash: location.hash,
    };
  });
}

async function joinTitle(page) {
  return until(async () => {
    const t = await page.textContent('#join-title');
    return t && !/Logging you in/.test(t) ? t : null;
  });
}

const hasSession = async (ctx) => (await ctx.cookies(`${BASE}${PREFIX}agent/`)).some((c) => c.name === 'cv_agent');

// ---- the checks -----------------------------------------------------------
async function run(browser) {
  mkdirSync(ARTIFACTS, { recursive: true });
  ok(URL_.startsWith(`${BASE}${PREFIX}join#`) && URL_.length > `${BASE}${PREFIX}join#`.length + 16,
    'the agent URL is BASE PREFIX join#TOKEN', URL_);
  const token = URL_.replace(/^[^#]*#/, '');

  // 1. open the URL in a fresh browser
  note('1. the agent URL, first use');
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 820 }, deviceScaleFactor: 1 });
  const A = await openPage(ctx, URL_);
  const page = A.page;
  await page.waitForURL((u) => u.pathname === `${PREFIX}agent/`, { timeout: WAIT_MS }).catch(() => {});
  let cs = await until(async () => {
    const s = await consoleState(page);
    return s.me && s.chatOpen && s.bubbles.includes(TEXT) && s.detailsName ? s : null;
  });
  if (!cs) cs = await consoleState(page).catch((e) => ({ error: String(e) }));
  const landed = new URL(page.url());
  is(landed.pathname, `${PREFIX}agent/`, 'the join page goes on to the console (PREFIX agent/)');
  is(landed.hash, `#conversation=${CONV}`, "the address names the customer's conversation");
  ok(!page.url().includes(token), 'the token is not in the address bar any more', page.url());
  ok(!/join/.test(landed.pathname + landed.hash), 'nothing of the join URL is left in the address bar', page.url());
  // (its body is gone once the page has moved on; t/70-api.t checks the
  // redirect itself)
  ok(A.rec.joins.length === 1 && A.rec.joins[0].status === 200, 'POST v1/agent/join answered 200 once',
    A.rec.joins.map((j) => j.status));

  // logged in
  const cookies = await ctx.cookies(`${BASE}${PREFIX}agent/`);
  const session = cookies.find((c) => c.name === 'cv_agent');
  ok(session && session.httpOnly, 'a cv_agent session cookie, HttpOnly', cookies);
  ok(session && session.sameSite === 'Strict' && session.path.replace(/\/$/, '') === PREFIX.replace(/\/$/, ''),
    'the session cookie is SameSite=Strict with Path=PREFIX', session);
  ok(session && !(await page.evaluate(() => document.cookie)).includes('cv_agent'),
    'the page script cannot read the session cookie');
  is(cs.gate, null, 'no "not logged in" screen');
  is(cs.me, AGENT, `the console shows the agent (${AGENT})`);
  const me = await page.evaluate(async (p) => {
    const r = await fetch(`${p}v1/agent/me`, { credentials: 'same-origin' });
    let j = null;
    try { j = await r.json(); } catch (e) { j = null; }
    return { status: r.status, id: j && j.agent && j.agent.id };
  }, PREFIX);
  ok(me.status === 200 && me.id === 'ann', 'GET v1/agent/me from the page: 200, the session is ann\'s', me);

  // the right conversation
  const active = cs.conv.filter((c) => c.active).map((c) => c.id);
  ok(active.length === 1 && active[0] === CONV, 'the list marks the customer\'s conversation as the open one', cs.conv);
  ok(cs.conv.some((c) => c.id === OTHER_CONV && !c.active), 'the other conversation is listed, not open', cs.conv);
  ok(cs.chatOpen, 'the chat view is open');
  ok(cs.bubbles.includes(TEXT), "the open chat shows the customer's message", cs.bubbles);
  ok(!cs.bubbles.includes(OTHER_TEXT), "the open chat does not show the other visitor's message", cs.bubbles);
  is(cs.chatName, CUSTOMER, `the chat is titled with the customer's name (${CUSTOMER})`);

  // the customer panel
  ok(cs.detailsVisible, 'the customer panel is shown');
  is(cs.detailsName, CUSTOMER, `the customer panel shows ${CUSTOMER}`);
  is(cs.detailsEmail, EMAIL, 'the customer panel shows the email');
  ok(cs.details.includes(CONV), 'the customer panel names the conversation', cs.details);
  ok(cs.details.includes('crm-4711') && cs.details.includes('vip'),
    "the customer panel shows the integrator's id and label", cs.details);
  // the console's long-poll runs with the session: the agent goes online
  const status = await until(async () => {
    const st = await page.textContent('.status-toggle');
    return /available|away/i.test(st || '') ? st : null;
  });
  ok(status, 'the agent is online once the console polls (Available)', await page.textContent('.status-toggle').catch(() => null));
  ok(A.rec.errors.length === 0, 'no page errors on the way', A.rec.errors.join('\n'));
  await shot(page, '1-console');

  // a reload keeps the session and the conversation
  await page.reload({ waitUntil: 'load' });
  cs = await until(async () => {
    const s = await consoleState(page);
    return s.me && s.chatOpen && s.bubbles.includes(TEXT) ? s : null;
  });
  ok(cs && cs.hash === `#conversation=${CONV}` && cs.me === AGENT, 'after a reload: still logged in, same conversation',
    cs || await consoleState(page));
  // Back goes to where the tab was before (about:blank), not to the join
  // URL with its token: the join page replaced its history entry.
  await page.goBack({ waitUntil: 'load' }).catch(() => {});
  const back = page.url();
  note(`after Back: ${back}`);
  ok(!back.includes(token) && !back.includes(`${PREFIX}join`), 'Back does not lead to the join URL (its history entry was replaced)', back);
  await ctx.close();

  // 2. the same URL again, in a fresh browser
  note('2. the same agent URL again');
  const ctx2 = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  const B = await openPage(ctx2, URL_, { allowStatus: /^403 .*\/v1\/agent\/join$/ });
  const title2 = await joinTitle(B.page);
  ok(/does not work/.test(title2 || ''), 'the join page says the link does not work', await B.page.textContent('body'));
  ok(/already been used/.test((await B.page.textContent('#join-text')) || ''),
    'it says why: already used, expired or not valid', await B.page.textContent('body'));
  ok(B.rec.joins.length === 1 && B.rec.joins[0].status === 403
    && B.rec.joins[0].body && B.rec.joins[0].body.error && B.rec.joins[0].body.error.code === 'invalid_token',
  'POST v1/agent/join answered 403 invalid_token', B.rec.joins);
  is(new URL(B.page.url()).pathname, `${PREFIX}join`, 'the page stays on the join page');
  ok(!B.page.url().includes(token), 'the token is dropped from the address bar', B.page.url());
  ok(!(await hasSession(ctx2)), 'no cv_agent cookie', await ctx2.cookies());
  ok(B.rec.errors.length === 0, 'no page errors', B.rec.errors.join('\n'));
  await shot(B.page, '2-used');
  // and the console in that browser asks for a login
  const C = await openPage(ctx2, `${BASE}${PREFIX}agent/`, { allowStatus: /^401 .*\/v1\/agent\/me$/ });
  const gate = await until(async () => (await consoleState(C.page)).gate);
  ok(/not logged in/.test(gate || ''), 'the console in that browser says "You are not logged in"', gate);
  await ctx2.close();

  // 3. a URL made with ttl_seconds 1, opened 2 s later
  note('3. an expired agent URL');
  ok(/\/join#./.test(SHORT_URL), 'a ttl_seconds 1 URL was given', SHORT_URL);
  const wait = SHORT_OPEN_AT - Date.now();
  if (wait > 0) await sleep(wait);
  const ctx3 = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  const E = await openPage(ctx3, SHORT_URL, { allowStatus: /^403 .*\/v1\/agent\/join$/ });
  const title3 = await joinTitle(E.page);
  ok(/does not work/.test(title3 || ''), 'expired: the join page says the link does not work', await E.page.textContent('body'));
  ok(E.rec.joins.length === 1 && E.rec.joins[0].status === 403
    && E.rec.joins[0].body && E.rec.joins[0].body.error && E.rec.joins[0].body.error.code === 'invalid_token',
  'expired: POST v1/agent/join answered 403 invalid_token', E.rec.joins);
  ok(!(await hasSession(ctx3)), 'expired: no cv_agent cookie', await ctx3.cookies());
  ok(new URL(E.page.url()).pathname === `${PREFIX}join` && !E.page.url().includes('#'),
    'expired: still on the join page, token dropped', E.page.url());
  await shot(E.page, '3-expired');
  await ctx3.close();
}

await runInChromium('agent URL browser test', DEADLINE_MS, run);
