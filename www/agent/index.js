// The agent console, served at PREFIX agent/ (docs/chat-endpoints.md):
// conversation list (Unassigned / Mine / All), chat view with history and
// composer, customer panel, assign / close, own status, notifications.
// Live updates come from one long-poll over the global event log
// (GET v1/agent/events?after=GSEQ). Every text goes in as textContent.
//
// This file starts it: GET me, then the parts, wired to each other:
//   store.js               the conversations known, unread, read marks
//   conversation-list.js   tabs and the list
//   conversation-view.js   the open conversation: head, actions, and in it
//     thread.js            its messages and who is typing
//     composer.js          the reply box
//     cobrowse-view.js     co-browsing: the button and the live view
//   details.js             the customer panel
//   me.js                  the agent's status, sound, notifications, log out
//   events.js              the long-poll and what each event changes
//   notify.js              beep, desktop notifications, the title's count
//   route.js               #conversation=ID in the address
//   gate.js, toasts.js     the screens instead of the inbox; the toasts
import { createApi } from './api.js';
import { HttpError } from '../shared/http.js';
import { retrying } from '../shared/retry.js';
import { h, append, clear, icon } from './dom.js';
import { showLoading, showLoggedOut, showFatal } from './gate.js';
import { createToasts, errorText } from './toasts.js';
import { unlockAudio, createAlerts, showUnreadInTitle } from './notify.js';
import { conversationInHash, onConversationHash } from './route.js';
import { createStore } from './store.js';
import { createConversationList } from './conversation-list.js';
import { createThread } from './thread.js';
import { createComposer } from './composer.js';
import { createDetails } from './details.js';
import { createConversationView } from './conversation-view.js';
import { createCobrowseView } from './cobrowse-view.js';
import { createMe } from './me.js';
import { createEvents } from './events.js';

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

const prefix = findPrefix();
const api = createApi(prefix);

async function boot() {
  const root = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app' }));
  showLoading(root);
  let r;
  try {
    r = await retrying(() => api.get('me'));
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return showLoggedOut(root);
    return showFatal(root, 'The inbox could not be loaded (' + (e.message || e.status) + ').');
  }
  const me = r.agent || {};
  api.setCsrf(r.csrf_token);

  let ended = false;
  function loggedOut(byAgent) {
    ended = true;
    events.stop();
    showLoggedOut(root, byAgent);
  }
  // after a logout nothing opens (a notification clicked late, say)
  const open = (id, opts) => (ended ? undefined : view.open(id, opts));
  const renderTitle = () => showUnreadInTitle(store.totalUnread());
  function renderAll() {
    list.render();
    renderTitle();
    view.renderHead();
  }

  const toasts = createToasts();
  const toast = toasts.show;
  const alerts = createAlerts();
  const store = createStore({ api, me, onFetched: renderAll });
  const thread = createThread({ api, me, store, toast, onLoggedOut: () => loggedOut() });
  const composer = createComposer({ api, store, thread, toast, onSent: () => list.render(), onLoggedOut: () => loggedOut() });
  const details = createDetails({ me });
  const list = createConversationList({ store, me, openId: () => thread.id, onOpen: (id) => open(id) });
  const cobrowse = createCobrowseView({ api, prefix, toast });
  const view = createConversationView({
    root, api, me, store, thread, composer, details, list, cobrowse, toast,
    onChange: renderAll,
    onRead: () => {
      list.render();
      renderTitle();
    },
  });
  const mine = createMe({
    api, me, status: r.status || 'offline', alerts, toast,
    ended: () => ended, onLoggedOut: () => loggedOut(), onLogout: () => loggedOut(true),
  });
  const events = createEvents({
    api, me, cursor: Number(r.cursor) || 0, store, thread, list, alerts,
    onAnswer: renderAll, onOpen: (id) => open(id), onRead: (id) => view.markRead(id), onLoggedOut: () => loggedOut(),
  });

  clear(root);
  root.className = 'app';
  append(root, [
    h('aside', { class: 'sidebar' }, [
      h('header', { class: 'brand' }, [h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, [icon('chat')]),
        h('span', { class: 'brand-name' }, ['Inbox'])]),
      mine.el, list.tablist, list.listWrap,
    ]),
    view.el, details.el, toasts.el,
  ]);

  try {
    await store.load();
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return loggedOut();
    toast(errorText(e, 'Loading conversations'), 'error');
  }
  renderAll();
  const wanted = conversationInHash();
  if (wanted) open(wanted, { fromHash: true });
  events.run();
  // GET me tells the effective status, "offline" until this console's poll
  // has made us online: ask again once it runs, and now and then (an
  // integrator may set it through the REST API)
  setTimeout(mine.refresh, 1500);
  setInterval(mine.refresh, 60000);
  setInterval(() => { list.render(); }, 30000);
  onConversationHash((id) => {
    if (id !== thread.id) open(id, { fromHash: true });
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && thread.id) view.markRead(thread.id);
  });
  document.addEventListener('pointerdown', unlockAudio, { capture: true });
  document.addEventListener('keydown', unlockAudio, { capture: true });
  return undefined;
}

function start() {
  boot().catch((e) => {
    const root = document.getElementById('app') || document.body;
    showFatal(root, 'The inbox could not start: ' + (e && e.message ? e.message : String(e)));
  });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
