// bench/cobrowse's load (run by bench/cobrowse; results as one JSON line on
// stdout, progress on stderr).
//
//   node cobrowse-load.mjs browser BASE AGENT_COOKIE CSRF SECONDS TRACE
//       One visitor in headless Chromium on BASE/index.html (the busy page
//       of bench/lib/cobrowse-site, 1000 DOM nodes changed a second) writes
//       in the chat, the agent asks to co-browse, the visitor clicks Allow:
//       the real widget and recorder (cobrowse.js, @rrweb/record). The
//       agent's side is this process polling
//       GET v1/agent/conversations/ID/cobrowse/events?after=CURSOR. Measured
//       for SECONDS: the lag from each change of the page (#stamp carries
//       its time, performance.timeOrigin + now()) to the agent's poll
//       answer that carries it, the bytes the visitor's browser POSTed, its
//       chunks and events. TRACE gets the chunks (offset, full, body) for
//       the replay.
//   node cobrowse-load.mjs replay BASE AGENT_COOKIE CSRF TRACE SESSIONS SECONDS
//       SESSIONS visitors at once (a conversation each, started by the
//       agent, allowed), each sending TRACE's chunks at their recorded pace
//       (its full snapshot first, then its incremental chunks over and
//       over), each with the agent's poll and the visitor's own chat poll
//       held as the widget holds it. Each chunk carries a marker (an rrweb
//       custom event) so the agent's side finds when its poll got it; the
//       lag of a change is that time minus the chunk's POST plus how long
//       the change had waited in the recorder when the trace was taken.
//       Prints "ready" on stderr once every session streams, measures
//       SECONDS, then the agent stops every session.
//   node cobrowse-load.mjs serial BASE AGENT_COOKIE CSRF TRACE WARMUP COUNT
//       One session, TRACE's chunks one at a time, each followed by the
//       agent's poll answer that carries it (bench/cobrowse-instructions).
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import readline from 'node:readline';

const PREFIX = '/chatvisor/';
const STAMP = /stamp:(\d+(?:\.\d+)?)/g;
const MARK = /"payload":"M(\d+)"/g;
const WAIT_MS = 15000;

const agentPool = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stderr.write(`# ${s}\n`);

function request(method, url, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data) {
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = data.length;
    }
    const r = http.request({
      method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers: h, agent: agentPool,
    }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(parts).toString(), t: now() }));
      res.on('error', reject);
    });
    r.on('error', reject);
    if (data) r.write(data);
    r.end();
  });
}

function must(r, what, ...ok) {
  if (!(ok.length ? ok : [200, 201, 204]).includes(r.status)) {
    throw new Error(`${what}: ${r.status} ${r.text.slice(0, 300)}`);
  }
  return r;
}

function quantile(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(lags) {
  const s = lags.slice().sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.length ? s[s.length - 1] : 0 };
}

class Agent {
  constructor(base, cookie, csrf) {
    this.base = base + PREFIX + 'v1/agent/';
    this.h = { Cookie: `cv_agent=${cookie}`, 'X-Chatvisor-CSRF': csrf };
  }
  post(path, body) { return request('POST', this.base + path, this.h, body || {}); }
  get(path) { return request('GET', this.base + path, this.h); }
}

// The agent's view of one session: polls until stopped; onAnswer(r, json-less
// text) for every answer after the first (the first is the reset from the
// last full snapshot).
function viewLoop(agent, conv, onAnswer) {
  const v = { stopped: false, cursor: 0, answers: 0, bytes: 0, state: '', done: null };
  v.done = (async () => {
    while (!v.stopped) {
      const r = await agent.get(`conversations/${conv}/cobrowse/events?after=${v.cursor}`);
      if (v.stopped) break;
      must(r, 'agent poll', 200);
      const m = /"cursor":(\d+)/.exec(r.text);
      const st = /"state":"(\w+)"/.exec(r.text);
      v.state = st ? st[1] : '';
      if (v.state === 'ended' || v.state === 'declined') throw new Error(`session ${conv} ended: ${r.text.slice(0, 200)}`);
      if (m) {
        if (v.cursor !== 0) onAnswer(r);
        v.cursor = Number(m[1]);
      }
      v.answers++;
      v.bytes += r.text.length;
    }
  })();
  return v;
}

// ----------------------------------------------------------------- browser

async function browserPhase(base, cookie, csrf, seconds, traceFile) {
  const { chromium } = await import('playwright-core');
  const agent = new Agent(base, cookie, csrf);
  const browser = await chromium.launch({
    executablePath: process.env.CHATVISOR_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const chunks = [];
    let measuring = false;
    let t0 = 0;
    let lastFull = null;
    page.on('request', (q) => {
      if (q.method() !== 'POST' || !/\/v1\/visitor\/cobrowse\/events\?/.test(q.url())) return;
      const body = q.postData() || '';
      const c = { t: now(), full: /[?&]full=1/.test(q.url()), body, bytes: Buffer.byteLength(body) };
      if (c.full) lastFull = c;
      if (measuring) chunks.push(c);
    });
    await page.goto(base + '/index.html', { waitUntil: 'load' });
    await page.waitForSelector('chatvisor-widget .launcher', { timeout: WAIT_MS });
    const text = `bench cobrowse ${Date.now()}`;
    await page.click('chatvisor-widget .launcher');
    await page.fill('chatvisor-widget textarea', text);
    await page.keyboard.press('Enter');
    await page.waitForFunction((t) => {
      const sr = document.querySelector('chatvisor-widget').shadowRoot;
      return Array.from(sr.querySelectorAll('.msg.customer:not(.pending) .bubble')).some((b) => b.textContent === t);
    }, text, { timeout: WAIT_MS });
    await page.click('chatvisor-widget .launcher');
    const vc = (await context.cookies()).find((c) => c.name === 'cv_visitor');
    const ev = await request('GET', `${base}${PREFIX}v1/visitor/events?after=0&wait=0`, { Cookie: `cv_visitor=${vc.value}` });
    const conv = /"conversation_id":"([^"]+)"/.exec(ev.text)[1];
    must(await agent.post(`conversations/${conv}/cobrowse`), 'start');
    await page.waitForSelector('chatvisor-widget .cb-prompt:not([hidden])', { timeout: WAIT_MS });
    await page.click('chatvisor-widget .cb-allow');

    const lags = [];
    const view = viewLoop(agent, conv, (r) => {
      if (!measuring) return;
      for (const m of r.text.matchAll(STAMP)) lags.push(r.t - Number(m[1]));
    });
    // warm up: the first full snapshot relayed, a second of changes
    const deadline = Date.now() + WAIT_MS;
    while (view.cursor === 0 && Date.now() < deadline) await sleep(50);
    if (view.cursor === 0) throw new Error('the agent never saw the page');
    await sleep(1000);
    const changes0 = await page.evaluate(() => window.__benchChanges);
    measuring = true;
    t0 = now();
    await sleep(seconds * 1000);
    measuring = false;
    const el = (now() - t0) / 1000;
    const changes = (await page.evaluate(() => window.__benchChanges)) - changes0;
    view.stopped = true;
    must(await agent.post(`conversations/${conv}/cobrowse/stop`), 'stop');
    await view.done.catch(() => {});

    const bytes = chunks.reduce((n, c) => n + c.bytes, 0);
    const events = chunks.reduce((n, c) => n + JSON.parse(c.body).length, 0);
    // each chunk: when it went, relative to the first; how long each of
    // its stamps had waited in the recorder when it went
    const trace = {
      full: lastFull && lastFull.body,
      chunks: chunks.filter((c) => !c.full).map((c) => ({
        at: c.t - t0,
        ages: Array.from(c.body.matchAll(STAMP), (m) => c.t - Number(m[1])),
        body: c.body,
      })),
      seconds: el,
    };
    writeFileSync(traceFile, JSON.stringify(trace));
    const s = summary(lags);
    console.log(JSON.stringify({
      lag_p50: s.p50, lag_p99: s.p99, lag_max: s.max, lag_n: s.n,
      nodes_per_s: changes / el, bytes_per_s: bytes / el, chunks_per_s: chunks.length / el,
      events_per_s: events / el, full_bytes: lastFull ? lastFull.bytes : 0,
      full_chunks: chunks.filter((c) => c.full).length, seconds: el,
    }));
  } finally {
    await browser.close().catch(() => {});
  }
}

// ------------------------------------------------------------------ replay

async function visitorSession(base, agent, k) {
  const v = { k, h: {} };
  const r = must(await request('POST', `${base}${PREFIX}v1/visitor/messages`, {},
    { text: `bench cobrowse visitor ${k}`, client_msg_id: randomBytes(8).toString('hex') }), 'visitor message');
  const ck = /cv_visitor=([^;]+)/.exec([].concat(r.headers['set-cookie'] || []).join('\n'));
  v.h = { Cookie: `cv_visitor=${ck[1]}` };
  v.conv = /"conversation_id":"([^"]+)"/.exec(r.text)[1];
  must(await agent.post(`conversations/${v.conv}/cobrowse`), 'start');
  must(await request('POST', `${base}${PREFIX}v1/visitor/cobrowse`, v.h, { decision: 'allow' }), 'allow', 200);
  v.recorder = randomBytes(8).toString('hex');
  v.url = (full) => `${base}${PREFIX}v1/visitor/cobrowse/events?recorder=${v.recorder}${full ? '&full=1' : ''}`;
  return v;
}

// The peer (CHATVISOR_REPLAY_RELAY=nchan): the same chunks relayed by nchan
// in the same nginx (POST /nchan/pub/cbK, the agent's side a longpoll
// subscriber on /nchan/sub/cbK), so that what relaying this traffic costs
// the chat is measured for the relay users would pick instead.
function nchanSession(base, k) {
  return { k, h: {}, url: () => `${base}/nchan/pub/cb${k}`, nchan: true };
}

function nchanView(base, k, onAnswer) {
  const v = { stopped: false, cursor: 0, answers: 0, bytes: 0, state: '', done: null };
  v.done = (async () => {
    let h = {};
    while (!v.stopped) {
      const r = await request('GET', `${base}/nchan/sub/cb${k}`, h);
      if (v.stopped) break;
      if (r.status === 304 || r.status === 408) continue;
      must(r, 'nchan subscriber', 200);
      h = { 'If-Modified-Since': r.headers['last-modified'], 'If-None-Match': r.headers.etag };
      if (v.cursor !== 0) onAnswer(r);
      v.cursor++;
      v.answers++;
      v.bytes += r.text.length;
    }
  })();
  return v;
}

async function replayPhase(base, cookie, csrf, traceFile, sessions, seconds) {
  const trace = JSON.parse(readFileSync(traceFile, 'utf8'));
  if (!trace.full || !trace.chunks.length) throw new Error('the trace has no chunks');
  const peer = process.env.CHATVISOR_REPLAY_RELAY === 'nchan';
  const agent = new Agent(base, cookie, csrf);
  const vs = [];
  for (let k = 0; k < sessions; k++) vs.push(peer ? nchanSession(base, k) : await visitorSession(base, agent, k));
  const sentOk = peer ? [201, 202] : [204];

  let measuring = false;
  let stopped = false;
  let mark = 0;
  const sent = new Map();       // marker -> {t, ages}
  const lags = [];
  const relays = [];
  let posts = 0;
  let bytes = 0;
  const errors = [];
  const chatPolls = [];

  const onAnswer = (r) => {
    for (const m of r.text.matchAll(MARK)) {
      const s = sent.get(m[1]);
      if (!s) continue;
      sent.delete(m[1]);
      if (!s.measured) continue;
      relays.push(r.t - s.t);
      for (const a of s.ages) lags.push(r.t - s.t + a);
    }
  };
  const views = vs.map((v) => (peer ? nchanView(base, v.k, onAnswer) : viewLoop(agent, v.conv, onAnswer)));

  // the visitor's widget holds its chat poll meanwhile, and sends a full
  // snapshot when nginx asks for one (a long session's changes outgrew it)
  let fulls = 0;
  for (const v of vs) {
    if (peer) break;
    chatPolls.push((async () => {
      let after = 0;
      let gen = 0;
      while (!stopped) {
        const r = await request('GET', `${base}${PREFIX}v1/visitor/events?after=${after}&cobrowse=${gen}`, v.h);
        const m = /"cursor":(\d+)/.exec(r.text);
        if (m) after = Number(m[1]);
        const g = /"type":"cobrowse[^}]*"generation":(\d+)[^}]*"snapshot":(true|false)/.exec(r.text);
        if (g) {
          gen = Number(g[1]);
          if (g[2] === 'true') v.wantFull = true;
        }
      }
    })().catch((e) => errors.push(String(e))));
  }

  const senders = vs.map((v, i) => (async () => {
    must(await request('POST', v.url(true), v.h, trace.full), 'full snapshot', ...sentOk);
    // sessions start spread over one pass of the trace
    const period = trace.seconds * 1000;
    let start = now() + (i * 150) / sessions;
    let j = 0;
    while (!stopped) {
      const c = trace.chunks[j];
      const due = start + c.at;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      if (v.wantFull) {
        v.wantFull = false;
        const f = await request('POST', v.url(true), v.h, trace.full);
        if (!sentOk.includes(f.status)) errors.push(`full snapshot ${f.status} ${f.text.slice(0, 100)}`);
        if (measuring) {
          fulls++;
          posts++;
          bytes += Buffer.byteLength(trace.full);
        }
      }
      const id = String(++mark);
      const body = c.body.slice(0, -1) + `,{"type":5,"timestamp":${Date.now()},"data":{"tag":"bench","payload":"M${id}"}}]`;
      const t = now();
      sent.set(id, { t, ages: c.ages, measured: measuring });
      const r = await request('POST', v.url(false), v.h, body);
      if (!sentOk.includes(r.status)) errors.push(`chunk ${r.status} ${r.text.slice(0, 100)}`);
      if (measuring) {
        posts++;
        bytes += Buffer.byteLength(body);
      }
      if (++j === trace.chunks.length) {
        j = 0;
        start += period;
      }
    }
  })().catch((e) => errors.push(String(e))));

  const deadline = Date.now() + WAIT_MS;
  while (views.some((w) => w.cursor === 0) && Date.now() < deadline) await sleep(50);
  if (views.some((w) => w.cursor === 0)) throw new Error('not every view got its page');
  await sleep(1000);
  log('ready');
  measuring = true;
  const t0 = now();
  await sleep(seconds * 1000);
  measuring = false;
  const el = (now() - t0) / 1000;
  await sleep(500);     // what was sent while measuring arrives
  stopped = true;
  for (const w of views) w.stopped = true;
  // nchan's held polls are answered by one more message each
  if (peer) for (const v of vs) await request('POST', v.url(), {}, '[]');
  for (const v of vs) if (!peer) must(await agent.post(`conversations/${v.conv}/cobrowse/stop`), 'stop');
  await Promise.all(views.map((w) => w.done.catch((e) => errors.push(String(e)))));
  await Promise.all(senders);
  const pending = Array.from(sent.values()).filter((s) => s.measured).length;
  const s = summary(lags);
  const rs = summary(relays);
  console.log(JSON.stringify({
    sessions, relay_p50: rs.p50, relay_p99: rs.p99, lag_p50: s.p50, lag_p99: s.p99, lag_max: s.max, lag_n: s.n, lost: pending,
    posts_per_s: posts / el, fulls_per_s: fulls / el, bytes_per_s: bytes / el, seconds: el,
    errors: errors.length, first_error: errors[0] || '',
  }));
  // the held chat polls answer at their timeout; they need not be awaited
  process.exit(0);
}

// ------------------------------------------------------------------ serial

// One session, its chunks one at a time: each POST, then the agent's poll
// answer that carries it (the view polls again at once, as the console
// does). WARMUP chunks, then "# ready" on stderr and a line awaited on
// stdin (the caller zeroes its counters), then COUNT chunks measured, then
// "# done" and a line awaited again (the caller reads its counters).
async function serialPhase(base, cookie, csrf, traceFile, warmup, count) {
  const trace = JSON.parse(readFileSync(traceFile, 'utf8'));
  const agent = new Agent(base, cookie, csrf);
  const v = await visitorSession(base, agent, 0);
  const lines = readline.createInterface({ input: process.stdin });
  const line = () => new Promise((r) => lines.once('line', r));
  let waiting = null;
  const view = viewLoop(agent, v.conv, (r) => {
    if (waiting && r.text.includes(`"payload":"M${waiting.id}"`)) waiting.done();
  });
  must(await request('POST', v.url(true), v.h, trace.full), 'full snapshot', 204);
  const deadline = Date.now() + WAIT_MS;
  while (view.cursor === 0 && Date.now() < deadline) await sleep(20);
  if (view.cursor === 0) throw new Error('the view did not get its page');
  let bytes = 0;
  for (let k = 0; k < warmup + count; k++) {
    if (k === warmup) {
      log('ready');
      await line();
    }
    const c = trace.chunks[k % trace.chunks.length];
    const id = String(k + 1);
    const body = c.body.slice(0, -1) + `,{"type":5,"timestamp":${Date.now()},"data":{"tag":"bench","payload":"M${id}"}}]`;
    const got = new Promise((done) => { waiting = { id, done }; });
    must(await request('POST', v.url(false), v.h, body), 'chunk', 204);
    await got;
    if (k >= warmup) bytes += Buffer.byteLength(body);
  }
  log('done');
  console.log(JSON.stringify({ chunks: count, bytes }));
  await line();
  view.stopped = true;
  must(await agent.post(`conversations/${v.conv}/cobrowse/stop`), 'stop');
  process.exit(0);
}

const [cmd, ...a] = process.argv.slice(2);
try {
  if (cmd === 'browser') await browserPhase(a[0], a[1], a[2], Number(a[3]), a[4]);
  else if (cmd === 'replay') await replayPhase(a[0], a[1], a[2], a[3], Number(a[4]), Number(a[5]));
  else if (cmd === 'serial') await serialPhase(a[0], a[1], a[2], a[3], Number(a[4]), Number(a[5]));
  else throw new Error(`unknown command ${cmd}`);
} catch (e) {
  process.stderr.write(`cobrowse-load: ${e.stack || e}\n`);
  process.exit(1);
}
