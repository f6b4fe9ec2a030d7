// Co-browsing end to end in real headless Chromium (playwright-core): a
// visitor on the test shop (t/browser/cobrowse-site/, the widget injected
// with data-cobrowse="1") and the agent in the console, in two browser
// contexts. Prints TAP; t/65-cobrowse-browser.t starts nginx and runs it.
//
//   node t/browser/cobrowse.test.mjs BASE_URL LOGIN_URL
//
// Covers: the consent prompt and Decline; Allow, and the visitor's page in
// the agent's view as it looks (the site's stylesheet), in a sandboxed
// frame where the page's scripts never run, under the console's CSP; the
// agent's pointer and clicks drawn for the visitor, throttled, never
// clicking the page; a navigation; the view reopened (a fresh full
// snapshot); Stop from either side, at once; an end with its reason (the
// conversation closed); the widget's texts in German; pages where
// co-browsing is off never load the recorder. Screenshots:
// t/artifacts/cobrowse-*.png.
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note } from './lib/tap.mjs';
import {
  settings, shooter, until, recordRequests, openPage, widgetSide, consoleSide, viewDocument, viewShows, viewShownAt,
  loginAgent, visitorWrites, openConversation, askToCobrowse, waitForPrompt, answerPrompt, waitForWidget, VIEW,
} from './lib/cobrowse.mjs';

const env = settings();
const { BASE, PREFIX, AGENT, WAIT_MS } = env;
const shot = shooter(env, 'cobrowse');

// requests of the visitor's browser, by what they are
const RECORDER_JS = /\/cobrowse\.js(\?|$)/;
const CHUNK = /\/v1\/visitor\/cobrowse\/events\?/;
const FULL = /\/v1\/visitor\/cobrowse\/events\?.*\bfull=1/;
const POINTER = /\/v1\/agent\/conversations\/[^/]+\/cobrowse\/pointer$/;
// the recorder's flush interval is 150 ms (www/cobrowse/sender.js): a
// recorder still running would send within this window
const QUIET_MS = 600;
// Stop and session ends answer 409/410 to what was in flight
const ALLOW = /^(409|410) .*\/cobrowse/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function directive(csp, name) {
  const d = String(csp || '').split(';').map((s) => s.trim()).find((s) => s.startsWith(name + ' '));
  return d ? d.slice(name.length + 1).trim() : null;
}

// The view has ended: state ended, with this reason.
async function viewEnded(agent, reason) {
  return agent.waitForSelector(`section.cobrowse[data-state="ended"][data-reason="${reason}"]`, { timeout: WAIT_MS })
    .then(() => true, () => false);
}

async function bannerGone(visitor) {
  return until(async () => !(await widgetSide(visitor)).banner, WAIT_MS);
}

// Agent: Co-browse; visitor: Allow; until the view shows the page's #title.
async function startSession(agent, visitor, title) {
  await askToCobrowse(agent, env);
  await answerPrompt(visitor, env, 'allow');
  return viewShows(agent, env, '#title', title);
}

async function run(browser) {
  // 1. the agent, and the console's CSP
  note('1. agent login; the console CSP');
  const A = await loginAgent(browser, env, { allowStatus: ALLOW });
  const agent = A.page;
  const agentNet = recordRequests(A.context);
  const consoleCsp = (await A.context.request.get(`${BASE}${PREFIX}agent/`)).headers()['content-security-policy'];
  const joinCsp = (await A.context.request.get(`${BASE}${PREFIX}join`)).headers()['content-security-policy'];
  is(directive(consoleCsp, 'style-src'), "'self' 'unsafe-inline'", "console CSP: style-src 'self' 'unsafe-inline' (the replayed page's styles)");
  is(directive(consoleCsp, 'script-src'), "'self'", "console CSP: script-src 'self' only");
  is(directive(joinCsp, 'style-src'), "'self'", "join page CSP: style-src 'self' only");

  // 2. a visitor writes; the agent opens the conversation
  note('2. a visitor writes');
  const vctx = await browser.newContext({ viewport: { width: 1200, height: 760 }, deviceScaleFactor: 1 });
  const net = recordRequests(vctx);
  const V = await openPage(vctx, '/index.html', env, { allowStatus: ALLOW });
  const visitor = V.page;
  const first = `Which machine should I buy? ${Date.now() % 100000}`;
  await visitorWrites(visitor, env, first);
  const convId = await openConversation(agent, env, first);
  ok(convId, 'agent: the conversation is open, with a Co-browse button', convId);
  ok(net.matching(RECORDER_JS).length === 0 && !(await widgetSide(visitor)).recorderLoaded,
    'visitor: no recorder loaded before anyone asked');

  // 3. the consent prompt; Decline
  note('3. consent prompt and decline');
  await askToCobrowse(agent, env);
  let cs = await consoleSide(agent);
  ok(cs.view && /waiting for the visitor/i.test(cs.status), 'agent: the view waits for the visitor\'s consent', cs);
  await waitForPrompt(visitor, env);
  let w = await widgetSide(visitor);
  is(w.prompt && w.prompt.title, `${AGENT} wants to see this page`, 'visitor: the prompt says who wants to see the page');
  ok(w.prompt && w.prompt.buttons.includes('Allow') && w.prompt.buttons.includes('Decline'), 'visitor: with Allow and Decline', w.prompt);
  is(w.prompt && w.prompt.role, 'alertdialog', 'visitor: the prompt is an alertdialog');
  await shot(visitor, '1-visitor-prompt');
  await shot(agent, '1-agent-waiting');
  await visitor.click('chatvisor-widget .cb-decline');
  ok(await agent.waitForSelector('section.cobrowse[data-state="declined"]', { timeout: WAIT_MS }).then(() => true, () => false),
    'agent: the view says the visitor declined');
  cs = await consoleSide(agent);
  ok(/declined/i.test(cs.status) && !cs.frame && !cs.stop, 'agent: declined, no view of the page, no Stop', cs);
  ok(cs.button, 'agent: Co-browse can be pressed again', cs);
  w = await widgetSide(visitor);
  ok(!w.prompt && !w.banner, 'visitor: the prompt is gone, no banner', w);
  ok(net.matching(RECORDER_JS).length === 0 && net.matching(CHUNK).length === 0,
    'visitor: after Decline nothing was loaded or recorded', net.matching(/cobrowse/).map((q) => q.url));
  await shot(agent, '2-agent-declined');

  // 4. Allow: the visitor's page in the view, as it looks
  note('4. allow');
  await askToCobrowse(agent, env);
  await waitForPrompt(visitor, env);
  const firstChunk = visitor.waitForRequest((r) => r.method() === 'POST' && CHUNK.test(r.url()), { timeout: WAIT_MS });
  // the issue: within a second of Allow the agent sees the page (timed in
  // the console, from before the click)
  const viewAt = viewShownAt(agent, '#title', 'Espresso machine', WAIT_MS);
  const allowedAt = Date.now();
  await visitor.click('chatvisor-widget .cb-allow');
  const chunk = await firstChunk.catch(() => null);
  const ms = Date.now() - allowedAt;
  ok(chunk && ms < 1000, `visitor: recording starts within a second of Allow (${ms} ms)`);
  const shownAt = await viewAt;
  ok(shownAt && shownAt - allowedAt < 1000,
    `agent: the view shows the page within a second of Allow (${shownAt ? shownAt - allowedAt : 'never'} ms)`);
  ok(chunk && FULL.test(chunk.url()) && /[?&]recorder=[0-9a-f]{16}(&|$)/.test(chunk.url()),
    'visitor: the first chunk is a full snapshot, with the recorder\'s id', chunk && chunk.url());
  const loads = net.matching(RECORDER_JS);
  ok(loads.length === 1 && new RegExp(`${PREFIX}cobrowse\\.js\\?v=[0-9a-f]{16}$`).test(loads[0].url),
    'visitor: the recorder was loaded once, as PREFIX cobrowse.js?v=HASH', loads.map((q) => q.url));
  w = await until(async () => {
    const s = await widgetSide(visitor);
    return s.banner ? s : null;
  }, WAIT_MS);
  ok(w && w.banner.text.includes(`${AGENT} is viewing this page`) && w.banner.stop === 'Stop',
    'visitor: a banner says the agent is viewing the page, with Stop', w);
  ok(await viewShows(agent, env, '#title', 'Espresso machine'), 'agent: the view shows the visitor\'s page (its title)');
  ok(await viewShows(agent, env, '#blurb', 'Brass portafilter'), 'agent: and its text');
  cs = await consoleSide(agent);
  ok(cs.frame && cs.frame.title === 'Co-browse view', 'agent: in an iframe titled "Co-browse view"', cs.frame);
  is(cs.frame && cs.frame.sandbox, 'allow-same-origin', 'agent: the iframe is sandboxed without allow-scripts');
  ok(cs.live && cs.status === 'Live' && cs.stop, 'agent: live, with Stop co-browsing', cs);
  ok(cs.page.endsWith('/index.html'), 'agent: the bar shows the visitor\'s address', cs.page);
  const look = await until(() => viewDocument(agent, () => ({
    h1: getComputedStyle(document.querySelector('h1')).color,
    header: getComputedStyle(document.querySelector('header')).backgroundColor,
    body: getComputedStyle(document.body).backgroundColor,
  })), WAIT_MS);
  ok(look && look.h1 === 'rgb(200, 30, 90)' && look.header === 'rgb(20, 83, 45)' && look.body === 'rgb(255, 250, 240)',
    'agent: the view looks like the page (the site\'s stylesheet applies)', look);
  await shot(visitor, '3-visitor-allowed');
  await shot(agent, '3-agent-view');

  // live: a change on the visitor's page reaches the view within a second
  const changedAt = Date.now();
  await visitor.evaluate(() => { document.querySelector('#blurb').textContent = 'Changed live'; });
  const liveOk = await viewShows(agent, env, '#blurb', 'Changed live');
  const liveMs = Date.now() - changedAt;
  ok(liveOk && liveMs < 1000, `agent: a change on the visitor's page is in the view within a second (${liveMs} ms)`);
  await visitor.evaluate(() => { document.querySelector('#blurb').textContent = 'Brass portafilter, 58 mm, dual boiler.'; });

  // 5. the visitor's scripts never run in the agent's view
  note('5. scripts stay on the visitor\'s side');
  const vScripts = await visitor.evaluate(() => ({ runs: window.__scriptRuns, ran: window.__cobrowseRan || null }));
  ok(vScripts.runs === 1 && !vScripts.ran, 'visitor: the page\'s inline script ran on its own page', vScripts);
  const inView = await until(() => viewDocument(agent, () => {
    const danger = document.querySelector('#danger');
    const img = document.querySelector('#broken');
    // what the agent's browser would do if it could: click, fail an image
    if (danger) danger.click();
    if (img) img.dispatchEvent(new Event('error'));
    return {
      scripts: document.querySelectorAll('script').length,
      handlers: Array.from(document.querySelectorAll('*')).filter((el) => Array.from(el.attributes).some((a) => /^on/i.test(a.name))).length,
      danger: !!danger,
    };
  }), WAIT_MS);
  ok(inView && inView.danger && inView.scripts === 0 && inView.handlers === 0,
    'agent: the view holds no <script> and no on* handler', inView);
  cs = await consoleSide(agent);
  is(cs.ran, null, 'agent: the inline <script>, the onclick and the onerror of the page never ran in the view');
  ok(cs.csp.length === 0 && A.rec.dialogs.length === 0, 'agent: no CSP violation, no dialog', { csp: cs.csp, dialogs: A.rec.dialogs });

  // the view has the visitor's viewport, mouse and clicks
  const vsize = await visitor.evaluate(() => ({ w: window.innerWidth, h: window.innerHeight }));
  const fsize = await until(() => viewDocument(agent, () => ({ w: window.innerWidth, h: window.innerHeight })), WAIT_MS);
  ok(fsize && fsize.w === vsize.w && fsize.h === vsize.h,
    `agent: the view has the visitor's viewport (${vsize.w}x${vsize.h})`, fsize);
  const spot = await visitor.evaluate(() => {
    const r = document.querySelector('#blurb').getBoundingClientRect();
    return { x: Math.round(r.left + 20), y: Math.round(r.top + r.height / 2) };
  });
  // (rrweb samples moves at most every 50 ms and drops the last one of a
  // burst: the move that ends on the spot comes after a pause)
  await visitor.mouse.move(spot.x - 30, spot.y - 10);
  await sleep(150);
  await visitor.mouse.move(spot.x, spot.y);
  const mouseAt = () => agent.evaluate(() => {
    const m = document.querySelector('.replayer-mouse');
    return m ? { left: m.style.left, top: m.style.top, active: m.classList.contains('active') } : null;
  });
  ok(await until(async () => {
    const m = await mouseAt();
    return m && m.left === `${spot.x}px` && m.top === `${spot.y}px`;
  }, WAIT_MS), `agent: the visitor's mouse is shown where it is (${spot.x}, ${spot.y})`, await mouseAt());
  await agent.evaluate(() => { const m = document.querySelector('.replayer-mouse'); if (m) m.classList.remove('active'); });
  await visitor.mouse.click(spot.x, spot.y);
  ok(await until(async () => (await mouseAt() || {}).active, WAIT_MS), 'agent: and the visitor\'s click', await mouseAt());

  // 6. the agent's pointer and clicks, over a scrolled page
  note('6. pointer and click');
  await visitor.evaluate(() => document.querySelector('#buy').scrollIntoView({ block: 'center' }));
  const vScroll = await visitor.evaluate(() => window.scrollY);
  ok(await until(async () => Math.abs((await viewDocument(agent, () => window.scrollY)) - vScroll) < 2, WAIT_MS),
    `agent: the view scrolls with the visitor (${vScroll} px)`);
  await visitor.evaluate(() => {
    const layer = document.querySelector('chatvisor-widget').shadowRoot.querySelector('.cb-layer');
    window.__rings = 0;
    new MutationObserver((ms) => ms.forEach((m) => m.addedNodes.forEach((n) => {
      if (n.classList && n.classList.contains('cb-click')) window.__rings += 1;
    }))).observe(layer, { childList: true });
  });
  const buy = await agent.frameLocator(VIEW).locator('#buy').boundingBox();
  const target = await visitor.evaluate(() => {
    const r = document.querySelector('#buy').getBoundingClientRect();
    return { x: r.left + r.width / 2 + window.scrollX, y: r.top + r.height / 2 + window.scrollY };
  });
  ok(buy, 'agent: the replayed "Buy now" button is in the view', buy);
  const cx = buy ? buy.x + buy.width / 2 : 0;
  const cy = buy ? buy.y + buy.height / 2 : 0;
  await agent.mouse.move(cx - 40, cy - 20);
  await agent.mouse.move(cx, cy, { steps: 4 });
  w = await until(async () => {
    const s = await widgetSide(visitor);
    return s.pointer && Math.hypot(s.pointer.x - target.x, s.pointer.y - target.y) < 12 ? s : null;
  }, WAIT_MS);
  ok(w, 'visitor: the agent\'s pointer is drawn where the agent points (in document coordinates)', { w: await widgetSide(visitor), target });
  is(w && w.pointer.name, AGENT, 'visitor: labelled with the agent\'s name');
  // a burst of moves goes out throttled (about 20 a second)
  const burstFrom = agentNet.mark();
  const burstAt = Date.now();
  for (let i = 0; i < 40; i++) await agent.mouse.move(cx - 60 + 3 * i, cy);
  await sleep(200);
  const burstMs = Date.now() - burstAt;
  const sent = agentNet.matching(POINTER, burstFrom).length;
  ok(sent >= 1 && sent <= Math.ceil(burstMs / 50) + 1, `agent: 40 moves in ${burstMs} ms went out as ${sent} pointer requests`);
  await agent.mouse.click(cx, cy);
  ok(await visitor.waitForFunction(() => window.__rings >= 1, null, { timeout: WAIT_MS }).then(() => true, () => false),
    'visitor: the agent\'s click shows a highlight');
  await shot(visitor, '4-visitor-pointer-click');
  w = await until(async () => {
    const s = await widgetSide(visitor);
    return s.pointer && Math.hypot(s.pointer.x - target.x, s.pointer.y - target.y) < 12 ? s : null;
  }, WAIT_MS);
  ok(w, 'visitor: the pointer is where the agent clicked', { w: await widgetSide(visitor), target });
  await shot(agent, '4-agent-pointer');
  const clicks = await visitor.evaluate(() => ({ buys: window.__buys || 0, clicks: window.__clicks || 0 }));
  ok(clicks.buys === 0 && clicks.clicks === 0, 'visitor: the agent\'s click did not click the page', clicks);

  // 7. navigation: the session follows, with the new page
  note('7. navigation');
  const fullBefore = net.matching(FULL).length;
  const navFrom = net.mark();
  await visitor.click('#to-other');
  await visitor.waitForURL((u) => u.pathname === '/other.html', { timeout: WAIT_MS });
  await waitForWidget(visitor, env);
  ok(await viewShows(agent, env, '#title', 'Burr grinder'), 'agent: the view shows the new page');
  cs = await consoleSide(agent);
  ok(cs.page.endsWith('/other.html') && cs.live, 'agent: and its address', cs);
  w = await widgetSide(visitor);
  ok(w.banner && !w.prompt, 'visitor: the banner is back on the new page, without asking again', w);
  // the new page's recorder (an id not seen before the click: the old
  // page's may still send what it recorded, the click too, while leaving)
  const recorderOf = (q) => (q.url.match(/[?&]recorder=([0-9a-f]+)/) || [])[1];
  const oldRecorders = new Set(net.matching(CHUNK).filter((q) => !net.matching(CHUNK, navFrom).includes(q)).map(recorderOf));
  const navChunks = net.matching(CHUNK, navFrom).filter((q) => !oldRecorders.has(recorderOf(q)));
  ok(navChunks.length && FULL.test(navChunks[0].url) && net.matching(FULL).length > fullBefore,
    'visitor: the new page starts with a full snapshot', navChunks.map((q) => q.url));
  await shot(visitor, '5-visitor-navigated');
  await shot(agent, '5-agent-navigated');

  // a part of the site where co-browsing is off: no recorder there
  const offFrom = net.mark();
  await visitor.goto(`${BASE}/off/index.html`, { waitUntil: 'load' });
  await waitForWidget(visitor, env);
  await visitor.mouse.move(200, 200);
  await visitor.evaluate(() => { document.querySelector('h1').textContent = 'Changed where co-browsing is off'; });
  await sleep(QUIET_MS);
  // (the page before it may still send what it had as it goes)
  const fromOff = net.since(offFrom).filter((q) => q.from.includes('/off/'));
  ok(fromOff.length > 0 && !fromOff.some((q) => RECORDER_JS.test(q.url) || CHUNK.test(q.url)),
    'visitor: a page under chatvisor_cobrowse off loads no recorder and sends nothing', fromOff.map((q) => q.url));
  w = await widgetSide(visitor);
  ok(!w.banner && !w.prompt && !w.recorderLoaded, 'visitor: and shows no co-browsing', w);
  await visitor.goto(`${BASE}/index.html`, { waitUntil: 'load' });
  ok(await viewShows(agent, env, '#title', 'Espresso machine'), 'agent: back on a page where it is on, the view follows again');

  // 8. the view reopened: a fresh full snapshot
  note('8. reopen the view');
  await agent.click('section.cobrowse .cobrowse-bar .icon-btn');
  cs = await consoleSide(agent);
  ok(!cs.view && cs.button, 'agent: the view closes; Co-browse can open it again', cs);
  await visitor.evaluate(() => { document.querySelector('#blurb').textContent = 'Changed while the view was closed'; });
  const reopenFrom = net.mark();
  await agent.click('[data-action="cobrowse"]');
  ok(await viewShows(agent, env, '#blurb', 'Changed while the view was closed'), 'agent: the reopened view shows the page as it is now');
  ok(await until(() => net.matching(FULL, reopenFrom).length >= 1, WAIT_MS), 'visitor: a fresh full snapshot was sent for it',
    net.matching(CHUNK, reopenFrom).map((q) => q.url));
  ok(!(await widgetSide(visitor)).prompt, 'visitor: not asked again');
  // and after a reload of the console
  await agent.reload({ waitUntil: 'load' });
  await agent.waitForSelector('[data-action="cobrowse"]:not([hidden])', { timeout: WAIT_MS });
  const reloadFrom = net.mark();
  await agent.click('[data-action="cobrowse"]');
  ok(await viewShows(agent, env, '#title', 'Espresso machine'), 'agent: after reloading the console, Co-browse shows the page again');
  ok(await until(() => net.matching(FULL, reloadFrom).length >= 1, WAIT_MS), 'visitor: with a fresh full snapshot');
  await shot(agent, '6-agent-reopened');

  // 9. Stop from the visitor
  note('9. the visitor stops');
  await visitor.click('chatvisor-widget .cb-stop');
  w = await widgetSide(visitor);
  ok(!w.banner && !w.pointer, 'visitor: Stop hides the banner and the pointer at once', w);
  let stopFrom = net.mark();
  await visitor.mouse.move(300, 300);
  await visitor.evaluate(() => { document.querySelector('#blurb').textContent = 'Changed after Stop'; });
  ok(await viewEnded(agent, 'visitor'), 'agent: the view ends: the visitor stopped');
  cs = await consoleSide(agent);
  ok(/visitor stopped/i.test(cs.status) && !cs.frame && !cs.stop, 'agent: says so; no view of the page any more', cs);
  await sleep(QUIET_MS);
  ok(net.matching(CHUNK, stopFrom).length === 0, 'visitor: nothing recorded is sent after Stop', net.since(stopFrom).map((q) => q.url));
  await shot(agent, '7-agent-visitor-stopped');
  await shot(visitor, '7-visitor-stopped');

  // 10. Stop from the agent (a new session: asked again)
  note('10. the agent stops');
  ok(await startSession(agent, visitor, 'Espresso machine'), 'a new session: asked again, allowed, the view shows the page');
  await agent.click('[data-action="cobrowse-stop"]');
  cs = await consoleSide(agent);
  ok(cs.state === 'ended' && !cs.frame && /stopped/i.test(cs.status), 'agent: Stop co-browsing ends the view at once', cs);
  ok(await bannerGone(visitor), 'visitor: the banner goes');
  stopFrom = net.mark();
  await visitor.mouse.move(320, 240);
  await visitor.evaluate(() => { document.querySelector('#blurb').textContent = 'Changed after the agent stopped'; });
  await sleep(QUIET_MS);
  ok(net.matching(CHUNK, stopFrom).length === 0, 'visitor: nothing more is sent', net.since(stopFrom).map((q) => q.url));
  await shot(visitor, '8-visitor-agent-stopped');

  // 11. an end with its reason: the conversation is closed
  note('11. the conversation is closed');
  ok(await startSession(agent, visitor, 'Espresso machine'), 'another session runs');
  await agent.click('[data-action="close"]');
  ok(await viewEnded(agent, 'closed'), 'agent: the view ends: the conversation was closed');
  cs = await consoleSide(agent);
  ok(/conversation was closed/i.test(cs.status) && !cs.button, 'agent: says so; no Co-browse on a closed conversation', cs);
  ok(await bannerGone(visitor), 'visitor: the banner goes');
  await shot(agent, '9-agent-closed');

  // 12. in the widget's language
  note('12. a German visitor');
  const dctx = await browser.newContext({ viewport: { width: 1100, height: 700 }, deviceScaleFactor: 1, locale: 'de-DE' });
  const D = await openPage(dctx, '/de/index.html', env, { allowStatus: ALLOW });
  const de = D.page;
  const hallo = `Hallo, ich brauche Hilfe ${Date.now() % 100000}`;
  await visitorWrites(de, env, hallo);
  await openConversation(agent, env, hallo);
  await askToCobrowse(agent, env);
  await waitForPrompt(de, env);
  w = await widgetSide(de);
  is(w.prompt && w.prompt.title, `${AGENT} möchte diese Seite sehen`, 'visitor (de): the prompt in German');
  ok(w.prompt && w.prompt.buttons.join('|') === 'Ablehnen|Erlauben', 'visitor (de): Ablehnen and Erlauben', w.prompt);
  await shot(de, '11-visitor-de-prompt');
  await de.click('chatvisor-widget .cb-allow');
  w = await until(async () => {
    const s = await widgetSide(de);
    return s.banner ? s : null;
  }, WAIT_MS);
  ok(w && w.banner.text.includes(`${AGENT} sieht sich diese Seite an`) && w.banner.stop === 'Beenden',
    'visitor (de): the banner in German, with Beenden', w && w.banner);
  ok(await viewShows(agent, env, '#title', 'Espresso machine'), 'agent: the German visitor\'s page in the view');
  await de.click('chatvisor-widget .cb-stop');
  ok(await viewEnded(agent, 'visitor'), 'agent: Beenden ends it');

  // 13. a visitor on a page where co-browsing is off is never asked
  note('13. co-browsing off');
  const octx = await browser.newContext({ viewport: { width: 1100, height: 700 }, deviceScaleFactor: 1 });
  const offNet = recordRequests(octx);
  const O = await openPage(octx, '/off/index.html', env);
  const off = O.page;
  const hello = `Hello from a page without co-browsing ${Date.now() % 100000}`;
  await visitorWrites(off, env, hello);
  await openConversation(agent, env, hello);
  // the chat poll answers once the session is asked for: that is when a
  // prompt would come
  const told = off.waitForResponse(async (r) => /\/v1\/visitor\/events\?/.test(r.url())
    && /cobrowse/.test(await r.text().catch(() => '')), { timeout: WAIT_MS }).then(() => true, () => false);
  await askToCobrowse(agent, env);
  note(`the chat poll of the off page ${await told ? 'carried' : 'did not carry'} the request`);
  await sleep(QUIET_MS);
  w = await widgetSide(off);
  ok(!w.prompt && !w.banner && !w.recorderLoaded, 'visitor (off): no prompt, no banner, no recorder', w);
  is(offNet.matching(RECORDER_JS).length, 0, 'visitor (off): no request for cobrowse.js');
  is(offNet.matching(/\/v1\/visitor\/cobrowse/).length, 0, 'visitor (off): no co-browsing request at all');
  await shot(off, '10-off-page');

  for (const [who, rec] of [['visitor', V.rec], ['German visitor', D.rec], ['off visitor', O.rec], ['agent', A.rec]]) {
    ok(rec.errors.length === 0, `${who}: no errors`, rec.errors);
  }
}

await runInChromium('co-browsing browser test', env.DEADLINE_MS, run);
