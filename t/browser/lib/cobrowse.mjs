// What t/browser/cobrowse.test.mjs and cobrowse-privacy.test.mjs share: the
// settings from the environment, pages that keep their errors and every
// request, and the visitor's and the agent's sides of co-browsing as the
// checks look at them.
//
//   const env = settings();                  BASE, LOGIN_URL, AGENT, WAIT_MS, ...
//   const shot = shooter(env, 'cobrowse');   shot(page, name): t/artifacts/cobrowse-NAME.png
//   const net = recordRequests(context);     every request of a browser context
//   const { page, rec } = await openPage(context, url);
//   await until(fn, timeout)                 fn() until truthy, or null at the deadline
//   widgetSide(page), consoleSide(page)      the states below
//   await loginAgent(browser, env), visitorWrites(...), openConversation(...),
//   askToCobrowse(...), answerPrompt(...)
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ok, note, skipAll } from './tap.mjs';

export const VIEW = 'iframe[title="Co-browse view"]';
// what the recorder makes of every input value (www/cobrowse/privacy.js)
export const MASK = '********';

export function settings() {
  const env = {
    BASE: (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, ''),
    LOGIN_URL: process.argv[3] || process.env.CHATVISOR_LOGIN_URL || '',
    PREFIX: process.env.CHATVISOR_PREFIX || '/chatvisor/',
    AGENT: process.env.CHATVISOR_AGENT_NAME || 'Ann',
    ARTIFACTS: process.env.CHATVISOR_ARTIFACTS || 't/artifacts',
    DEADLINE_MS: Number(process.env.CHATVISOR_DEADLINE_MS || 200000),
    WAIT_MS: Number(process.env.CHATVISOR_WAIT_MS || 10000),
  };
  if (!env.BASE) skipAll('no base URL given');
  mkdirSync(env.ARTIFACTS, { recursive: true });
  return env;
}

// With CHATVISOR_MOCK=1 the login URL is asked from t/browser/mock-server.mjs.
export async function loginUrl(env) {
  if (!env.LOGIN_URL && process.env.CHATVISOR_MOCK) {
    const r = await fetch(`${env.BASE}/mock/login-url?agent=ann`, { method: 'POST' });
    env.LOGIN_URL = (await r.json()).url;
  }
  return env.LOGIN_URL;
}

export function shooter(env, prefix) {
  return async (page, name) => {
    const file = join(env.ARTIFACTS, `${prefix}-${name}.png`);
    await page.screenshot({ path: file });
    note(`screenshot ${file}`);
  };
}

export async function until(fn, timeout) {
  const deadline = Date.now() + (timeout || 10000);
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { /* not yet */ }
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Every request a browser context sends, with its body, in order.
export function recordRequests(context) {
  const all = [];
  context.on('request', (r) => {
    let body = '';
    try {
      const buf = r.postDataBuffer();
      body = buf ? buf.toString('utf8') : '';
    } catch (e) { body = ''; }
    let from = '';
    try { from = r.frame().url(); } catch (e) { from = ''; }
    // from: the address of the page that sent it
    all.push({ at: Date.now(), method: r.method(), url: r.url(), body, from });
  });
  return {
    all,
    mark: () => all.length,
    since: (mark) => all.slice(mark),
    matching: (re, from) => all.slice(from || 0).filter((q) => re.test(q.url)),
  };
}

// A page that keeps its errors, dialogs, CSP violations and 4xx/5xx.
export async function openPage(context, url, env, opts) {
  const o = opts || {};
  const page = await context.newPage();
  const rec = { errors: [], dialogs: [] };
  page.on('pageerror', (e) => rec.errors.push(String(e && e.message || e)));
  page.on('console', (m) => {
    const t = m.text();
    if (/^Failed to load resource/.test(t)) return;
    if (m.type() === 'error' || /Content Security Policy/i.test(t)) rec.errors.push(`console.${m.type()}: ${t}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !(o.allowStatus && o.allowStatus.test(`${r.status()} ${r.url()}`))) {
      rec.errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    }
  });
  page.on('dialog', (d) => {
    rec.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  const response = url ? await page.goto(url.startsWith('http') ? url : env.BASE + url, { waitUntil: 'load' }) : null;
  return { page, rec, response };
}

export async function waitForWidget(page, env) {
  await page.waitForFunction(() => {
    const h = document.querySelector('chatvisor-widget');
    return h && h.shadowRoot && h.shadowRoot.querySelector('.launcher');
  }, null, { timeout: env.WAIT_MS });
}

// The visitor's side: the widget's co-browsing parts, from its shadow root.
export async function widgetSide(page) {
  return page.evaluate(() => {
    const sr = document.querySelector('chatvisor-widget') && document.querySelector('chatvisor-widget').shadowRoot;
    const q = (s) => sr && sr.querySelector(s);
    const shown = (el) => !!el && !el.hidden;
    const prompt = q('.cb-prompt');
    const banner = q('.cb-banner');
    const pointer = q('.cb-pointer');
    const box = pointer && !pointer.hidden ? pointer.getBoundingClientRect() : null;
    return {
      prompt: shown(prompt) ? {
        title: q('.cb-title').textContent, text: prompt.textContent,
        buttons: Array.from(prompt.querySelectorAll('button'), (b) => b.textContent),
        role: prompt.getAttribute('role'),
      } : null,
      banner: shown(banner) ? { text: banner.textContent, stop: q('.cb-stop') && q('.cb-stop').textContent } : null,
      // the arrow's tip, in document coordinates
      pointer: box ? { name: q('.cb-name').textContent, x: box.left + window.scrollX, y: box.top + window.scrollY } : null,
      clicks: sr ? sr.querySelectorAll('.cb-click').length : 0,
      recorderLoaded: !!window.__chatvisorRecorder,
    };
  });
}

// The agent's side: the co-browse button and view of the console.
export async function consoleSide(page) {
  return page.evaluate((sel) => {
    const q = (s) => document.querySelector(s);
    const view = q('section.cobrowse');
    const frame = q(sel);
    const button = q('[data-action="cobrowse"]');
    const stop = q('[data-action="cobrowse-stop"]');
    return {
      button: !!button && !button.hidden,
      view: !!view && !view.hidden,
      state: view ? view.getAttribute('data-state') : null,
      reason: view ? view.getAttribute('data-reason') : null,
      live: !!view && view.classList.contains('is-live'),
      status: (q('.cobrowse-status') || {}).textContent || '',
      page: (q('.cobrowse-page') || {}).textContent || '',
      stop: !!stop && !stop.hidden,
      frame: frame ? { title: frame.getAttribute('title'), sandbox: frame.getAttribute('sandbox') } : null,
      ran: window.__cobrowseRan || null,
      csp: window.__cspViolations.slice(),
    };
  }, VIEW);
}

// fn(arg) run in the replayed page in the console; null while there is
// none (also for the moment a new full snapshot replaces its frame).
export async function viewDocument(page, fn, arg) {
  try {
    const handle = await page.$(VIEW);
    const frame = handle && await handle.contentFrame();
    return frame ? await frame.evaluate(fn, arg) : null;
  } catch (e) {
    return null;
  }
}

// opts: openPage's
export async function loginAgent(browser, env, opts) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, deviceScaleFactor: 1 });
  const url = await loginUrl(env);
  const join = await openPage(context, url, env, opts);
  const { page } = join;
  await page.waitForURL((u) => u.pathname.endsWith(`${env.PREFIX}agent/`), { timeout: env.WAIT_MS }).catch(() => {});
  ok(new URL(page.url()).pathname === `${env.PREFIX}agent/`, 'agent: logged in, the console is open', page.url());
  await page.waitForSelector('.me-name', { timeout: env.WAIT_MS }).catch(() => {});
  return Object.assign(join, { context });
}

// A visitor on path writes text in the chat; resolves once it is stored.
export async function visitorWrites(page, env, text) {
  await waitForWidget(page, env);
  await page.click('chatvisor-widget .launcher');
  await page.fill('chatvisor-widget textarea', text);
  await page.keyboard.press('Enter');
  await page.waitForFunction((t) => {
    const sr = document.querySelector('chatvisor-widget').shadowRoot;
    return Array.from(sr.querySelectorAll('.msg.customer:not(.pending) .bubble')).some((b) => b.textContent === t);
  }, text, { timeout: env.WAIT_MS });
  // the panel closed again: the page is seen as a visitor sees it
  await page.click('chatvisor-widget .launcher');
}

// The agent opens the conversation whose last message is text; its id.
export async function openConversation(agent, env, text) {
  const conv = await agent.waitForFunction((t) => {
    const li = Array.from(document.querySelectorAll('.conv'))
      .find((el) => (el.querySelector('.conv-preview') || {}).textContent === t);
    return li && li.getAttribute('data-id');
  }, text, { timeout: env.WAIT_MS });
  const id = await conv.jsonValue();
  await agent.click(`.conv[data-id="${id}"]`);
  await agent.waitForSelector('[data-action="cobrowse"]:not([hidden])', { timeout: env.WAIT_MS });
  return id;
}

// The agent presses Co-browse; resolves once the view waits for consent.
export async function askToCobrowse(agent, env) {
  await agent.click('[data-action="cobrowse"]');
  await agent.waitForSelector('section.cobrowse[data-state="requested"]', { timeout: env.WAIT_MS });
}

export async function waitForPrompt(visitor, env) {
  await visitor.waitForSelector('chatvisor-widget .cb-prompt:not([hidden])', { timeout: env.WAIT_MS });
}

// what: 'allow' | 'decline'
export async function answerPrompt(visitor, env, what) {
  await waitForPrompt(visitor, env);
  await visitor.click(`chatvisor-widget .cb-${what}`);
}

// When (the page's Date.now()) the view first showed `text` in `sel`:
// watched inside the console (the view is same-origin to it) every 10 ms,
// so a busy test runner's polling does not count; 0 if not within timeout.
export function viewShownAt(agent, sel, text, timeout) {
  return agent.evaluate(({ view, sel, text, timeout }) => new Promise((resolve) => {
    const until = Date.now() + timeout;
    const look = () => {
      let t = null;
      try {
        const f = document.querySelector(view);
        const el = f && f.contentDocument && f.contentDocument.querySelector(sel);
        t = el && el.textContent;
      } catch (e) { /* not yet */ }
      if (t && t.includes(text)) resolve(Date.now());
      else if (Date.now() > until) resolve(0);
      else setTimeout(look, 10);
    };
    look();
  }), { view: VIEW, sel, text, timeout }).catch(() => 0);
}

// The view shows the visitor's page: the replayed element sel has text.
export async function viewShows(agent, env, sel, text) {
  return until(async () => {
    const t = await viewDocument(agent, (s) => {
      const el = document.querySelector(s);
      return el ? el.textContent : null;
    }, sel);
    return t && t.includes(text) ? t : null;
  }, env.WAIT_MS);
}
