// The agent console, served at PREFIX agent/ (docs/chat-endpoints.md):
// conversation list (Unassigned / Mine / All), chat view with history and
// composer, customer panel, assign / close, own status, notifications.
// Live updates come from one long-poll over the global event log
// (GET v1/agent/events?after=GSEQ). Every text goes in as textContent.
import { createApi, ApiError } from './api.js';
import { h, append, clear, text, icon } from './dom.js';
import { sendOnEnter } from '../shared/dom.js';
import { randomId } from '../shared/id.js';
import {
  customerName, initials, colorClass, relativeTime, clockTime, fullTime,
  safeHttpUrl, storage, store, parseTime,
} from './util.js';
import { unlockAudio, beep, notificationState, askNotifications, showNotification } from './notify.js';

const TYPING_EVERY_MS = 2000;
const TYPING_SHOW_MS = 4000;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const TABS = [
  { id: 'unassigned', label: 'Unassigned' },
  { id: 'mine', label: 'Mine' },
  { id: 'all', label: 'All' },
];

// PREFIX: where agent.js was loaded from ("/chatvisor/agent.js?v=…").
function findPrefix() {
  const s = document.currentScript;
  try {
    if (s && s.src) {
      const path = new URL(s.src, location.href).pathname;
      const i = path.lastIndexOf('agent.js');
      if (i > 0) return path.slice(0, i);
    }
  } catch (e) { /* fall through */ }
  return new URL('../', location.href).pathname;
}

const PREFIX = findPrefix();
const api = createApi(PREFIX);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const S = {
  me: null,
  status: 'available',
  cursor: 0,
  convs: new Map(),          // id -> conversation (+ customer, last_message)
  unread: new Map(),         // id -> count of customer messages not read
  read: {},                  // id -> last seq read (persisted)
  tab: storage('chatvisor:agent:tab', 'unassigned'),
  openId: null,
  chat: null,                // state of the open conversation's view
  typing: new Map(),         // conversation id -> {until, name}
  fetching: new Set(),
  sound: storage('chatvisor:agent:sound', true),
  stopped: false,
  pollAbort: null,
};

let ui = null;

// ---------------------------------------------------------------------------
// boot

async function boot() {
  const root = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app' }));
  clear(root);
  root.className = 'app-loading';
  append(root, [h('div', { class: 'splash' }, [h('div', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading inbox…'])]);
  let me;
  for (let delay = BACKOFF_MIN_MS; ; delay = Math.min(delay * 2, BACKOFF_MAX_MS)) {
    try {
      me = await api.get('me');
      break;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return showLoggedOut(root);
      if (e instanceof ApiError && e.status > 0 && e.status < 500 && e.status !== 429) {
        return showFatal(root, 'The inbox could not be loaded (' + (e.message || e.status) + ').');
      }
      await sleep(delay);
    }
  }
  S.me = me.agent || {};
  S.status = me.status || 'offline';
  S.cursor = Number(me.cursor) || 0;
  api.setCsrf(me.csrf_token);
  S.read = storage(readKey(), {});
  ui = buildUi(root);
  await loadConversations();
  renderAll();
  const wanted = hashConversation();
  if (wanted) openConversation(wanted, { fromHash: true });
  pollLoop();
  // GET me tells the effective status, "offline" until this console's poll
  // has made us online: ask again once it runs, and now and then (an
  // integrator may set it through the REST API)
  setTimeout(refreshMe, 1500);
  setInterval(refreshMe, 60000);
  setInterval(() => { renderList(); }, 30000);
  window.addEventListener('hashchange', () => {
    const id = hashConversation();
    if (id && id !== S.openId) openConversation(id, { fromHash: true });
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && S.openId) markRead(S.openId);
  });
  document.addEventListener('pointerdown', unlockAudio, { capture: true });
  document.addEventListener('keydown', unlockAudio, { capture: true });
}

function readKey() {
  return 'chatvisor:agent:read:' + (S.me && S.me.id);
}

function hashConversation() {
  const m = /(?:^#|&)conversation=([^&]+)/.exec(location.hash || '');
  if (!m) return null;
  try { return decodeURIComponent(m[1]); } catch (e) { return null; }
}

function showLoggedOut(root, ended) {
  S.stopped = true;
  if (S.pollAbort) S.pollAbort.abort();
  clear(root);
  root.className = 'app-gate';
  document.title = 'Log in · Chatvisor';
  append(root, [h('main', { class: 'gate' }, [
    h('div', { class: 'gate-card' }, [
      h('div', { class: 'gate-logo', 'aria-hidden': 'true' }, [icon('chat')]),
      h('h1', {}, [ended ? 'You have logged out' : 'You are not logged in']),
      h('p', {}, ['To open the inbox, open a login link. Login links are personal, work once, and expire after a short time.']),
      h('p', { class: 'muted' }, ['Ask your administrator for a new link. Administrators create one with ',
        h('code', {}, ['chatvisorctl login-url']), ' or the REST API (',
        h('code', {}, ['POST agents/{id}/login-url']), ').']),
    ]),
  ])]);
}

function showFatal(root, message) {
  clear(root);
  root.className = 'app-gate';
  append(root, [h('main', { class: 'gate' }, [h('div', { class: 'gate-card' }, [
    h('h1', {}, ['Something went wrong']),
    h('p', {}, [message]),
    h('button', { type: 'button', class: 'btn primary', onclick: () => location.reload() }, ['Reload']),
  ])])]);
}

// ---------------------------------------------------------------------------
// layout

function buildUi(root) {
  clear(root);
  root.className = 'app';
  const u = {};

  // sidebar: who I am, tabs, the list
  u.statusBtn = h('button', { type: 'button', class: 'status-toggle', role: 'switch', onclick: toggleStatus });
  u.soundBtn = h('button', { type: 'button', class: 'icon-btn', onclick: toggleSound });
  u.notifyBtn = h('button', { type: 'button', class: 'icon-btn', onclick: enableNotifications });
  u.logoutBtn = h('button', { type: 'button', class: 'icon-btn', title: 'Log out', 'aria-label': 'Log out', onclick: logout },
    [icon('logout')]);
  const meName = S.me.name || S.me.id || 'Agent';
  u.me = h('div', { class: 'me' }, [
    h('span', { class: 'avatar small ' + colorClass(S.me.id), 'aria-hidden': 'true' }, [initials(meName)]),
    h('div', { class: 'me-text' }, [h('div', { class: 'me-name' }, [meName]), u.statusBtn]),
    h('div', { class: 'me-tools' }, [u.notifyBtn, u.soundBtn, u.logoutBtn]),
  ]);
  u.tabs = {};
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Conversations' });
  for (const t of TABS) {
    const count = h('span', { class: 'tab-count' });
    const btn = h('button', {
      type: 'button', role: 'tab', class: 'tab', id: 'tab-' + t.id, 'data-tab': t.id, 'aria-controls': 'conv-list',
      onclick: () => selectTab(t.id),
    }, [h('span', { class: 'tab-label' }, [t.label]), count]);
    u.tabs[t.id] = { btn, count };
    tablist.appendChild(btn);
  }
  tablist.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = TABS.findIndex((t) => t.id === S.tab);
    const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
    selectTab(next.id);
    u.tabs[next.id].btn.focus();
  });
  u.list = h('ul', { class: 'conv-list', id: 'conv-list', role: 'listbox', 'aria-label': 'Conversations' });
  u.listEmpty = h('div', { class: 'list-empty', hidden: true });
  const sidebar = h('aside', { class: 'sidebar' }, [
    h('header', { class: 'brand' }, [h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, [icon('chat')]),
      h('span', { class: 'brand-name' }, ['Inbox'])]),
    u.me, tablist, h('div', { class: 'list-wrap' }, [u.list, u.listEmpty]),
  ]);

  // center: the open conversation
  u.back = h('button', { type: 'button', class: 'icon-btn back', 'aria-label': 'Back to the list', title: 'Back', onclick: closeView },
    [icon('back')]);
  u.chatAvatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
  u.chatName = h('h2', { class: 'chat-name', id: 'chat-name' });
  u.chatSub = h('div', { class: 'chat-sub' });
  u.assignBtn = h('button', { type: 'button', class: 'btn', 'data-action': 'assign', onclick: assignToMe }, ['Assign to me']);
  u.closeBtn = h('button', { type: 'button', class: 'btn', 'data-action': 'close', onclick: closeConversation },
    [icon('check'), 'Close']);
  u.infoBtn = h('button', { type: 'button', class: 'icon-btn info-toggle', 'aria-label': 'Customer details', title: 'Customer details',
    'aria-pressed': 'false', onclick: toggleDetails }, [icon('info')]);
  u.log = h('div', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'chat-name', tabindex: '0' });
  u.typingText = h('span', { class: 'typing-text' });
  u.typing = h('div', { class: 'typing', hidden: true, 'aria-live': 'polite' },
    [h('span', { class: 'dots', 'aria-hidden': 'true' }, [h('i'), h('i'), h('i')]), u.typingText]);
  u.input = h('textarea', { class: 'composer-input', rows: '1', placeholder: 'Reply…', 'aria-label': 'Reply', maxlength: '4096' });
  u.send = h('button', { type: 'submit', class: 'btn primary send', disabled: true }, [icon('send'), 'Send']);
  u.composer = h('form', { class: 'composer', novalidate: true }, [u.input, u.send]);
  u.composerHint = h('div', { class: 'composer-hint' }, ['Enter to send · Shift+Enter for a new line']);
  u.closedNote = h('div', { class: 'closed-note', hidden: true }, ['This conversation is closed.']);
  u.chatMain = h('div', { class: 'chat-main', hidden: true }, [
    h('header', { class: 'chat-head' }, [u.back, u.chatAvatar, h('div', { class: 'chat-title' }, [u.chatName, u.chatSub]),
      h('div', { class: 'chat-actions' }, [u.assignBtn, u.closeBtn, u.infoBtn])]),
    u.log, u.typing, u.closedNote, h('div', { class: 'composer-wrap' }, [u.composer, u.composerHint]),
  ]);
  u.chatEmpty = h('div', { class: 'chat-empty' }, [
    h('div', { class: 'empty-icon', 'aria-hidden': 'true' }, [icon('inbox')]),
    h('h2', {}, ['No conversation selected']),
    h('p', {}, ['Pick a conversation from the list. New ones show up here as visitors write.']),
  ]);
  const chat = h('main', { class: 'chat' }, [u.chatEmpty, u.chatMain]);

  // right: the customer
  u.details = h('div', { class: 'details-body' });
  const details = h('aside', { class: 'details', 'aria-label': 'Customer details' }, [u.details]);

  u.toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  append(root, [sidebar, chat, details, u.toasts]);

  u.input.addEventListener('input', () => {
    u.send.disabled = u.input.value.trim() === '' || !canWrite();
    if (u.input.value.trim() !== '') sendTyping();
  });
  sendOnEnter(u.composer, u.input, submit);
  ui = u;
  renderMe();
  return u;
}

function toast(message, kind) {
  const el = h('div', { class: 'toast' + (kind ? ' ' + kind : '') }, [message]);
  ui.toasts.appendChild(el);
  setTimeout(() => el.remove(), 6000);
}

function errorText(e, what) {
  if (e instanceof ApiError) {
    if (e.status === 0) return what + ': the server could not be reached.';
    if (e.status === 409) return what + ': the conversation has changed (' + (e.message || 'conflict') + ').';
    return what + ': ' + (e.message || e.code || 'error ' + e.status) + '.';
  }
  return what + ' failed.';
}

// ---------------------------------------------------------------------------
// me: status, sound, notifications, logout

function renderMe() {
  const st = S.status === 'available' || S.status === 'away' ? S.status : 'offline';
  const label = { available: 'Available', away: 'Away', offline: 'Offline' }[st];
  ui.statusBtn.setAttribute('aria-checked', String(st === 'available'));
  ui.statusBtn.className = 'status-toggle ' + st;
  ui.statusBtn.title = st === 'available' ? 'You are available: click to go away'
    : 'You are ' + st + ': click to become available';
  clear(ui.statusBtn);
  append(ui.statusBtn, [h('span', { class: 'dot', 'aria-hidden': 'true' }), label]);

  clear(ui.soundBtn);
  ui.soundBtn.appendChild(icon(S.sound ? 'volume' : 'mute'));
  ui.soundBtn.setAttribute('aria-pressed', String(!!S.sound));
  ui.soundBtn.setAttribute('aria-label', 'Sound');
  ui.soundBtn.title = S.sound ? 'Sound is on' : 'Sound is off';

  const n = notificationState();
  clear(ui.notifyBtn);
  ui.notifyBtn.appendChild(icon(n === 'granted' ? 'bell' : 'bellOff'));
  ui.notifyBtn.hidden = n === 'unsupported';
  ui.notifyBtn.classList.toggle('attention', n === 'default');
  ui.notifyBtn.setAttribute('aria-label', 'Desktop notifications');
  ui.notifyBtn.title = n === 'granted' ? 'Desktop notifications are on'
    : n === 'denied' ? 'Desktop notifications are blocked in the browser settings' : 'Turn on desktop notifications';
}

async function refreshMe() {
  if (S.stopped || S.statusBusy) return;
  try {
    const me = await api.get('me');
    if (S.statusBusy) return;
    if (me && me.status) S.status = me.status;
    if (me && me.csrf_token) api.setCsrf(me.csrf_token);
    renderMe();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) showLoggedOut(document.getElementById('app'));
  }
}

async function toggleStatus() {
  const before = S.status;
  const next = before === 'available' ? 'away' : 'available';
  S.statusBusy = true;
  S.status = next;
  renderMe();
  try {
    const r = await api.put('status', { status: next });
    S.status = (r && r.status) || next;
  } catch (e) {
    S.status = before;
    toast(errorText(e, 'Changing your status'), 'error');
  }
  S.statusBusy = false;
  renderMe();
}

function toggleSound() {
  S.sound = !S.sound;
  store('chatvisor:agent:sound', S.sound);
  unlockAudio();
  if (S.sound) beep();
  renderMe();
}

async function enableNotifications() {
  const n = notificationState();
  if (n === 'denied') {
    toast('Notifications are blocked for this site: allow them in the browser settings.');
    return;
  }
  if (n === 'granted') {
    toast('Desktop notifications are on.');
    return;
  }
  await askNotifications();
  renderMe();
}

async function logout() {
  try { await api.post('logout'); } catch (e) { /* the session ends anyway */ }
  showLoggedOut(document.getElementById('app'), true);
}

// ---------------------------------------------------------------------------
// conversations

async function fetchList(filter, status) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 20; page++) {
    const q = 'conversations?filter=' + filter + '&status=' + status + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
    const r = await api.get(q);
    for (const c of (r && r.items) || []) items.push(c);
    cursor = r && r.next_cursor;
    if (!cursor) break;
  }
  return items;
}

async function loadConversations() {
  try {
    const [open, closed] = await Promise.all([fetchList('all', 'open'), fetchList('all', 'closed').catch(() => [])]);
    for (const c of closed.concat(open)) upsert(c);
    for (const c of S.convs.values()) {
      const m = c.last_message;
      if (m && m.author && m.author.type === 'customer' && c.status === 'open' && (Number(m.seq) || 0) > (S.read[c.id] || 0)) {
        S.unread.set(c.id, 1);
      }
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLoggedOut(document.getElementById('app'));
    toast(errorText(e, 'Loading conversations'), 'error');
  }
  return undefined;
}

// Keeps the newest copy of a conversation; the list's extras (customer,
// last_message) survive updates that lack them.
function upsert(c) {
  if (!c || !c.id) return null;
  const old = S.convs.get(c.id);
  if (old) {
    const tOld = parseTime(old.updated_at) || 0;
    const tNew = parseTime(c.updated_at) || 0;
    const older = tNew < tOld || (Number(c.last_seq) || 0) < (Number(old.last_seq) || 0);
    const merged = older ? Object.assign({}, c, old) : Object.assign({}, old, c);
    if (!c.customer) merged.customer = old.customer;
    if (!c.last_message || (old.last_message && (Number(old.last_message.seq) || 0) > (Number(c.last_message.seq) || 0))) {
      merged.last_message = old.last_message;
    }
    S.convs.set(c.id, merged);
    return merged;
  }
  S.convs.set(c.id, Object.assign({}, c));
  return S.convs.get(c.id);
}

async function fetchConversation(id) {
  if (S.fetching.has(id)) return S.convs.get(id) || null;
  S.fetching.add(id);
  try {
    const c = await api.get('conversations/' + encodeURIComponent(id));
    const merged = upsert(c);
    renderAll();
    return merged;
  } catch (e) {
    return null;
  } finally {
    S.fetching.delete(id);
  }
}

function inTab(c, tab) {
  if (tab === 'unassigned') return c.status === 'open' && !c.assigned_agent_id;
  if (tab === 'mine') return c.status === 'open' && c.assigned_agent_id === S.me.id;
  return true;
}

function sorted(tab) {
  return [...S.convs.values()].filter((c) => inTab(c, tab)).sort((a, b) => {
    if (tab === 'all' && a.status !== b.status) return a.status === 'open' ? -1 : 1;
    return (parseTime(b.updated_at) || 0) - (parseTime(a.updated_at) || 0);
  });
}

function selectTab(tab) {
  S.tab = tab;
  store('chatvisor:agent:tab', tab);
  renderList();
}

function renderAll() {
  if (!ui) return;
  renderList();
  renderTitle();
  if (S.openId) renderChatHead();
}

function nameOf(c) {
  return customerName(c && c.customer, c && c.customer_id);
}

function previewOf(c) {
  const t = S.typing.get(c.id);
  if (t && t.until > Date.now() && t.customer) return { text: 'typing…', typing: true };
  const m = c.last_message;
  if (!m) return { text: c.status === 'closed' ? 'Closed' : 'New conversation' };
  let who = '';
  if (m.author && m.author.type === 'agent') who = m.author.id === S.me.id ? 'You: ' : (m.author.name || m.author.id) + ': ';
  return { text: who + String(m.text || '').replace(/\s+/g, ' ') };
}

function renderList() {
  if (!ui) return;
  for (const t of TABS) {
    const n = t.id === 'all' ? sorted('all').filter((c) => c.status === 'open').length : sorted(t.id).length;
    const { btn, count } = ui.tabs[t.id];
    text(count, n > 0 ? String(n) : '');
    btn.setAttribute('aria-selected', String(S.tab === t.id));
    btn.tabIndex = S.tab === t.id ? 0 : -1;
    const unread = sorted(t.id).some((c) => (S.unread.get(c.id) || 0) > 0);
    btn.classList.toggle('has-unread', unread);
  }
  ui.list.setAttribute('aria-labelledby', 'tab-' + S.tab);
  const items = sorted(S.tab);
  clear(ui.list);
  const now = Date.now();
  for (const c of items) {
    const name = nameOf(c);
    const unread = S.unread.get(c.id) || 0;
    const p = previewOf(c);
    const when = (c.last_message && c.last_message.created_at) || c.updated_at || c.created_at;
    const li = h('li', {
      class: 'conv' + (c.id === S.openId ? ' active' : '') + (unread ? ' unread' : '') + (c.status === 'closed' ? ' closed' : ''),
      role: 'option', 'aria-selected': String(c.id === S.openId), 'data-id': c.id, tabindex: '0',
      onclick: () => openConversation(c.id),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          openConversation(c.id);
        }
      },
    }, [
      h('span', { class: 'avatar ' + colorClass(c.customer_id), 'aria-hidden': 'true' }, [initials(name)]),
      h('span', { class: 'conv-main' }, [
        h('span', { class: 'conv-top' }, [
          h('span', { class: 'conv-name' }, [name]),
          h('time', { class: 'conv-time', datetime: when || '', title: fullTime(when) }, [relativeTime(when, now)]),
        ]),
        h('span', { class: 'conv-bottom' }, [
          h('span', { class: 'conv-preview' + (p.typing ? ' is-typing' : '') }, [p.text]),
          c.status === 'closed' ? h('span', { class: 'pill' }, ['Closed'])
            : (c.assigned_agent_id && S.tab === 'all' && c.assigned_agent_id !== S.me.id
              ? h('span', { class: 'pill' }, [c.assigned_agent_id]) : null),
          unread ? h('span', { class: 'conv-badge', 'aria-label': unread + ' unread' }, [unread > 9 ? '9+' : String(unread)]) : null,
        ]),
      ]),
    ]);
    ui.list.appendChild(li);
  }
  ui.listEmpty.hidden = items.length > 0;
  text(ui.listEmpty, S.tab === 'unassigned' ? 'No unassigned conversations. Nice!'
    : S.tab === 'mine' ? 'No open conversations assigned to you.' : 'No conversations yet.');
}

function totalUnread() {
  let n = 0;
  for (const [id, k] of S.unread) {
    const c = S.convs.get(id);
    if (c && c.status === 'open' && k > 0) n += k;
  }
  return n;
}

function renderTitle() {
  const n = totalUnread();
  document.title = (n > 0 ? '(' + n + ') ' : '') + 'Inbox · Chatvisor';
}

function markRead(id) {
  const c = S.convs.get(id);
  const seq = Math.max(Number(c && c.last_seq) || 0, (S.chat && S.chat.id === id && S.chat.cursor) || 0,
    Number(c && c.last_message && c.last_message.seq) || 0);
  if (S.unread.get(id)) S.unread.delete(id);
  if (seq > (S.read[id] || 0)) {
    S.read[id] = seq;
    const keys = Object.keys(S.read);
    if (keys.length > 500) for (const k of keys.slice(0, keys.length - 500)) delete S.read[k];
    store(readKey(), S.read);
  }
  renderList();
  renderTitle();
}

// ---------------------------------------------------------------------------
// the open conversation

function canWrite() {
  const c = S.openId && S.convs.get(S.openId);
  return !!c && c.status === 'open';
}

async function openConversation(id, opts) {
  if (!ui || !id) return;
  const o = opts || {};
  if (S.openId !== id || !S.chat) {
    S.openId = id;
    S.chat = { id, cursor: 0, items: [], bySeq: new Map(), byId: new Map(), byClient: new Map(), loading: null, lastTyping: 0 };
    clear(ui.log);
    ui.input.value = '';
    ui.send.disabled = true;
    hideTyping();
  }
  const hash = '#conversation=' + encodeURIComponent(id);
  if (location.hash !== hash) history.replaceState(null, '', hash);
  document.querySelector('.app').classList.add('has-open');
  ui.chatEmpty.hidden = true;
  ui.chatMain.hidden = false;
  let c = S.convs.get(id);
  if (!c || !c.customer) c = (await fetchConversation(id)) || c;
  if (S.openId !== id) return;
  if (!c) {
    ui.chatMain.hidden = true;
    ui.chatEmpty.hidden = false;
    S.openId = null;
    S.chat = null;
    toast('That conversation does not exist or is not yours to see.', 'error');
    renderList();
    return;
  }
  if (o.fromHash) {
    // show it in a tab that lists it
    if (!inTab(c, S.tab)) S.tab = ['mine', 'unassigned', 'all'].find((t) => inTab(c, t)) || 'all';
  }
  renderChatHead();
  renderList();
  await syncOpen();
  markRead(id);
  if (!o.fromHash && window.matchMedia('(pointer: fine)').matches) ui.input.focus({ preventScroll: true });
}

function closeView() {
  document.querySelector('.app').classList.remove('has-open');
}

function toggleDetails() {
  const app = document.querySelector('.app');
  const on = !app.classList.contains('show-details');
  app.classList.toggle('show-details', on);
  ui.infoBtn.setAttribute('aria-pressed', String(on));
}

function renderChatHead() {
  const c = S.convs.get(S.openId);
  if (!c) return;
  const name = nameOf(c);
  text(ui.chatName, name);
  clear(ui.chatAvatar);
  ui.chatAvatar.className = 'avatar ' + colorClass(c.customer_id);
  ui.chatAvatar.textContent = initials(name);
  const assigned = c.assigned_agent_id ? (c.assigned_agent_id === S.me.id ? 'Assigned to you' : 'Assigned to ' + c.assigned_agent_id)
    : 'Unassigned';
  text(ui.chatSub, (c.status === 'closed' ? 'Closed · ' : '') + assigned);
  ui.assignBtn.hidden = c.status !== 'open' || c.assigned_agent_id === S.me.id;
  ui.closeBtn.hidden = c.status !== 'open';
  const open = c.status === 'open';
  ui.closedNote.hidden = open;
  ui.composer.classList.toggle('disabled', !open);
  ui.input.disabled = !open;
  ui.input.placeholder = open ? 'Reply to ' + name + '…' : 'This conversation is closed';
  ui.send.disabled = !open || ui.input.value.trim() === '';
  renderDetails(c);
}

function field(label, value, cls) {
  if (value == null || value === '') return null;
  return h('div', { class: 'field' + (cls ? ' ' + cls : '') }, [
    h('dt', {}, [label]),
    h('dd', {}, [typeof value === 'string' ? value : value]),
  ]);
}

function renderDetails(c) {
  const cu = c.customer || {};
  const name = nameOf(c);
  clear(ui.details);
  const labels = Array.isArray(cu.labels) ? cu.labels.filter((l) => typeof l === 'string' || typeof l === 'number') : [];
  const pageUrl = c.page_url || cu.page_url;
  const href = safeHttpUrl(pageUrl);
  const fullName = [cu.firstname, cu.lastname].filter((x) => typeof x === 'string' && x).join(' ');
  append(ui.details, [
    h('div', { class: 'details-head' }, [
      h('span', { class: 'avatar large ' + colorClass(c.customer_id), 'aria-hidden': 'true' }, [initials(name)]),
      h('h3', { class: 'details-name' }, [name]),
      typeof cu.email === 'string' && cu.email ? h('div', { class: 'details-email' }, [cu.email]) : null,
    ]),
    labels.length ? h('ul', { class: 'chips', 'aria-label': 'Labels' }, labels.map((l) => h('li', { class: 'chip' }, [String(l)]))) : null,
    h('dl', { class: 'fields' }, [
      field('Name', fullName || null),
      field('Email', typeof cu.email === 'string' ? cu.email : null),
      field('External ID', cu.id != null && cu.id !== '' ? String(cu.id) : null, 'mono'),
      field('Customer ID', c.customer_id || cu.customer_id, 'mono'),
      field('Page', href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'page-link' }, [pageUrl])
        : (pageUrl ? String(pageUrl) : null), 'wrap'),
      field('Customer since', fullTime(cu.created_at) || null),
      field('Conversation', c.id, 'mono'),
      field('Started', fullTime(c.created_at) || null),
      field('Status', c.status === 'open' ? 'Open' : 'Closed'),
      field('Assigned to', c.assigned_agent_id ? (c.assigned_agent_id === S.me.id ? 'You' : c.assigned_agent_id) : 'Nobody'),
    ]),
  ]);
}

// Fetches what the open conversation's stream has after our cursor. Calls
// are serialized; one asked for while another runs is done after it.
function syncOpen() {
  const chat = S.chat;
  if (!chat) return Promise.resolve();
  if (chat.loading) {
    chat.again = true;
    return chat.loading;
  }
  chat.loading = (async () => {
    do {
      chat.again = false;
      for (let i = 0; i < 50; i++) {
        let r;
        try {
          r = await api.get('conversations/' + encodeURIComponent(chat.id) + '/events?after=' + chat.cursor);
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) return showLoggedOut(document.getElementById('app'));
          if (S.chat === chat) toast(errorText(e, 'Loading the conversation'), 'error');
          return undefined;
        }
        if (S.chat !== chat) return undefined;
        const events = (r && r.events) || [];
        for (const ev of events) applyChatEvent(chat, ev);
        const next = Number(r && r.cursor) || chat.cursor;
        const moved = next > chat.cursor;
        if (moved) chat.cursor = next;
        if (!events.length || !moved) break;
      }
    } while (chat.again && S.chat === chat);
    return undefined;
  })().finally(() => { chat.loading = null; });
  return chat.loading;
}

function applyChatEvent(chat, ev) {
  if (!ev || typeof ev !== 'object') return;
  const seq = Number(ev.seq) || 0;
  if (ev.type === 'typing') return;
  if (ev.type === 'message' && ev.message) {
    addMessage(chat, ev.message);
  } else if (ev.type === 'agent_joined') {
    const a = ev.agent || {};
    addLine(chat, seq, (a.id === S.me.id ? 'You' : (a.name || a.id || 'An agent')) + ' joined the conversation');
  } else if (ev.type === 'agent_left') {
    const a = ev.agent || {};
    addLine(chat, seq, (a.id === S.me.id ? 'You' : (a.name || a.id || 'An agent')) + ' left the conversation');
  } else if (ev.type === 'closed') {
    const b = ev.by || {};
    const who = b.type === 'agent' ? (b.id === S.me.id ? 'you' : (b.name || b.id)) : b.type === 'customer' ? 'the customer' : 'the system';
    addLine(chat, seq, 'Conversation closed by ' + who);
  } else if (ev.type === 'cobrowse_request') {
    addLine(chat, seq, 'Co-browsing requested');
  }
  if (seq > chat.cursor && ev.type !== 'message') chat.cursor = Math.max(chat.cursor, seq);
}

const nearBottom = (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 120;

function place(chat, item) {
  const stick = nearBottom(ui.log) || item.mine;
  const at = chat.items.indexOf(item);
  if (at >= 0) chat.items.splice(at, 1);
  if (item.el.parentNode) item.el.remove();
  let i = chat.items.length;
  if (item.seq != null) {
    i = chat.items.findIndex((o) => o.seq == null || o.seq > item.seq);
    if (i < 0) i = chat.items.length;
  }
  ui.log.insertBefore(item.el, i < chat.items.length ? chat.items[i].el : null);
  chat.items.splice(i, 0, item);
  for (const k of [i, i + 1]) {
    const it = chat.items[k];
    if (!it || !it.nameEl) continue;
    const prev = chat.items[k - 1];
    it.nameEl.hidden = !!(prev && prev.authorKey && prev.authorKey === it.authorKey);
  }
  if (stick) ui.log.scrollTop = ui.log.scrollHeight;
}

function messageItem(message) {
  const a = message.author || {};
  const mine = a.type === 'agent' && a.id === S.me.id;
  const side = a.type === 'customer' ? 'them' : a.type === 'system' ? 'system' : 'us';
  const bubble = h('div', { class: 'bubble' });
  bubble.textContent = message.text == null ? '' : String(message.text);
  const time = h('time', { class: 'msg-time', datetime: message.created_at || '', title: fullTime(message.created_at) },
    [clockTime(message.created_at)]);
  const meta = h('div', { class: 'msg-meta' }, [time]);
  const label = a.type === 'customer' ? nameOf(S.convs.get(S.openId)) : mine ? 'You'
    : a.type === 'system' ? (a.name || 'System') : (a.name || a.id || 'Agent');
  const nameEl = h('div', { class: 'msg-author' }, [label]);
  const el = h('div', { class: 'msg ' + side + (mine ? ' mine' : ''), 'data-seq': message.seq != null ? String(message.seq) : false },
    [nameEl, bubble, meta]);
  return { el, bubble, meta, time, nameEl, mine, authorKey: a.type + ':' + (a.id || ''), seq: null };
}

function addMessage(chat, message) {
  if (!message) return;
  if (message.id && chat.byId.has(message.id)) return;
  let item = message.client_msg_id ? chat.byClient.get(message.client_msg_id) : null;
  if (item) {
    chat.byClient.delete(message.client_msg_id);
    setPending(item, null);
    text(item.time, clockTime(message.created_at));
    item.el.setAttribute('data-seq', String(message.seq));
  } else {
    item = messageItem(message);
  }
  if (message.id) chat.byId.set(message.id, item);
  item.seq = Number(message.seq) || 0;
  if (item.seq > chat.cursor) chat.cursor = item.seq;
  place(chat, item);
  if (message.author && message.author.type === 'customer') hideTyping();
}

function addLine(chat, seq, label) {
  if (chat.bySeq.has(seq)) return;
  const el = h('div', { class: 'sys-line', role: 'status' }, [h('span', {}, [label])]);
  const item = { el, seq, authorKey: 'line' };
  chat.bySeq.set(seq, item);
  place(chat, item);
}

function setPending(item, state, retry) {
  item.el.classList.toggle('pending', state === 'pending');
  item.el.classList.toggle('failed', state === 'failed');
  if (item.status) item.status.remove();
  item.status = null;
  if (!state) return;
  item.status = h('span', { class: 'msg-status' }, [state === 'pending' ? 'Sending…' : 'Not sent.']);
  if (state === 'failed' && retry) {
    item.status.appendChild(document.createTextNode(' '));
    item.status.appendChild(h('button', { type: 'button', class: 'link-btn retry', onclick: retry }, ['Retry']));
  }
  item.meta.appendChild(item.status);
}

function submit() {
  const chat = S.chat;
  const value = ui.input.value.trim();
  if (!chat || !value || !canWrite()) return;
  ui.input.value = '';
  ui.send.disabled = true;
  const clientMsgId = 'a-' + randomId(12);
  chat.lastTyping = 0;
  const item = messageItem({ author: { type: 'agent', id: S.me.id, name: S.me.name }, text: value, created_at: new Date().toISOString() });
  chat.byClient.set(clientMsgId, item);
  setPending(item, 'pending');
  place(chat, item);
  deliver(chat, clientMsgId, value, item);
}

async function deliver(chat, clientMsgId, value, item) {
  let delay = BACKOFF_MIN_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const m = await api.post('conversations/' + encodeURIComponent(chat.id) + '/messages', { text: value, client_msg_id: clientMsgId });
      if (S.chat === chat) addMessage(chat, m);
      const c = S.convs.get(chat.id);
      if (c && m && (!c.last_message || (Number(m.seq) || 0) >= (Number(c.last_message.seq) || 0))) {
        c.last_message = m;
        c.updated_at = m.created_at || c.updated_at;
        renderList();
      }
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return showLoggedOut(document.getElementById('app'));
      const transient = !(e instanceof ApiError) || e.status === 0 || e.status === 429 || e.status >= 500;
      if (transient && attempt < 3) {
        await sleep(delay);
        delay *= 2;
        continue;
      }
      setPending(item, 'failed', () => {
        setPending(item, 'pending');
        deliver(chat, clientMsgId, value, item);
      });
      if (!transient) toast(errorText(e, 'Sending'), 'error');
      return;
    }
  }
}

function sendTyping() {
  const chat = S.chat;
  if (!chat || !canWrite()) return;
  const now = Date.now();
  if (now - chat.lastTyping < TYPING_EVERY_MS) return;
  chat.lastTyping = now;
  api.post('conversations/' + encodeURIComponent(chat.id) + '/typing', { typing: true }).catch(() => {});
}

let typingTimer = 0;
function showTyping(label) {
  text(ui.typingText, label);
  ui.typing.hidden = false;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
}
function hideTyping() {
  clearTimeout(typingTimer);
  if (ui) ui.typing.hidden = true;
}

async function assignToMe() {
  const id = S.openId;
  if (!id) return;
  ui.assignBtn.disabled = true;
  try {
    const c = await api.post('conversations/' + encodeURIComponent(id) + '/assign', {});
    upsert(c);
    // follow it into Mine
    if (S.openId === id && !inTab(S.convs.get(id), S.tab)) selectTab('mine');
    renderAll();
    if (S.openId === id) syncOpen();
  } catch (e) {
    toast(errorText(e, 'Assigning'), 'error');
  } finally {
    ui.assignBtn.disabled = false;
  }
}

async function closeConversation() {
  const id = S.openId;
  if (!id) return;
  ui.closeBtn.disabled = true;
  try {
    const c = await api.post('conversations/' + encodeURIComponent(id) + '/close', {});
    upsert(c);
    S.unread.delete(id);
    renderAll();
    if (S.openId === id) syncOpen();
  } catch (e) {
    toast(errorText(e, 'Closing'), 'error');
  } finally {
    ui.closeBtn.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// live updates: one long-poll over the global event log

async function pollLoop() {
  let delay = BACKOFF_MIN_MS;
  let quick = 0;
  const ctl = new AbortController();
  S.pollAbort = ctl;
  while (!S.stopped) {
    const started = Date.now();
    try {
      const r = await api.get('events?after=' + S.cursor, { signal: ctl.signal });
      delay = BACKOFF_MIN_MS;
      const events = (r && r.events) || [];
      for (const ev of events) {
        try { applyEvent(ev); } catch (e) { /* one odd event must not stop the loop */ }
      }
      if (r && Number(r.cursor) > S.cursor) S.cursor = Number(r.cursor);
      renderAll();
      // answers that keep coming back empty at once must not make us spin
      quick = !events.length && Date.now() - started < 300 ? quick + 1 : 0;
      if (quick >= 3) await sleep(1000);
    } catch (e) {
      if (S.stopped || (e && e.name === 'AbortError')) return;
      if (e instanceof ApiError && e.status === 401) {
        showLoggedOut(document.getElementById('app'));
        return;
      }
      await sleep(delay + Math.floor(Math.random() * 300));
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}

function applyEvent(ev) {
  if (!ev || typeof ev !== 'object') return;
  const id = ev.conversation_id || (ev.conversation && ev.conversation.id);
  if (ev.type === 'typing') {
    const a = ev.author || {};
    if (!id || (a.type === 'agent' && a.id === S.me.id)) return;
    const c = S.convs.get(id);
    const label = a.type === 'customer' ? nameOf(c) : (a.name || a.id || 'An agent');
    S.typing.set(id, { until: Date.now() + TYPING_SHOW_MS, customer: a.type === 'customer' });
    setTimeout(() => renderList(), TYPING_SHOW_MS + 50);
    if (id === S.openId) showTyping(label + ' is typing…');
    return;
  }
  if (!id) return;
  const known = S.convs.has(id);
  let c = ev.conversation ? upsert(Object.assign({ id }, ev.conversation)) : S.convs.get(id);
  if (!known || !c || !c.customer) fetchConversation(id);
  c = S.convs.get(id);
  if (ev.type === 'message.created' && ev.message) {
    const m = ev.message;
    if (c) {
      if (!c.last_message || (Number(m.seq) || 0) >= (Number(c.last_message.seq) || 0)) c.last_message = m;
      if (m.created_at && (parseTime(m.created_at) || 0) > (parseTime(c.updated_at) || 0)) c.updated_at = m.created_at;
    }
    const fromCustomer = m.author && m.author.type === 'customer';
    if (fromCustomer) {
      S.typing.delete(id);
      const viewing = id === S.openId && !document.hidden;
      if (!viewing) S.unread.set(id, (S.unread.get(id) || 0) + 1);
      if (document.hidden && relevant(c)) alertAgent(nameOf(c), m.text, id);
    }
    if (id === S.openId && S.chat) {
      addMessage(S.chat, m);
      if (!document.hidden) markRead(id);
    }
  } else if (ev.type === 'conversation.created') {
    if (document.hidden) alertAgent('New conversation', nameOf(c) + ' started a conversation', id);
  } else if (ev.type === 'conversation.closed') {
    S.unread.delete(id);
  }
  if (id === S.openId && S.chat && ev.type !== 'message.created') syncOpen();
  // the open conversation became mine (my reply took it, say): follow it
  if (id === S.openId && c && c.assigned_agent_id === S.me.id && S.tab === 'unassigned' && c.status === 'open') {
    S.tab = 'mine';
    store('chatvisor:agent:tab', S.tab);
  }
}

// Mine, or nobody's: those an agent wants to hear about.
function relevant(c) {
  return !c || !c.assigned_agent_id || c.assigned_agent_id === S.me.id;
}

let lastAlert = 0;
function alertAgent(title, body, id) {
  const now = Date.now();
  if (S.sound && now - lastAlert > 1500) beep();
  lastAlert = now;
  showNotification(title, body, 'chatvisor-' + id, () => openConversation(id));
}

// ---------------------------------------------------------------------------

function start() {
  boot().catch((e) => {
    const root = document.getElementById('app') || document.body;
    showFatal(root, 'The inbox could not start: ' + (e && e.message ? e.message : String(e)));
  });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
