// A stand-in for the module's chat endpoints (docs/chat-endpoints.md), in
// memory, for working on the browser code without nginx:
//
//   make assets && node t/browser/mock-server.mjs [PORT]
//
// It serves the built assets from build/www under /chatvisor/, demo pages
// (/index.html, /other.html) with the widget tag injected (or, with
// CHATVISOR_SITE=DIR, the pages of DIR: t/browser/cobrowse-site, with
// co-browsing on but under /off/, .card-number blocked and .customer-name
// masked, as t/65-cobrowse-browser.t configures nginx), and prints a
// one-time login URL for the agent "ann" (POST /mock/login-url?agent=ID
// makes more). It is not a test of the module: the Perl tests run nginx.
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createCobrowseMock } from './mock-cobrowse.mjs';

const PORT = Number(process.argv[2] || process.env.PORT || 8099);
const PREFIX = '/chatvisor/';
const WWW = process.env.CHATVISOR_WWW || 'build/www';
const POLL_MS = Number(process.env.CHATVISOR_POLL_MS || 25000);
const SITE = process.env.CHATVISOR_SITE || '';
const JOIN_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'";
// the console's allows inline styles too, for the co-browsed page it replays
const CSP = JOIN_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");

const rid = (p) => p + randomBytes(8).toString('hex');
const now = () => new Date().toISOString();

const agents = new Map([['ann', { id: 'ann', name: 'Ann', email: 'ann@example.com', enabled: true }]]);
const status = new Map();          // agent id -> available|away
const sessions = new Map();        // session -> {agent, csrf}
const tokens = new Map();          // token -> {agent, conversation}
const customers = new Map();
const conversations = new Map();
const streams = new Map();         // conv id -> [events]
const log = [];                    // global log
const waiters = new Set();         // {match(kind, id), wake()}

function wake(kind, id, extra) {
  for (const w of [...waiters]) if (w.match(kind, id)) w.wake(extra);
}

function send(res, code, body, headers) {
  const h = Object.assign({ 'Cache-Control': 'no-store' }, headers || {});
  if (body === undefined || code === 204) {
    res.writeHead(code, h);
    return res.end();
  }
  h['Content-Type'] = 'application/json';
  res.writeHead(code, h);
  res.end(JSON.stringify(body));
}
const fail = (res, code, c, message) => send(res, code, { error: { code: c, message: message || c } });

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(/;\s*/)) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!/^application\/json/.test(req.headers['content-type'] || '')) throw Object.assign(new Error('type'), { code: 415 });
  try { return JSON.parse(text); } catch (e) { throw Object.assign(new Error('json'), { code: 400 }); }
}

function appendLog(type, conv, extra) {
  const ev = Object.assign({
    seq: log.length + 1, type, conversation_id: conv.id, customer_id: conv.customer_id,
    conversation_seq: conv.last_seq, created_at: now(), conversation: { ...conv },
  }, extra || {});
  log.push(ev);
  wake('agent');
}

function appendStream(conv, ev) {
  const s = streams.get(conv.id);
  conv.last_seq += 1;
  conv.updated_at = now();
  ev.seq = conv.last_seq;
  if (ev.message) ev.message.seq = ev.seq;
  s.push(ev);
  wake('visitor', conv.customer_id);
  return ev;
}

function postMessage(conv, author, text, clientMsgId) {
  const s = streams.get(conv.id);
  if (clientMsgId) {
    const dup = s.find((e) => e.message && e.message.client_msg_id === clientMsgId && e.message.author.id === author.id);
    if (dup) return { message: dup.message, duplicate: true };
  }
  const message = {
    id: rid('msg_'), conversation_id: conv.id, seq: 0, author, text, created_at: now(),
    ...(clientMsgId ? { client_msg_id: clientMsgId } : {}),
  };
  appendStream(conv, { type: 'message', message });
  appendLog('message.created', conv, { message });
  return { message, duplicate: false };
}

function withCustomer(conv) {
  const last = [...streams.get(conv.id)].reverse().find((e) => e.type === 'message');
  return { ...conv, customer: customers.get(conv.customer_id), last_message: last ? last.message : null };
}

function validText(t) {
  return typeof t === 'string' && t.trim() !== '' && [...t].length <= 4096;
}

function hold(req, res, match, ready, answer) {
  if (ready()) return answer();
  let done = false;
  const finish = (extra) => {
    if (done) return;
    done = true;
    waiters.delete(w);
    clearTimeout(timer);
    answer(extra);
  };
  const w = { match, wake: finish };
  waiters.add(w);
  const timer = setTimeout(() => finish(), POLL_MS);
  req.on('close', () => { done = true; waiters.delete(w); clearTimeout(timer); });
  return undefined;
}

const cobrowse = createCobrowseMock({ wake, body, send, fail, hold: (...a) => hold(...a) });

function page(title, other) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<link rel="icon" href="data:,">
<script async src="${PREFIX}widget.js" data-chatvisor="1" data-color="#2563eb" data-cobrowse="1"></script></head>
<body><h1>${title}</h1><p><a href="${other}">another page</a></p></body></html>`;
}

// A page of CHATVISOR_SITE, the widget tag put before </head>; under /de/
// the same pages in German.
function sitePage(res, path) {
  const de = path.startsWith('/de/');
  const p = de ? path.slice(3) : path;
  const file = join(SITE, p.endsWith('/') ? p + 'index.html' : p);
  if (p.includes('..') || !existsSync(file)) return fail(res, 404, 'not_found');
  if (!file.endsWith('.html')) {
    res.writeHead(200, { 'Content-Type': file.endsWith('.css') ? 'text/css' : 'application/octet-stream' });
    return res.end(readFileSync(file));
  }
  const on = p.startsWith('/off/') ? '' : ' data-cobrowse="1" data-cobrowse-block=".card-number" data-cobrowse-mask=".customer-name"';
  const tag = `<script async src="${PREFIX}widget.js" data-chatvisor="1"${on}${de ? ' data-language="de"' : ''}></script>`;
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  return res.end(readFileSync(file, 'utf8').replace('</head>', tag + '</head>'));
}

function asset(res, file, type, extra) {
  const path = join(WWW, file);
  if (!existsSync(path)) return fail(res, 404, 'not_found');
  res.writeHead(200, Object.assign({ 'Content-Type': type }, extra || {}));
  return res.end(readFileSync(path));
}

async function visitor(req, res, path, url) {
  const cus = cookies(req).cv_visitor;
  const customer = cus && customers.get(cus);
  if (path === 'v1/visitor/messages' && req.method === 'POST') {
    const b = await body(req);
    if (!validText(b.text)) return fail(res, 400, 'invalid_request', 'bad text');
    let c = customer;
    const headers = {};
    if (!c) {
      c = { customer_id: rid('cus_'), id: null, email: null, firstname: null, lastname: null, labels: [], conversation_id: null, page_url: null, created_at: now() };
      customers.set(c.customer_id, c);
      headers['Set-Cookie'] = `cv_visitor=${c.customer_id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000`;
    }
    let conv = c.conversation_id && conversations.get(c.conversation_id);
    if (b.client_msg_id && conv) {
      const dup = streams.get(conv.id).find((e) => e.message && e.message.client_msg_id === b.client_msg_id);
      if (dup) return send(res, 200, dup.message, headers);
    }
    if (!conv || conv.status !== 'open') {
      conv = { id: rid('conv_'), customer_id: c.customer_id, status: 'open', assigned_agent_id: null, created_at: now(), updated_at: now(), last_seq: 0, page_url: b.page_url || null };
      conversations.set(conv.id, conv);
      streams.set(conv.id, []);
      c.conversation_id = conv.id;
      appendLog('conversation.created', conv);
    }
    if (b.page_url) c.page_url = b.page_url;
    const r = postMessage(conv, { type: 'customer', id: c.customer_id, name: null }, b.text, b.client_msg_id);
    return send(res, r.duplicate ? 200 : 201, r.message, headers);
  }
  if (path === 'v1/visitor/typing' && req.method === 'POST') {
    await body(req);
    if (customer && customer.conversation_id) {
      const conv = conversations.get(customer.conversation_id);
      wake('agent', null, { type: 'typing', conversation_id: conv.id, author: { type: 'customer', id: customer.customer_id, name: null } });
    }
    return send(res, 204);
  }
  if (path.startsWith('v1/visitor/cobrowse')) return cobrowse.visitor(req, res, path, url, customer);
  if (path === 'v1/visitor/events' && req.method === 'GET') {
    const G = Number(url.searchParams.get('cobrowse') || 0);
    const P = Number(url.searchParams.get('pointer') || 0);
    const after = Number(url.searchParams.get('after') || 0);
    if (!Number.isInteger(after) || after < 0) return fail(res, 400, 'invalid_request', 'bad cursor');
    const given = url.searchParams.get('conversation');
    const wait = url.searchParams.get('wait') !== '0';
    const current = () => {
      const c = cus && customers.get(cus);
      return c && c.conversation_id ? conversations.get(c.conversation_id) : null;
    };
    const from = () => {
      const conv = current();
      return conv && given && conv.id !== given ? 0 : after;
    };
    const ready = () => {
      const conv = current();
      return !wait || (conv && (conv.id !== given && given) || (conv && streams.get(conv.id).some((e) => e.seq > from())))
        || (cus && cobrowse.notices(cus, G, P, 0).length > 0);
    };
    let typing = null;
    return hold(req, res, (kind, id) => kind === 'visitor' && id === cus, ready, (extra) => {
      if (extra) typing = extra;
      const conv = current();
      if (!conv) return send(res, 200, { conversation_id: null, status: null, events: [], cursor: 0 });
      const a = from();
      const events = streams.get(conv.id).filter((e) => e.seq > a);
      const cursor = events.length ? events[events.length - 1].seq : a;
      if (typing) events.push({ ...typing, seq: cursor });
      events.push(...cobrowse.notices(cus, G, P, cursor));
      return send(res, 200, { conversation_id: conv.id, status: conv.status, events, cursor });
    });
  }
  return fail(res, 404, 'not_found');
}

async function agentApi(req, res, path, url) {
  if (path === 'v1/agent/join' && req.method === 'POST') {
    const b = await body(req);
    const t = tokens.get(b.token);
    if (!t) return fail(res, 403, 'invalid_token', 'this login link was used, has expired or is not valid');
    tokens.delete(b.token);
    const session = rid('s_');
    sessions.set(session, { agent: t.agent, csrf: rid('csrf_') });
    return send(res, 200, { redirect: PREFIX + 'agent/' + (t.conversation ? '#conversation=' + t.conversation : '') },
      { 'Set-Cookie': `cv_agent=${session}; Path=${PREFIX}; HttpOnly; SameSite=Strict; Max-Age=43200`, 'Referrer-Policy': 'no-referrer' });
  }
  const s = sessions.get(cookies(req).cv_agent);
  if (!s) return fail(res, 401, 'unauthorized');
  const me = agents.get(s.agent);
  const write = req.method !== 'GET';
  if (write && req.headers['x-chatvisor-csrf'] !== s.csrf) return fail(res, 403, 'forbidden', 'csrf');
  const sub = path.slice('v1/agent/'.length);
  if (sub === 'me') {
    return send(res, 200, { agent: me, status: status.get(me.id) || 'available', csrf_token: s.csrf, cursor: log.length });
  }
  if (sub === 'status' && req.method === 'PUT') {
    const b = await body(req);
    status.set(me.id, b.status);
    return send(res, 200, { status: b.status });
  }
  if (sub === 'logout' && req.method === 'POST') {
    sessions.delete(cookies(req).cv_agent);
    return send(res, 204);
  }
  if (sub === 'events') {
    const after = Number(url.searchParams.get('after') || 0);
    let typing = null;
    return hold(req, res, (kind) => kind === 'agent', () => log.length > after, (extra) => {
      if (extra) typing = extra;
      const events = log.slice(after);
      const cursor = Math.max(after, log.length);
      if (typing && !(typing.author.type === 'agent' && typing.author.id === me.id)) events.push(typing);
      send(res, 200, { events, cursor });
    });
  }
  if (sub === 'conversations') {
    const filter = url.searchParams.get('filter') || 'all';
    const st = url.searchParams.get('status');
    const items = [...conversations.values()]
      .filter((c) => !st || c.status === st)
      .filter((c) => filter === 'all' || (filter === 'mine' ? c.assigned_agent_id === me.id : !c.assigned_agent_id))
      .sort((a, b) => b.updated_at.localeCompare(a.updated_at))
      .map(withCustomer);
    return send(res, 200, { items, next_cursor: null });
  }
  const m = sub.match(/^conversations\/([^/]+)(?:\/(\w+))?(\/\w+)?$/);
  if (m) {
    const conv = conversations.get(m[1]);
    if (!conv) return fail(res, 404, 'not_found');
    const action = m[2];
    if (action === 'cobrowse') return cobrowse.agent(req, res, action, m[3] || '', url, conv, me);
    if (!action) return send(res, 200, withCustomer(conv));
    if (action === 'events') {
      const after = Number(url.searchParams.get('after') || 0);
      const events = streams.get(conv.id).filter((e) => e.seq > after);
      return send(res, 200, { events, cursor: events.length ? events[events.length - 1].seq : after });
    }
    if (action === 'messages' && req.method === 'POST') {
      const b = await body(req);
      if (!validText(b.text)) return fail(res, 400, 'invalid_request');
      if (conv.status !== 'open') return fail(res, 409, 'conflict', 'closed');
      const r = postMessage(conv, { type: 'agent', id: me.id, name: me.name }, b.text, b.client_msg_id);
      return send(res, r.duplicate ? 200 : 201, r.message);
    }
    if (action === 'typing' && req.method === 'POST') {
      await body(req);
      const ev = { type: 'typing', author: { type: 'agent', id: me.id, name: me.name } };
      wake('visitor', conv.customer_id, ev);
      wake('agent', null, { ...ev, conversation_id: conv.id });
      return send(res, 204);
    }
    if (action === 'assign' && req.method === 'POST') {
      const b = await body(req);
      const who = agents.get(b.agent_id || me.id);
      if (conv.assigned_agent_id !== who.id) {
        if (conv.assigned_agent_id) appendStream(conv, { type: 'agent_left', agent: { id: conv.assigned_agent_id } });
        conv.assigned_agent_id = who.id;
        appendStream(conv, { type: 'agent_joined', agent: { id: who.id, name: who.name } });
        appendLog('conversation.assigned', conv);
      }
      return send(res, 200, withCustomer(conv));
    }
    if (action === 'close' && req.method === 'POST') {
      if (conv.status === 'open') {
        conv.status = 'closed';
        appendStream(conv, { type: 'closed', by: { type: 'agent', id: me.id, name: me.name } });
        appendLog('conversation.closed', conv);
        cobrowse.closed(conv.id);
      }
      return send(res, 200, withCustomer(conv));
    }
  }
  return fail(res, 404, 'not_found');
}

function loginUrl(agent, conversation) {
  const token = randomBytes(24).toString('base64url');
  tokens.set(token, { agent, conversation: conversation || null });
  return `http://127.0.0.1:${PORT}${PREFIX}join#${token}`;
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  try {
    if (p === '/') {
      res.writeHead(302, { Location: '/index.html' });
      return res.end();
    }
    if (p === '/mock/login-url' && req.method === 'POST') {
      return send(res, 200, { url: loginUrl(url.searchParams.get('agent') || 'ann', url.searchParams.get('conversation')) });
    }
    if (!p.startsWith(PREFIX) && SITE) return sitePage(res, p);
    if (!p.startsWith(PREFIX)) {
      if (/^\/(index|other)\.html$/.test(p)) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        return res.end(page(p.slice(1), p === '/index.html' ? '/other.html' : '/index.html'));
      }
      return fail(res, 404, 'not_found');
    }
    const path = p.slice(PREFIX.length);
    if (['widget.js', 'agent.js', 'join.js', 'cobrowse.js', 'cobrowse-replay.js'].includes(path)) return asset(res, path, 'application/javascript; charset=utf-8');
    if (path === 'agent.css') return asset(res, path, 'text/css; charset=utf-8');
    if (path === 'agent/') return asset(res, 'agent/index.html', 'text/html; charset=utf-8', { 'Content-Security-Policy': CSP });
    if (path === 'join') return asset(res, 'join.html', 'text/html; charset=utf-8', { 'Content-Security-Policy': JOIN_CSP, 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    if (path.startsWith('v1/visitor/')) return await visitor(req, res, path, url);
    if (path.startsWith('v1/agent/')) return await agentApi(req, res, path, url);
    return fail(res, 404, 'not_found');
  } catch (e) {
    if (e.code === 415) return fail(res, 415, 'unsupported_media_type');
    if (e.code === 400) return fail(res, 400, 'invalid_json');
    console.error(e);
    return fail(res, 500, 'internal');
  }
});

server.listen(PORT, '127.0.0.1', () => {
  console.log(`mock chatvisor on http://127.0.0.1:${PORT}/index.html`);
  console.log(`agent login: ${loginUrl('ann')}`);
});
