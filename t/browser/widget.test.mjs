// Browser test of the chat widget in real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), against a running nginx that
// injects the widget. Prints TAP. t/50-browser.t starts nginx and runs it.
//
//   node t/browser/widget.test.mjs BASE_URL
//
// The server under BASE_URL must serve, with `chatvisor_inject on`:
//   /index.html       a plain demo page
//   /aggressive.html  a page whose CSS tries to hide or unstyle everything
//   /early.html       a page that also loads the widget itself, synchronously
//                     in <head> (before <body> exists): still one widget
//   /csp/index.html   a page sent with a strict Content-Security-Policy
// Expected settings come as JSON in CHATVISOR_EXPECT (color, position,
// language, title, greeting, placeholder, launcher, close); screenshots go
// to CHATVISOR_ARTIFACTS (default t/artifacts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note, skipAll } from './lib/tap.mjs';

const BASE = (process.argv[2] || process.env.CHATVISOR_BASE || '').replace(/\/$/, '');
const EXPECT = Object.assign({
  color: '#2563eb', position: 'right', language: 'en',
  title: 'Chat with us', greeting: 'Hi there! How can we help you today?',
  placeholder: 'Type your message…', launcher: 'Open chat', close: 'Close chat',
}, JSON.parse(process.env.CHATVISOR_EXPECT || '{}'));
const ARTIFACTS = process.env.CHATVISOR_ARTIFACTS || 't/artifacts';
const DEADLINE_MS = Number(process.env.CHATVISOR_DEADLINE_MS || 50000);

if (!BASE) skipAll('no base URL given');

// "#e11d48" -> "rgb(225, 29, 72)", as getComputedStyle reports it
function rgb(hex) {
  let h = hex.slice(1);
  if (h.length === 3) h = h.replace(/./g, '$&$&');
  const v = parseInt(h, 16);
  return `rgb(${(v >> 16) & 255}, ${(v >> 8) & 255}, ${v & 255})`;
}

// ---- page helpers ---------------------------------------------------------
// State of the widget as seen from inside its (open) shadow root.
async function widgetState(page) {
  return page.evaluate(() => {
    const hosts = document.querySelectorAll('chatvisor-widget');
    const host = hosts[0];
    const sr = host && host.shadowRoot;
    if (!sr) return { hosts: hosts.length };
    const q = (s) => sr.querySelector(s);
    const launcher = q('.launcher');
    const panel = q('[role="dialog"]');
    const box = (el) => {
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    const shown = (el) => {
      if (!el) return false;
      const cs = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return cs.display !== 'none' && cs.visibility !== 'hidden' && Number(cs.opacity) > 0
        && r.width > 0 && r.height > 0;
    };
    const bubbles = Array.from(sr.querySelectorAll('[role="log"] .bubble'), (b) => b.textContent);
    const active = sr.activeElement;
    return {
      hosts: hosts.length,
      mode: sr.mode,
      launcher: launcher && {
        label: launcher.getAttribute('aria-label'),
        expanded: launcher.getAttribute('aria-expanded'),
        controls: launcher.getAttribute('aria-controls'),
        bg: getComputedStyle(launcher).backgroundColor,
        fg: getComputedStyle(launcher).color,
        box: box(launcher),
        shown: shown(launcher),
      },
      panel: panel && {
        id: panel.id,
        label: panel.getAttribute('aria-label'),
        shown: shown(panel),
        box: box(panel),
        title: (q('.title') || {}).textContent,
        closeLabel: (q('.close') || { getAttribute: () => null }).getAttribute('aria-label'),
        placeholder: (q('textarea') || { getAttribute: () => null }).getAttribute('placeholder'),
        log: (() => {
          const l = q('[role="log"]');
          return l && { live: l.getAttribute('aria-live'), shown: shown(l) };
        })(),
        bubbles,
      },
      focus: active ? (active.className || active.tagName.toLowerCase()) : null,
      hostFocused: document.activeElement === host,
      viewport: { width: innerWidth, height: innerHeight },
      styleAttrs: sr.querySelectorAll('[style]').length,
      styleElems: sr.querySelectorAll('style').length + document.querySelectorAll('chatvisor-widget style').length,
      adopted: sr.adoptedStyleSheets.length,
    };
  });
}

// Let the widget's CSS animations (the panel's opening) run to their end.
async function settle(page) {
  await page.evaluate(async () => {
    const h = document.querySelector('chatvisor-widget');
    const sr = h && h.shadowRoot;
    if (sr && sr.getAnimations) await Promise.all(sr.getAnimations().map((a) => a.finished.catch(() => {})));
  });
}

async function waitForWidget(page) {
  await page.waitForFunction(() => {
    const h = document.querySelector('chatvisor-widget');
    return h && h.shadowRoot && h.shadowRoot.querySelector('.launcher');
  }, null, { timeout: 10000 });
}

// Chromium's `click` on the launcher, located through the shadow root.
const LAUNCHER = 'chatvisor-widget .launcher';
const CLOSE = 'chatvisor-widget .close';
const INPUT = 'chatvisor-widget textarea';

async function shot(page, name) {
  const file = join(ARTIFACTS, `browser-${name}.png`);
  await page.screenshot({ path: file });
  note(`screenshot ${file}`);
}

// Every page: no uncaught errors, and CSP violations recorded.
async function openPage(context, path) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e && e.message || e)));
  page.on('console', (m) => {
    const t = m.text();
    if (/^Failed to load resource/.test(t)) return; // reported below, with the URL
    if (m.type() === 'error' || /Content Security Policy|chatvisor/i.test(t)) errors.push(`console.${m.type()}: ${t}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !/\/favicon\.ico$/.test(r.url())) errors.push(`HTTP ${r.status()} ${r.url()}`);
  });
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} ${e.sourceFile || ''}:${e.lineNumber || ''}`);
    });
  });
  const response = await page.goto(BASE + path, { waitUntil: 'load' });
  return { page, errors, response };
}

const sides = (box, vw) => ({ left: box.x, right: vw - (box.x + box.width) });

function onConfiguredSide(box, vw) {
  const s = sides(box, vw);
  return EXPECT.position === 'left' ? s.left < 48 && s.right > vw / 2 : s.right < 48 && s.left > vw / 2;
}

// ---- the checks -----------------------------------------------------------
async function run(browser) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });

  // 1. launcher on a page served through nginx
  note('1. launcher');
  {
    const { page, errors, response } = await openPage(desktop, '/index.html');
    is(response && response.status(), 200, 'index.html: 200');
    const tag = await page.evaluate(() => {
      const s = document.querySelector('script[data-chatvisor]');
      return s && { src: s.getAttribute('src'), color: s.getAttribute('data-color'), position: s.getAttribute('data-position') };
    });
    ok(tag && /\/chatvisor\/widget\.js(\?|$)/.test(tag.src), 'nginx injected the widget <script> tag', tag);
    await waitForWidget(page);
    const st = await widgetState(page);
    is(st.hosts, 1, 'one widget host element');
    is(st.mode, 'open', 'shadow root is open');
    is(st.launcher.bg, rgb(EXPECT.color), `launcher background is the configured color ${EXPECT.color}`);
    is(st.launcher.fg, rgb(EXPECT.fg || '#ffffff'), 'launcher icon is white on the dark configured color');
    ok(st.launcher.shown && st.launcher.box.width >= 40 && st.launcher.box.height >= 40, 'launcher is visible', st.launcher);
    ok(onConfiguredSide(st.launcher.box, st.viewport.width), `launcher sits on the ${EXPECT.position} side`, st.launcher.box);
    ok(st.viewport.height - (st.launcher.box.y + st.launcher.box.height) < 48, 'launcher sits at the bottom', st.launcher.box);
    is(st.launcher.label, EXPECT.launcher, 'launcher aria-label is the launcher text');
    is(st.launcher.expanded, 'false', 'launcher aria-expanded=false while closed');
    is(st.launcher.controls, st.panel && st.panel.id, 'launcher aria-controls points at the panel');
    ok(st.panel && !st.panel.shown, 'panel is closed at first');
    is(st.styleAttrs + st.styleElems, 0, 'no style element or style attribute in the widget');
    ok(st.adopted >= 1, 'styles come from an adopted stylesheet');
    await shot(page, '1-launcher');

    // 2. mouse: open, check, type, Escape, reopen, close button
    note('2. panel');
    await page.click(LAUNCHER);
    await settle(page);
    let s2 = await widgetState(page);
    ok(s2.panel.shown, 'click on the launcher opens the panel', s2.panel);
    is(s2.launcher.expanded, 'true', 'aria-expanded=true while open');
    is(s2.panel.label, EXPECT.title, 'dialog aria-label is the title');
    is(s2.panel.title, EXPECT.title, 'header shows the configured title');
    is(s2.panel.bubbles[0], EXPECT.greeting, 'greeting is the first bubble');
    is(s2.panel.placeholder, EXPECT.placeholder, 'composer placeholder');
    is(s2.panel.closeLabel, EXPECT.close, 'close button has the localized label');
    ok(s2.panel.log && s2.panel.log.live === 'polite' && s2.panel.log.shown, 'message list is a visible polite live region', s2.panel.log);
    is(s2.focus, 'input', 'focus moves into the composer on open');
    ok(onConfiguredSide(s2.panel.box, s2.viewport.width), `panel opens on the ${EXPECT.position} side`, s2.panel.box);
    ok(s2.panel.box.y + s2.panel.box.height <= s2.launcher.box.y, 'panel sits above the launcher', s2.panel.box);
    await page.keyboard.type('Hola, ¿hay alguien? <b>no html</b>');
    await page.keyboard.press('Enter');
    await settle(page);
    s2 = await widgetState(page);
    is(s2.panel.bubbles[s2.panel.bubbles.length - 1], 'Hola, ¿hay alguien? <b>no html</b>', 'Enter in the composer appends the text as a bubble (as text)');
    await shot(page, '2-open');
    await page.keyboard.press('Escape');
    await settle(page);
    s2 = await widgetState(page);
    ok(!s2.panel.shown, 'Escape closes the panel');
    ok(s2.focus === 'launcher' && s2.hostFocused, 'focus returns to the launcher after Escape', { focus: s2.focus, host: s2.hostFocused });
    is(s2.launcher.expanded, 'false', 'aria-expanded=false after closing');
    await page.click(LAUNCHER);
    await settle(page);
    ok((await widgetState(page)).panel.shown, 'launcher opens the panel again');
    await page.click(CLOSE);
    await settle(page);
    s2 = await widgetState(page);
    ok(!s2.panel.shown, 'close button closes the panel');
    is(s2.focus, 'launcher', 'focus returns to the launcher after the close button');
    await page.click(LAUNCHER);
    await page.click(LAUNCHER);
    await settle(page);
    ok(!(await widgetState(page)).panel.shown, 'launcher toggles the panel closed');
    ok(errors.length === 0, 'no page errors on index.html', errors.join('\n'));
    await page.close();
  }

  // 2b. keyboard only: Tab to the launcher, Enter / Space open it
  note('2b. keyboard');
  {
    const { page, errors } = await openPage(desktop, '/index.html');
    await waitForWidget(page);
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await widgetState(page)).focus === 'launcher';
    }
    ok(reached, 'Tab reaches the launcher');
    await page.keyboard.press('Enter');
    await settle(page);
    let s = await widgetState(page);
    ok(s.panel.shown, 'Enter on the launcher opens the panel');
    is(s.focus, 'input', 'focus is in the composer');
    await settle(page);
    await shot(page, '2b-keyboard-open');
    await page.keyboard.press('Escape');
    await settle(page);
    s = await widgetState(page);
    ok(!s.panel.shown && s.focus === 'launcher', 'Escape closes and focuses the launcher', s);
    await page.keyboard.press('Space');
    await settle(page);
    s = await widgetState(page);
    ok(s.panel.shown, 'Space on the launcher opens the panel');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Shift+Tab');
    s = await widgetState(page);
    ok(s.panel.shown, 'moving focus inside the widget keeps the panel open');
    await page.keyboard.press('Escape');
    await settle(page);
    await shot(page, '2b-keyboard-focus');
    ok(errors.length === 0, 'no page errors (keyboard)', errors.join('\n'));
    await page.close();
  }

  // 2c. loaded twice, the second time before <body> exists
  note('2c. idempotent, early load');
  {
    const { page, errors } = await openPage(desktop, '/early.html');
    await waitForWidget(page);
    await page.waitForTimeout(300); // give the second copy time to run too
    const count = await page.evaluate(() => ({
      scripts: document.querySelectorAll('script[src*="widget.js"]').length,
      hosts: document.querySelectorAll('chatvisor-widget').length,
    }));
    ok(count.scripts >= 2, 'early.html loads the widget script twice', count);
    is(count.hosts, 1, 'loaded twice, one widget');
    const s = await widgetState(page);
    is(s.launcher.bg, rgb('#2563eb'), 'a malformed data-color falls back to the default color');
    ok(s.launcher.shown, 'and the launcher is still shown');
    ok(errors.length === 0, 'no page errors when loaded before <body>', errors.join('\n'));
    await page.close();
  }

  // 2d. per-location settings; a light color gets dark text
  if (EXPECT.light) {
    note('2d. per-location light color');
    const { page, errors } = await openPage(desktop, '/light/index.html');
    await waitForWidget(page);
    const s = await widgetState(page);
    is(s.launcher.bg, rgb(EXPECT.light.color), `location color ${EXPECT.light.color}`);
    is(s.launcher.fg, rgb('#111827'), 'dark icon on a light color');
    const side = EXPECT.light.position === 'left' ? sides(s.launcher.box, s.viewport.width).left
      : sides(s.launcher.box, s.viewport.width).right;
    ok(side < 48, `location position ${EXPECT.light.position}`, s.launcher.box);
    await page.click(LAUNCHER);
    await settle(page);
    await shot(page, '2d-light-color');
    ok(errors.length === 0, 'no page errors on /light/', errors.join('\n'));
    await page.close();
  }

  // 3. a page whose CSS tries to unstyle and hide everything
  note('3. aggressive page CSS');
  {
    const { page, errors } = await openPage(desktop, '/aggressive.html');
    await waitForWidget(page);
    let s = await widgetState(page);
    is(s.launcher.bg, rgb(EXPECT.color), 'aggressive CSS: launcher keeps its color');
    ok(s.launcher.shown && s.launcher.box.width >= 40, 'aggressive CSS: launcher visible', s.launcher);
    ok(onConfiguredSide(s.launcher.box, s.viewport.width), 'aggressive CSS: launcher on its side', s.launcher.box);
    await page.click(LAUNCHER);
    await settle(page);
    s = await widgetState(page);
    ok(s.panel.shown && s.panel.box.width >= 280 && s.panel.box.height >= 300, 'aggressive CSS: panel opens full size', s.panel);
    is(s.panel.title, EXPECT.title, 'aggressive CSS: title shown');
    await shot(page, '3-aggressive');
    await page.click(CLOSE);
    await settle(page);
    ok(!(await widgetState(page)).panel.shown, 'aggressive CSS: close button works');
    ok(errors.length === 0, 'no page errors on aggressive.html', errors.join('\n'));
    await page.close();
  }

  // 4. strict CSP: style-src 'self' without 'unsafe-inline'
  note('4. strict CSP');
  {
    const { page, errors, response } = await openPage(desktop, '/csp/index.html');
    const csp = response && response.headers()['content-security-policy'];
    ok(csp && /style-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), 'page is served with a strict CSP', csp);
    await waitForWidget(page);
    await page.click(LAUNCHER);
    await settle(page);
    await page.fill(INPUT, 'test under CSP');
    await page.keyboard.press('Enter');
    await settle(page);
    await page.waitForTimeout(300);
    const s = await widgetState(page);
    ok(s.launcher.shown && s.launcher.bg === rgb(EXPECT.color), 'CSP: launcher rendered with its color', s.launcher);
    ok(s.panel.shown && s.panel.box.width >= 280, 'CSP: panel rendered', s.panel);
    const v = await page.evaluate(() => window.__cspViolations.slice());
    ok(v.length === 0, 'CSP: no securitypolicyviolation events', v.join('\n'));
    const cspErrors = errors.filter((e) => /Content Security Policy/i.test(e));
    ok(cspErrors.length === 0, 'CSP: no CSP errors in the console', cspErrors.join('\n'));
    const nonce = await page.evaluate(() => {
      const t = document.querySelector('script[data-chatvisor]');
      return t ? t.nonce : null;
    });
    is(nonce, 'abc123', "CSP: the injected tag carries the page's script nonce");
    await shot(page, '4-csp');
    // the detector works: an inline style attribute is reported
    await page.evaluate(() => {
      const d = document.createElement('div');
      d.innerHTML = '<span style="color:red">x</span>';
      document.body.appendChild(d);
    });
    await page.waitForTimeout(100);
    ok((await page.evaluate(() => window.__cspViolations.length)) > 0, 'CSP: the violation detector sees an inline style (control)');
    await page.close();
  }
  await desktop.close();

  // 5. phone: the open panel covers the screen
  note('5. phone');
  {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    const { page, errors } = await openPage(phone, '/index.html');
    await waitForWidget(page);
    let s = await widgetState(page);
    ok(s.launcher.shown && onConfiguredSide(s.launcher.box, 390), 'phone: launcher in its corner', s.launcher);
    await shot(page, '5-phone-closed');
    await page.tap(LAUNCHER);
    await settle(page);
    s = await widgetState(page);
    const b = s.panel.box;
    ok(s.panel.shown && Math.abs(b.x) < 1 && Math.abs(b.y) < 1
      && Math.abs(b.width - s.viewport.width) < 1 && Math.abs(b.height - s.viewport.height) < 1,
      'phone: open panel covers the viewport', { box: b, viewport: s.viewport });
    ok(!s.launcher.shown, 'phone: launcher is hidden behind the full-screen panel');
    await shot(page, '5-phone-open');
    await page.tap(CLOSE);
    await settle(page);
    s = await widgetState(page);
    ok(!s.panel.shown && s.launcher.shown, 'phone: close button closes the panel and brings back the launcher');
    ok(errors.length === 0, 'no page errors on the phone', errors.join('\n'));
    await phone.close();
  }
}

await runInChromium('browser test', DEADLINE_MS, run);
