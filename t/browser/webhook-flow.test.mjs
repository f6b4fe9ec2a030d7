// The integration flow of docs/webhooks.md in real headless Chromium
// (playwright-core): a CRM told of a new conversation by a webhook has
// tagged the customer (PUT customers/{id}) and asked for a one-time agent
// URL (POST customers/{id}/agent-url); opened here, the URL lands the agent
// in the console on that conversation, with the visitor's message and the
// CRM's name for the customer; the agent answers from the composer.
// Prints TAP; t/93-webhooks-browser.t sets everything up, runs it, and
// checks the webhooks the answer causes.
//
//   node t/browser/webhook-flow.test.mjs BASE_URL AGENT_URL
//
// Environment (set by the .t):
//   CHATVISOR_CONVERSATION    the conversation the URL must open
//   CHATVISOR_TEXT            the visitor's message in it
//   CHATVISOR_CUSTOMER_NAME   the name the CRM gave the customer
//   CHATVISOR_REPLY           what the agent answers
//   CHATVISOR_AGENT_NAME      the agent's name (default "Ann")
//   CHATVISOR_ARTIFACTS       where screenshots go (webhook-flow-*.png)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || '').replace(/\/$/, '');
const URL_ = process.argv[3] || '';
const PREFIX = process.env.CHATVISOR_PREFIX || '/chatvisor/';
const CONV = process.env.CHATVISOR_CONVERSATION || '';
const TEXT = process.env.CHATVISOR_TEXT || '';
const CUSTOMER = process.env.CHATVISOR_CUSTOMER_NAME || '';
const REPLY = process.env.CHATVISOR_REPLY || '';
const AGENT = process.env.CHATVISOR_AGENT_NAME || 'Ann';
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 45000);
const WAIT_MS = Number(process.env.CHATVISOR_WAIT_MS || 10000);

if (!BASE || !URL_) skipAll('no base URL or agent URL given');

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

// what the console shows (selectors of www/agent/)
async function consoleState(page) {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    const txt = (s) => (q(s) || {}).textContent || null;
    const log = q('.chat-log');
    const chatMain = q('.chat-main');
    return {
      me: txt('.me-name'),
      active: Array.from(document.querySelectorAll('.conv.active'), (li) => li.getAttribute('data-id')),
      chatOpen: !!chatMain && !chatMain.hidden,
      chatName: txt('.chat-name'),
      bubbles: Array.from(log ? log.querySelectorAll('.bubble') : [], (b) => b.textContent),
      pending: log ? log.querySelectorAll('.pending, .failed').length : 0,
      detailsName: txt('.details-name'),
      hash: location.hash,
    };
  });
}

async function run(browser) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e && e.message || e)));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`); });

  note('the agent URL the CRM asked for');
  await page.goto(URL_, { waitUntil: 'load' });
  await page.waitForURL((u) => u.pathname === `${PREFIX}agent/`, { timeout: WAIT_MS }).catch(() => {});
  let cs = await until(async () => {
    const s = await consoleState(page);
    return s.me && s.chatOpen && s.bubbles.includes(TEXT) && s.detailsName ? s : null;
  });
  if (!cs) cs = await consoleState(page).catch((e) => ({ error: String(e) }));
  is(new URL(page.url()).pathname, `${PREFIX}agent/`, 'the URL lands in the console');
  is(cs.hash, `#conversation=${CONV}`, "on the conversation of the webhook's customer_id");
  is(cs.me, AGENT, `logged in as ${AGENT}`);
  ok(cs.active.length === 1 && cs.active[0] === CONV, 'the list marks it as the open one', cs.active);
  ok(cs.bubbles.includes(TEXT), "the visitor's message is in the chat", cs.bubbles);
  is(cs.detailsName, CUSTOMER, `the customer panel shows the CRM's name for the customer (${CUSTOMER})`);
  is(cs.chatName, CUSTOMER, 'so does the chat title');
  await page.screenshot({ path: join(ARTIFACTS, 'webhook-flow-1-console.png') });

  note('the agent answers');
  await page.click('.composer textarea');
  await page.fill('.composer textarea', REPLY);
  await page.keyboard.press('Enter');
  cs = await until(async () => {
    const s = await consoleState(page);
    return s.bubbles.includes(REPLY) && s.pending === 0 ? s : null;
  });
  ok(cs, 'the answer is sent and confirmed', await consoleState(page));
  await page.screenshot({ path: join(ARTIFACTS, 'webhook-flow-2-answered.png') });
  ok(errors.length === 0, 'no page errors, no failed requests', errors.join('\n'));
  await ctx.close();
}

await runInChromium('webhook flow browser test', DEADLINE_MS, run);
