// The chat end to end in real headless Chromium (playwright-core): a visitor
// on a page the module injected the widget into, and an agent in the console
// logged in through a one-time URL, in two separate browser contexts.
// Prints TAP; t/60-chat-browser.t starts nginx, makes the login URL and runs
// it.
//
//   node t/browser/chat.test.mjs BASE_URL LOGIN_URL
//
// The server under BASE_URL must serve /index.html and /other.html with
// the widget injected, and the chatvisor location at /chatvisor/. LOGIN_URL
// is a fresh one-time login URL of the agent named in CHATVISOR_AGENT_NAME
// (default "Ann"). With CHATVISOR_MOCK=1 the URL is asked from
// t/browser/mock-server.mjs instead. Screenshots go to CHATVISOR_ARTIFACTS.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, '');
let LOGIN_URL = process.argv[3] || process.env.CHATVISOR_LOGIN_URL || '';
const PREFIX = process.env.CHATVISOR_PREFIX || '/chatvisor/';
const AGENT = process.env.CHATVISOR_AGENT_NAME || 'Ann';
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 150000);
const WAIT_MS = Number(process.env.CHATVISOR_WAIT_MS || 10000);

if (!BASE) skipAll('no base URL given');

const XSS_VISITOR = '<img src=x onerror=alert(1)>';
const XSS_AGENT = '<script>alert(2)</script><img src=x onerror="alert(3)"> & "quotes"';

// ---- helpers --------------------------------------------------------------
async function shot(page, name) {
  const file = join(ARTIFACTS, `chat-${name}.png`);
  await page.screenshot({ path: file });
  note(`screenshot ${file}`);
}

// A page that records errors, CSP violations, dialogs and alert() calls.
async function openPage(context, url, opts) {
  const o = opts || {};
  const page = await context.newPage();
  const rec = { errors: [], dialogs: [] };
  page.on('pageerror', (e) => rec.errors.push(String(e && e.message || e)));
  page.on('console', (m) => {
    const t = m.text();
    if (/^Failed to load resource/.test(t)) return; // reported below, with the URL
    if (m.type() === 'error' || /Content Security Policy/i.test(t)) rec.errors.push(`console.${m.type()}: ${t}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !/\/favicon\.ico$/.test(r.url()) && !(o.allowStatus && o.allowStatus.test(`${r.status()} ${r.url()}`))) {
      rec.errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    }
  });
  page.on('dialog', (d) => {
    rec.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.addInitScript(() => {
    window.__alerts = [];
    window.__cspViolations = [];
    const orig = window.alert;
    window.alert = function (m) {
      window.__alerts.push(String(m));
      return orig.apply(this, arguments);
    };
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  const response = await page.goto(url.startsWith('http') ? url : BASE + url, { waitUntil: 'load' });
  return { page, rec, response };
}

async function until(fn, what, timeout) {
  const deadline = Date.now() + (timeout || WAIT_MS);
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The widget, seen from inside its shadow root.
async function widget(page) {
  return page.evaluate(() => {
    const host = document.querySelector('chatvisor-widget');
    const sr = host && host.shadowRoot;
    if (!sr) return null;
    const log = sr.querySelector('[role="log"]');
    const items = Array.from(log ? log.children : [], (el) => ({
      cls: el.className,
      text: el.querySelector('.bubble') ? el.querySelector('.bubble').textContent : el.textContent,
      bubble: !!el.querySelector('.bubble'),
      meta: el.querySelector('.meta') ? el.querySelector('.meta').textContent : null,
    }));
    const typing = sr.querySelector('.typing');
    const badge = sr.querySelector('.badge');
    const panel = sr.querySelector('[role="dialog"]');
    return {
      items,
      bubbles: items.filter((i) => i.bubble).map((i) => i.text),
      lines: items.filter((i) => !i.bubble).map((i) => i.text),
      pending: items.filter((i) => /pending|failed/.test(i.cls)).length,
      typing: typing && !typing.hidden ? typing.textContent : null,
      badge: badge && !badge.hidden ? badge.textContent : null,
      open: panel ? !panel.hidden : false,
      launcherLabel: sr.querySelector('.launcher').getAttribute('aria-label'),
      imgs: sr.querySelectorAll('img').length + document.querySelectorAll('body img').length,
      styleAttrs: Array.from(sr.querySelectorAll('[style]'), (e) => `${e.tagName}.${e.className}: ${e.getAttribute('style')}`),
      alerts: window.__alerts.slice(),
    };
  });
}

async function waitForWidget(page) {
  await page.waitForFunction(() => {
    const h = document.querySelector('chatvisor-widget');
    return h && h.shadowRoot && h.shadowRoot.querySelector('.launcher');
  }, null, { timeout: WAIT_MS });
}

// The console.
async function consoleState(page) {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    const conv = Array.from(document.querySelectorAll('.conv'), (li) => ({
      id: li.getAttribute('data-id'),
      name: (li.querySelector('.conv-name') || {}).textContent,
      preview: (li.querySelector('.conv-preview') || {}).textContent,
      unread: li.classList.contains('unread'),
      active: li.classList.contains('active'),
    }));
    const log = q('.chat-log');
    const items = Array.from(log ? log.children : [], (el) => ({
      cls: el.className,
      text: el.querySelector('.bubble') ? el.querySelector('.bubble').textContent : el.textContent,
      bubble: !!el.querySelector('.bubble'),
    }));
    const typing = q('.chat-main .typing');
    const tab = q('.tab[aria-selected="true"]');
    return {
      me: (q('.me-name') || {}).textContent || null,
      status: (q('.status-toggle') || {}).textContent || null,
      tab: tab && tab.getAttribute('data-tab'),
      counts: Object.fromEntries(Array.from(document.querySelectorAll('.tab'), (t) => [t.getAttribute('data-tab'), (t.querySelector('.tab-count') || {}).textContent])),
      conv,
      chatName: (q('.chat-name') || {}).textContent || null,
      items,
      bubbles: items.filter((i) => i.bubble).map((i) => i.text),
      lines: items.filter((i) => !i.bubble).map((i) => i.text),
      pending: items.filter((i) => /pending|failed/.test(i.cls)).length,
      typing: typing && !typing.hidden ? typing.textContent : null,
      details: (q('.details-body') || {}).textContent || '',
      imgs: document.querySelectorAll('img').length,
      gate: (q('.gate h1') || {}).textContent || null,
      title: document.title,
      alerts: window.__alerts.slice(),
      csp: window.__cspViolations.slice(),
    };
  });
}

const lastOf = (a) => a[a.length - 1];

// ---- the checks -----------------------------------------------------------
async function run(browser) {
  mkdirSync(ARTIFACTS, { recursive: true });
  if (!LOGIN_URL && process.env.CHATVISOR_MOCK) {
    const r = await fetch(`${BASE}/mock/login-url?agent=ann`, { method: 'POST' });
    LOGIN_URL = (await r.json()).url;
  }
  ok(/\/join#./.test(LOGIN_URL), 'a one-time login URL (PREFIX join#TOKEN) was given', LOGIN_URL);
  const token = LOGIN_URL.replace(/^[^#]*#/, '');

  // 1. the agent logs in through the one-time URL
  note('1. agent login');
  const agentCtx = await browser.newContext({ viewport: { width: 1360, height: 820 }, deviceScaleFactor: 1 });
  // Desktop notifications are recorded, not shown; the tab can be made to
  // look hidden (window.__hidden) as when the agent is in another tab.
  await agentCtx.addInitScript(() => {
    window.__notes = [];
    window.__hidden = false;
    function FakeNotification(title, options) {
      window.__notes.push({ title: String(title), body: String((options && options.body) || '') });
      return { close() {}, onclick: null };
    }
    FakeNotification.permission = 'granted';
    FakeNotification.requestPermission = () => Promise.resolve('granted');
    window.Notification = FakeNotification;
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__hidden });
    Object.defineProperty(Document.prototype, 'visibilityState', {
      configurable: true, get: () => (window.__hidden ? 'hidden' : 'visible'),
    });
  });
  const A = await openPage(agentCtx, LOGIN_URL);
  const agent = A.page;
  await agent.waitForURL((u) => u.pathname.endsWith(`${PREFIX}agent/`), { timeout: WAIT_MS }).catch(() => {});
  ok(new URL(agent.url()).pathname === `${PREFIX}agent/`, 'the join page moves on to the console', agent.url());
  ok(!agent.url().includes(token), 'the token is not in the address bar any more', agent.url());
  const cookies = await agentCtx.cookies(`${BASE}${PREFIX}agent/`);
  const session = cookies.find((c) => c.name === 'cv_agent');
  ok(session && session.httpOnly && session.sameSite === 'Strict', 'cv_agent session cookie is HttpOnly and SameSite=Strict', cookies);
  const me = await until(async () => (await consoleState(agent)).me, 'console loaded');
  is(me, AGENT, `the console shows the agent's name (${AGENT})`);
  // GET me says "offline" until the console's poll makes the agent online
  const status = await until(async () => {
    const st = (await consoleState(agent)).status;
    return /available|away/i.test(st || '') ? st : null;
  });
  ok(status, 'own status is shown (online once the console polls)', (await consoleState(agent)).status);
  let cs;
  await shot(agent, '1-console-empty');

  // 2. the visitor writes
  note('2. visitor writes, agent sees it live');
  const visitorCtx = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const V = await openPage(visitorCtx, '/index.html');
  const visitor = V.page;
  await waitForWidget(visitor);
  await visitor.click('chatvisor-widget .launcher');
  const first = `Hello, I need help with order #${Date.now() % 100000}`;
  await visitor.fill('chatvisor-widget textarea', first);
  await visitor.keyboard.press('Enter');
  let w = await until(async () => {
    const s = await widget(visitor);
    return s.bubbles.includes(first) && s.pending === 0 ? s : null;
  });
  ok(w, 'visitor: the message is shown and confirmed (not pending)', await widget(visitor));
  const seenAt = Date.now();
  const conv = await until(async () => (await consoleState(agent)).conv.find((c) => (c.preview || '').includes(first)));
  ok(conv, 'agent: the new conversation shows up in the list without a reload', await consoleState(agent));
  note(`the conversation reached the console in ${Date.now() - seenAt} ms`);
  cs = await consoleState(agent);
  ok(cs.conv.length && cs.conv[0].id === (conv && conv.id), 'agent: it is on top of the list', cs.conv);
  ok(Number(cs.counts.unassigned) >= 1, 'agent: the Unassigned tab counts it', cs.counts);
  ok(conv && conv.unread, 'agent: it is marked unread', conv);
  ok(/^\(\d+\)/.test(cs.title), 'agent: the page title shows the unread count', cs.title);
  await shot(agent, '2-new-conversation');
  const convId = conv && conv.id;

  // 3. the agent opens it, takes it, replies; typing both ways
  note('3. agent opens, assigns, types and replies');
  await agent.click(`.conv[data-id="${convId}"]`);
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.bubbles.includes(first) ? s : null;
  });
  ok(cs, 'agent: the chat view shows the visitor message', await consoleState(agent));
  ok(agent.url().endsWith(`#conversation=${convId}`), 'agent: the URL names the open conversation', agent.url());
  ok(cs && /cus_/.test(cs.details), 'agent: the customer panel shows the customer id', cs && cs.details);
  ok(cs && cs.details.includes('/index.html'), 'agent: the customer panel shows the page URL', cs && cs.details);
  await agent.click('[data-action="assign"]');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.lines.some((l) => l.includes(`${AGENT} joined`)) ? s : null;
  });
  ok(w, `visitor: "${AGENT} joined the chat" appears live`, await widget(visitor));
  cs = await until(async () => {
    const s = await consoleState(agent);
    return Number(s.counts.mine) >= 1 ? s : null;
  });
  ok(cs, 'agent: the conversation counts under Mine', await consoleState(agent));

  await agent.click('.composer textarea');
  const agentTyped = agent.keyboard.type('Sure, let me have a look', { delay: 120 });
  w = await until(async () => {
    const s = await widget(visitor);
    return s.typing && s.typing.includes(`${AGENT} is typing`) ? s : null;
  });
  ok(w, `visitor: "${AGENT} is typing…" shows while the agent types`, await widget(visitor));
  await shot(visitor, '3-visitor-sees-typing');
  await agentTyped;
  const reply = 'Sure, let me check that order for you.';
  await agent.fill('.composer textarea', reply);
  await agent.keyboard.press('Enter');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.bubbles.includes(reply) ? s : null;
  });
  ok(w, 'visitor: the agent reply arrives live', await widget(visitor));
  ok(w && !w.typing, 'visitor: the typing indicator goes away with the reply', w && w.typing);
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.bubbles.includes(reply) && s.pending === 0 ? s : null;
  });
  ok(cs, 'agent: the reply is confirmed in the chat view', await consoleState(agent));
  is(cs && cs.bubbles.filter((b) => b === reply).length, 1, 'agent: the reply shows once (no duplicate from the poll)');

  // typing is not stored: one event may fall between two polls, so type
  // for a while, as people do (the widget repeats it every 2 s)
  await visitor.click('chatvisor-widget textarea');
  const typed = visitor.keyboard.type('Thanks, that would be great', { delay: 120 });
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.typing && /typing/.test(s.typing) ? s : null;
  });
  ok(cs, 'agent: the visitor typing indicator shows', await consoleState(agent));
  await shot(agent, '3-agent-sees-typing');
  await typed;
  await visitor.fill('chatvisor-widget textarea', '');

  // 4. markup is text, on both sides
  note('4. markup stays text');
  await visitor.fill('chatvisor-widget textarea', XSS_VISITOR);
  await visitor.keyboard.press('Enter');
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.bubbles.includes(XSS_VISITOR) ? s : null;
  });
  ok(cs, 'agent: the <img onerror> message shows as its text', await consoleState(agent));
  await agent.fill('.composer textarea', XSS_AGENT);
  await agent.keyboard.press('Enter');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.bubbles.includes(XSS_AGENT) ? s : null;
  });
  ok(w, 'visitor: the agent <script>/<img> message shows as its text', await widget(visitor));
  ok(w && w.bubbles.includes(XSS_VISITOR), 'visitor: own <img onerror> message shows as text', w && w.bubbles);
  await visitor.waitForTimeout(500);
  w = await widget(visitor);
  cs = await consoleState(agent);
  is(w.imgs, 0, 'visitor: no <img> element was created');
  is(cs.imgs, 0, 'agent: no <img> element was created');
  ok(w.alerts.length === 0 && V.rec.dialogs.length === 0, 'visitor: nothing ran (no alert, no dialog)', { alerts: w.alerts, dialogs: V.rec.dialogs });
  ok(cs.alerts.length === 0 && A.rec.dialogs.length === 0, 'agent: nothing ran (no alert, no dialog)', { alerts: cs.alerts, dialogs: A.rec.dialogs });
  await shot(visitor, '4-visitor-xss-as-text');
  await shot(agent, '4-agent-xss-as-text');

  // 5. history survives a navigation; a second tab stays in step
  note('5. navigation and tabs');
  const expected = [first, reply, XSS_VISITOR, XSS_AGENT];
  await visitor.goto(`${BASE}/other.html`, { waitUntil: 'load' });
  await waitForWidget(visitor);
  await visitor.click('chatvisor-widget .launcher');
  w = await until(async () => {
    const s = await widget(visitor);
    return expected.every((t) => s.bubbles.includes(t)) ? s : null;
  });
  ok(w, 'visitor: after navigating, the history is back', await widget(visitor));
  ok(w && expected.map((t) => w.bubbles.indexOf(t)).every((v, i, a) => i === 0 || v > a[i - 1]), 'visitor: in order', w && w.bubbles);
  ok(w && w.lines.some((l) => l.includes(`${AGENT} joined`)), 'visitor: the joined line is in the history too', w && w.lines);
  is(w && w.bubbles.filter((b) => b === first).length, 1, 'visitor: each message once');
  ok(w && w.styleAttrs.length === 0, 'visitor: still no style attribute in the widget', w && w.styleAttrs);

  const T2 = await openPage(visitorCtx, '/index.html');
  const tab2 = T2.page;
  await waitForWidget(tab2);
  await until(async () => (await widget(tab2)).bubbles.includes(XSS_AGENT));
  const fromTab1 = 'Written in the first tab';
  await visitor.fill('chatvisor-widget textarea', fromTab1);
  await visitor.keyboard.press('Enter');
  const t2 = await until(async () => {
    const s = await widget(tab2);
    return s.bubbles.includes(fromTab1) ? s : null;
  });
  ok(t2, 'visitor: a second tab gets the message written in the first', await widget(tab2));
  ok(t2 && !t2.open, 'visitor: (the second tab never opened its panel)');

  // 6. unread badge on a closed panel
  note('6. unread badge');
  const ping = 'Are you still there?';
  await agent.fill('.composer textarea', ping);
  await agent.keyboard.press('Enter');
  const b2 = await until(async () => {
    const s = await widget(tab2);
    return s.bubbles.includes(ping) && s.badge ? s : null;
  });
  ok(b2 && Number(b2.badge) >= 1, 'visitor: the launcher of a closed panel shows an unread badge', await widget(tab2));
  ok(b2 && /unread/.test(b2.launcherLabel), 'visitor: and its label says so', b2 && b2.launcherLabel);
  await shot(tab2, '6-unread-badge');
  await tab2.click('chatvisor-widget .launcher');
  const b3 = await until(async () => {
    const s = await widget(tab2);
    return !s.badge ? s : null;
  });
  ok(b3, 'visitor: opening the panel clears the badge', await widget(tab2));
  await tab2.close();

  // 7. a retry after a lost answer never duplicates
  note('7. idempotent retry');
  const bodies = [];
  let dropped = 0;
  await visitor.route('**/v1/visitor/messages', async (route) => {
    try {
      const req = route.request();
      bodies.push(JSON.parse(req.postData() || '{}'));
      if (dropped === 0) {
        dropped += 1;
        // the server stores it, but the answer is lost on the way back
        await route.fetch().catch((e) => note(`route.fetch: ${e.message}`));
        await route.abort('connectionreset');
        return;
      }
      await route.continue();
    } catch (e) {
      note(`route: ${e.message}`);
    }
  });
  const once = 'This one is sent once';
  await visitor.fill('chatvisor-widget textarea', once);
  await visitor.keyboard.press('Enter');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.bubbles.includes(once) && s.pending === 0 ? s : null;
  }, null, WAIT_MS + 5000);
  ok(w, 'visitor: a lost answer is retried and the message confirmed', await widget(visitor));
  await until(async () => bodies.length >= 2);
  ok(bodies.length >= 2 && bodies.every((b) => b.client_msg_id && b.client_msg_id === bodies[0].client_msg_id),
    'visitor: the retry reuses the client_msg_id', bodies);
  ok(bodies[0] && bodies[0].page_url === `${BASE}/other.html`, 'visitor: the message carries page_url', bodies[0]);
  await visitor.unroute('**/v1/visitor/messages');
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.bubbles.includes(once) ? s : null;
  });
  await agent.waitForTimeout(700);
  cs = await consoleState(agent);
  is(cs.bubbles.filter((b) => b === once).length, 1, 'agent: the retried message exists once');
  is((await widget(visitor)).bubbles.filter((b) => b === once).length, 1, 'visitor: and shows once');

  // 7b. the server cannot be reached: an inline error with a Retry button
  let refused = 0;
  await visitor.route('**/v1/visitor/messages', (route) => {
    refused += 1;
    route.abort('connectionrefused').catch(() => {});
  });
  const later = 'Sent when the network is back';
  await visitor.fill('chatvisor-widget textarea', later);
  await visitor.keyboard.press('Enter');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.items.some((i) => i.text === later && /failed/.test(i.cls)) ? s : null;
  }, null, WAIT_MS + 5000);
  const failedItem = w && w.items.find((i) => i.text === later);
  ok(failedItem && /Not sent/.test(failedItem.meta || '') && /Retry/.test(failedItem.meta || ''),
    'visitor: a message that cannot be sent says so, with a Retry button', w && w.items);
  note(`${refused} attempts before giving up`);
  await visitor.unroute('**/v1/visitor/messages');
  await visitor.click('chatvisor-widget .retry');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.bubbles.includes(later) && s.pending === 0 ? s : null;
  });
  ok(w, 'visitor: Retry sends it', await widget(visitor));
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.bubbles.includes(later) ? s : null;
  });
  ok(cs && cs.bubbles.filter((b) => b === later).length === 1, 'agent: the retried message arrives once', cs && cs.bubbles);

  // 8. closing; the next message opens a new conversation
  note('8. close and a new conversation');
  await agent.click('[data-action="close"]');
  w = await until(async () => {
    const s = await widget(visitor);
    return s.lines.some((l) => /closed/i.test(l)) ? s : null;
  });
  ok(w, 'visitor: a "conversation closed" line appears', await widget(visitor));
  cs = await until(async () => {
    const s = await consoleState(agent);
    return s.lines.some((l) => /closed/i.test(l)) && !(await agent.isVisible('.composer textarea:enabled')) ? s : null;
  });
  ok(cs, 'agent: the chat shows it closed and the composer is off', await consoleState(agent));
  const again = 'One more question, please';
  // the agent is in another tab now
  await agent.evaluate(() => {
    window.__hidden = true;
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await visitor.fill('chatvisor-widget textarea', again);
  await visitor.keyboard.press('Enter');
  await agent.click('.tab[data-tab="unassigned"]');
  const conv2 = await until(async () => (await consoleState(agent)).conv.find((c) => (c.preview || '').includes(again)));
  ok(conv2 && conv2.id !== convId, 'agent: the next visitor message opens a new conversation, live', await consoleState(agent));
  const notes = await until(async () => {
    const list = await agent.evaluate(() => window.__notes.slice());
    return list.some((x) => x.body.includes(again)) ? list : null;
  });
  ok(notes && notes.some((x) => /new conversation/i.test(x.title)), 'agent: a hidden tab gets a desktop notification of the new conversation',
    await agent.evaluate(() => window.__notes.slice()));
  ok(notes && notes.some((x) => x.body.includes(again)), 'agent: and of the customer message', notes);
  ok(/^\(\d+\)/.test(await agent.title()), 'agent: the page title counts it unread', await agent.title());
  await agent.evaluate(() => {
    window.__hidden = false;
    document.dispatchEvent(new Event('visibilitychange'));
  });
  w = await until(async () => {
    const s = await widget(visitor);
    return s.bubbles.includes(again) && s.pending === 0 ? s : null;
  });
  ok(w, 'visitor: the message into the new conversation is confirmed', await widget(visitor));
  // the new conversation goes on live
  if (conv2) {
    await agent.click(`.conv[data-id="${conv2.id}"]`);
    await until(async () => (await consoleState(agent)).bubbles.includes(again));
    const answer = 'Of course, ask away.';
    await agent.fill('.composer textarea', answer);
    await agent.keyboard.press('Enter');
    w = await until(async () => {
      const s = await widget(visitor);
      return s.bubbles.includes(answer) ? s : null;
    });
    ok(w, 'visitor: replies in the new conversation arrive live', await widget(visitor));
  }
  await shot(visitor, '8-visitor-after-close');
  await shot(agent, '8-agent-after-close');

  // 9. status toggle; deep link to a conversation
  note('9. status and deep link');
  const before = (await consoleState(agent)).status;
  await agent.click('.status-toggle');
  const after = await until(async () => {
    const s = await consoleState(agent);
    return s.status !== before ? s.status : null;
  });
  ok(after && after !== before, 'agent: the status toggle switches', { before, after });
  await agent.click('.status-toggle');
  const deep = await openPage(agentCtx, `${BASE}${PREFIX}agent/#conversation=${convId}`);
  cs = await until(async () => {
    const s = await consoleState(deep.page);
    return s.bubbles.includes(first) ? s : null;
  });
  ok(cs, 'agent: PREFIX agent/#conversation=ID opens that conversation', await consoleState(deep.page));
  await deep.page.close();

  ok(V.rec.errors.length === 0, 'visitor: no page errors', V.rec.errors.join('\n'));
  cs = await consoleState(agent);
  ok(cs.csp.length === 0, 'agent: no CSP violations in the console', cs.csp.join('\n'));
  ok(A.rec.errors.length === 0, 'agent: no page errors', A.rec.errors.join('\n'));

  // 10. a narrow screen
  note('10. phone layout');
  await agent.setViewportSize({ width: 390, height: 780 });
  await agent.waitForTimeout(200);
  const phone = await agent.evaluate(() => ({
    chat: getComputedStyle(document.querySelector('.chat')).display,
    sidebar: getComputedStyle(document.querySelector('.sidebar')).display,
    overflow: document.documentElement.scrollWidth > innerWidth + 1,
  }));
  ok(phone.chat !== 'none' && phone.sidebar === 'none' && !phone.overflow, 'agent: on a phone the open chat takes the screen', phone);
  await shot(agent, '10-phone-chat');
  await agent.click('.back');
  await agent.waitForTimeout(100);
  await shot(agent, '10-phone-list');
  await agent.click('button[aria-label="Log out"]');
  const out = await until(async () => (await consoleState(agent)).gate);
  ok(out && /logged out/.test(out), 'agent: Log out ends the session', out);
  await agent.reload({ waitUntil: 'load' });
  const after2 = await until(async () => (await consoleState(agent)).gate);
  ok(after2 && /not logged in/.test(after2), 'agent: after logging out the console asks for a login link', after2);
  await agentCtx.close();

  // 11. join errors, no session
  note('11. join errors and no session');
  const other = await browser.newContext({ viewport: { width: 1024, height: 700 } });
  const used = await openPage(other, LOGIN_URL, { allowStatus: /^403 .*\/v1\/agent\/join$/ });
  const usedText = await until(async () => {
    const t = await used.page.textContent('#join-title');
    return /does not work/.test(t || '') ? t : null;
  });
  ok(usedText, 'join: a used login link says so', await used.page.textContent('body'));
  ok(!used.page.url().includes('#'), 'join: the token is dropped from the address bar', used.page.url());
  ok(!(await other.cookies(`${BASE}${PREFIX}agent/`)).some((c) => c.name === 'cv_agent'), 'join: a used link gives no session');
  await shot(used.page, '11-join-used');
  await used.page.goto(`${BASE}${PREFIX}join#not-a-real-token`, { waitUntil: 'load' });
  ok(await until(async () => /does not work/.test((await used.page.textContent('#join-title')) || '')), 'join: a forged token is refused');
  await used.page.goto(`${BASE}${PREFIX}join`, { waitUntil: 'load' });
  ok(await until(async () => /incomplete/.test((await used.page.textContent('#join-title')) || '')), 'join: no token, a clear message');
  ok(used.rec.errors.length === 0, 'join: no page errors', used.rec.errors.join('\n'));
  const anon = await openPage(other, `${BASE}${PREFIX}agent/`, { allowStatus: /^401 .*\/v1\/agent\/me$/ });
  const gate = await until(async () => (await consoleState(anon.page)).gate);
  ok(gate && /not logged in/.test(gate), 'console without a session: "You are not logged in"', gate);
  ok(anon.rec.errors.length === 0, 'console without a session: no page errors', anon.rec.errors.join('\n'));
  await shot(anon.page, '11-not-logged-in');
  await other.close();
  await visitorCtx.close();
}

await runInChromium('chat browser test', DEADLINE_MS, run);
