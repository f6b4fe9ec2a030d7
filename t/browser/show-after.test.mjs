// Browser test of chatvisor_show_after in real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a running nginx that
// injects the widget with data-show-after. Prints TAP. t/81-show-after-browser.t
// starts nginx and runs it.
//
//   node t/browser/show-after.test.mjs BASE_URL
//
// The server under BASE_URL must serve, with `chatvisor_inject on`,
// `chatvisor_show_after` of CHATVISOR_SHOW_AFTER_MS (default 2000) and the
// chat endpoints under /chatvisor/ (a store):
//   /index.html, /second.html   two pages of the same site
// every page with the Content-Security-Policy of CHATVISOR_CSP (the checks
// count violations: the widget must stay within style-src 'self').
//
// What is checked: the launcher is held back right after load and at about
// 75% of the wait, shown after it; the next page of the same tab shows it at
// once (sessionStorage); a fresh browser context waits again; a visitor who
// already has a conversation, and a visitor who opens the panel, get it at
// once; without usable sessionStorage the wait still works. Screenshots go
// to CHATVISOR_ARTIFACTS (default t/artifacts) as show-after-*.png.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, '');
const WAIT_MS = Number(process.env.CHATVISOR_SHOW_AFTER_MS || 2000);
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 60000);
const SHOWN_KEY = 'chatvisor:launcher-shown';

if (!BASE) skipAll('no base URL given');

// ---- page helpers ---------------------------------------------------------

// The launcher as the visitor sees it, with the page's clock
// (performance.now(): milliseconds since the navigation started).
async function launcherState(page) {
  return page.evaluate((key) => {
    const host = document.querySelector('chatvisor-widget');
    const sr = host && host.shadowRoot;
    const l = sr && sr.querySelector('.launcher');
    let stored = null;
    try { stored = sessionStorage.getItem(key); } catch (e) { stored = 'unavailable'; }
    if (!l) return { at: performance.now(), exists: false, shown: false, stored };
    const cs = getComputedStyle(l);
    const r = l.getBoundingClientRect();
    return {
      at: performance.now(),
      exists: true,
      hiddenAttr: l.hidden,
      shown: cs.display !== 'none' && cs.visibility !== 'hidden' && Number(cs.opacity) > 0
        && r.width > 0 && r.height > 0,
      stored,
      csp: (window.__cspViolations || []).length,
      panelOpen: !!(sr.querySelector('[role="dialog"]') && !sr.querySelector('[role="dialog"]').hidden),
    };
  }, SHOWN_KEY);
}

async function waitForWidget(page) {
  await page.waitForFunction(() => {
    const h = document.querySelector('chatvisor-widget');
    return h && h.shadowRoot && h.shadowRoot.querySelector('.launcher');
  }, null, { timeout: 10000 });
}

// until the page's clock reads `ms` since its navigation started
async function untilPageTime(page, ms) {
  const now = await page.evaluate(() => performance.now());
  if (ms > now) await page.waitForTimeout(ms - now);
}

// the launcher shows within `timeout` ms; returns the page time it did, or null
async function shownBy(page, timeout) {
  try {
    await page.waitForFunction(() => {
      const h = document.querySelector('chatvisor-widget');
      const l = h && h.shadowRoot && h.shadowRoot.querySelector('.launcher');
      return l && getComputedStyle(l).display !== 'none' && l.getBoundingClientRect().width > 0;
    }, null, { timeout, polling: 20 });
    return await page.evaluate(() => performance.now());
  } catch (e) {
    return null;
  }
}

async function shot(page, name) {
  const file = join(ARTIFACTS, `show-after-${name}.png`);
  await page.screenshot({ path: file });
  note(`screenshot ${file}`);
}

// Every page: no uncaught errors, CSP violations recorded.
async function openPage(context, path, page) {
  const p = page || await context.newPage();
  if (!page) {
    p.__errors = [];
    p.on('pageerror', (e) => p.__errors.push(String(e && e.message || e)));
    p.on('console', (m) => {
      const t = m.text();
      if (/^Failed to load resource/.test(t)) return;
      if (m.type() === 'error' || /Content Security Policy|chatvisor/i.test(t)) p.__errors.push(`console.${m.type()}: ${t}`);
    });
    p.on('response', (r) => {
      if (r.status() >= 400 && !/\/favicon\.ico$/.test(r.url())) p.__errors.push(`HTTP ${r.status()} ${r.url()}`);
    });
    await p.addInitScript(() => {
      window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
      });
    });
  }
  const response = await p.goto(BASE + path, { waitUntil: 'load' });
  return { page: p, response };
}

const newContext = (browser) => browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });

// ---- the checks -----------------------------------------------------------
async function run(browser) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const early = Math.round(WAIT_MS * 0.75);
  // the widget's timer may fire late on a busy machine, not early
  const late = WAIT_MS + 1500;

  // 1. the first page of a visit waits
  note(`1. first page: the launcher waits ${WAIT_MS} ms`);
  const ctx = await newContext(browser);
  const { page, response } = await openPage(ctx, '/index.html');
  is(response && response.status(), 200, 'index.html: 200');
  const tag = await page.evaluate(() => {
    const s = document.querySelector('script[data-chatvisor]');
    return s && s.getAttribute('data-show-after');
  });
  is(tag, `${WAIT_MS}ms`, `the injected tag carries data-show-after="${WAIT_MS}ms"`);
  await waitForWidget(page);
  let s = await launcherState(page);
  ok(s.exists && !s.shown && s.hiddenAttr, `right after load (${Math.round(s.at)} ms): the launcher is held back`, s);
  is(s.stored, null, '  nothing remembered in sessionStorage yet');
  await untilPageTime(page, early);
  s = await launcherState(page);
  ok(!s.shown, `at ${Math.round(s.at)} ms: still held back`, s);
  await shot(page, '1-held-back');
  const at = await shownBy(page, late - s.at + 2000);
  ok(at !== null && at >= WAIT_MS && at <= late, `it shows after the wait (at ${Math.round(at)} ms, within ${WAIT_MS}..${late})`, { at });
  await untilPageTime(page, late);
  s = await launcherState(page);
  ok(s.shown && !s.hiddenAttr, `at ${Math.round(s.at)} ms: the launcher is shown`, s);
  is(s.stored, '1', '  remembered for this tab (sessionStorage)');
  await shot(page, '2-shown');

  // 2. the next page of the same tab: at once
  note('2. next page of the same tab');
  await openPage(ctx, '/second.html', page);
  await waitForWidget(page);
  s = await launcherState(page);
  ok(s.shown && s.at < early, `second.html: the launcher is there at once (${Math.round(s.at)} ms)`, s);
  await shot(page, '3-next-page');
  is(s.csp, 0, 'no CSP violations (style-src without unsafe-inline)');
  ok(page.__errors.length === 0, 'no page errors in this tab', page.__errors.join('\n'));

  // a second tab of the same browser is a session of its own: it waits
  {
    const { page: tab2 } = await openPage(ctx, '/second.html');
    await waitForWidget(tab2);
    const t2 = await launcherState(tab2);
    ok(t2.exists && !t2.shown, `another tab (its own session storage) waits again (${Math.round(t2.at)} ms)`, t2);
    await tab2.close();
  }

  // 3. a fresh context (a new visitor): waits again
  // 4. the visitor opens the panel (from the page's code) during the wait.
  // The launcher would show by itself at WAIT_MS: shown before it proves
  // that open() lifted the hold. A machine too busy to open the panel
  // before WAIT_MS proves nothing either way: that visit is made again
  // (at most 3 times).
  note('3. a new browser context');
  for (let attempt = 1; ; attempt++) {
    const fresh = await newContext(browser);
    const { page: p } = await openPage(fresh, '/second.html');
    await waitForWidget(p);
    const f = await launcherState(p);
    const openedAt = await p.evaluate(() => new Promise((resolve) => {
      const w = window.__chatvisor && window.__chatvisor.widget;
      if (!w) { resolve(null); return; }
      const at = performance.now();
      w.open();
      requestAnimationFrame(() => resolve(at));
    }));
    const o = await launcherState(p);
    if (openedAt !== null && o.at >= WAIT_MS && attempt < 3) {
      note(`too busy: the panel opened at ${Math.round(openedAt)} ms, checked at ${Math.round(o.at)} ms; again`);
      await fresh.close();
      continue;
    }
    ok(f.exists && !f.shown && f.stored === null, `fresh context: the launcher is held back at first (${Math.round(f.at)} ms)`, f);
    note('4. the panel opens during the wait');
    ok(openedAt !== null, `window.__chatvisor.widget.open() during the wait (${Math.round(openedAt)} ms)`);
    ok(o.panelOpen && o.exists && !o.hiddenAttr && o.at < WAIT_MS, `the panel is open and the launcher no longer held back (${Math.round(o.at)} ms)`, o);
    is(o.stored, '1', '  remembered for this tab');
    ok(p.__errors.length === 0, 'no page errors', p.__errors.join('\n'));
    await shot(p, '4-panel-open');
    await p.close();
    await fresh.close();
    break;
  }

  // 5. a visitor who already has a conversation: at once, in a new context
  note('5. a visitor with a conversation');
  {
    const c1 = await newContext(browser);
    const { page: p } = await openPage(c1, '/index.html');
    await waitForWidget(p);
    const sent = await p.evaluate(async () => {
      const r = await fetch('/chatvisor/v1/visitor/messages', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ text: 'Hello from the show-after test', client_msg_id: 'show-after-1' }),
      });
      return r.status;
    });
    is(sent, 201, 'the visitor posts a message (a conversation opens)');
    const cookies = (await c1.cookies()).filter((c) => c.name === 'cv_visitor');
    is(cookies.length, 1, '  and has the cv_visitor cookie');
    await c1.close();

    // the same visitor, a new browser session: no sessionStorage, a cookie
    const c2 = await newContext(browser);
    await c2.addCookies(cookies);
    const { page: q } = await openPage(c2, '/index.html');
    await waitForWidget(q);
    const at2 = await shownBy(q, early);
    ok(at2 !== null && at2 < early, `visitor with a conversation, new session: the launcher is there at once (${at2 === null ? 'not shown' : Math.round(at2) + ' ms'})`);
    await shot(q, '5-conversation');
    ok(q.__errors.length === 0, 'no page errors', q.__errors.join('\n'));
    await c2.close();
  }

  // 6. sessionStorage that throws (blocked storage): the wait still works
  note('6. storage blocked');
  {
    const c3 = await newContext(browser);
    await c3.addInitScript(() => {
      Object.defineProperty(window, 'sessionStorage', {
        configurable: true,
        get() { throw new DOMException('storage is blocked', 'SecurityError'); },
      });
    });
    const { page: p } = await openPage(c3, '/index.html');
    await waitForWidget(p);
    const b = await launcherState(p);
    ok(b.exists && !b.shown && b.stored === 'unavailable', `storage blocked: held back at first (${Math.round(b.at)} ms)`, b);
    const at3 = await shownBy(p, late + 2000);
    ok(at3 !== null && at3 >= WAIT_MS && at3 <= late, `storage blocked: shown after the wait (${at3 === null ? 'not shown' : Math.round(at3) + ' ms'})`);
    await openPage(c3, '/second.html', p);
    await waitForWidget(p);
    const b2 = await launcherState(p);
    ok(!b2.shown, 'storage blocked: the next page waits again (nothing could be remembered)', b2);
    ok(p.__errors.length === 0, 'storage blocked: no page errors', p.__errors.join('\n'));
    await c3.close();
  }
  await ctx.close();
}

await runInChromium('browser test', DEADLINE_MS, run);
