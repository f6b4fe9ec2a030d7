// The page's JS API (docs/widget-api.md; types in docs/chatvisor.d.ts):
//
//   Chatvisor.open() / close() / toggle()       the panel
//   Chatvisor.hide() / show()                   the whole widget (launcher)
//   Chatvisor.isAgentOnline()                   an agent was online when
//                                               the page was served
//   Chatvisor.shouldShowWebchat()               the widget is shown
//   Chatvisor.identify({id, email, firstname, lastname, labels, signature})
//                                               -> Promise<{id, moved}>
//   Chatvisor.on(event, fn) / off(event, fn)    ready, open, close,
//                                               message (the message),
//                                               unread (the count)
//
// window.Chatvisor exists once the widget has loaded. Calls made earlier
// wait in window.ChatvisorQueue as [name, ...args] arrays and are replayed
// in order on load; from then on the queue's push() calls at once. The
// window then gets a 'chatvisor:ready' event (detail: the API).
//
// identify() with an id needs its signature, made by the site's backend
// (hex HMAC-SHA256 of the id under chatvisor_identity_secret); the server
// refuses an id without a valid one. When the visitor becomes another
// customer, the widget is drawn again for that customer's chat.
import { request } from '../shared/http.js';

const EVENTS = ['ready', 'open', 'close', 'message', 'unread'];
const FIELDS = ['id', 'email', 'firstname', 'lastname', 'labels', 'signature'];
// message ids remembered to tell each message once
const SEEN_MAX = 1000;

// start(mount, edgeIdentify): mount(hooks) draws the widget with a new chat
// and returns it ({host, chat, open, close, isOpen, destroy}); the widget
// tells the API of open/close and the unread count through hooks
export function createApi(win, { prefix, online }) {
  const listeners = new Map(EVENTS.map((e) => [e, new Set()]));
  const seen = new Set();
  let widget = null;
  let mountFn = null;
  let hidden = false;
  let ready = false;

  function emit(event, arg) {
    for (const fn of Array.from(listeners.get(event))) {
      try { fn(arg); } catch (e) { console.error('[chatvisor]', e); }
    }
  }

  const hooks = {
    openChange: (open) => emit(open ? 'open' : 'close'),
    unread: (n) => emit('unread', n),
    // stored messages after the history load (history is not news)
    message: (message) => {
      if (!message || !message.id || seen.has(message.id)) return;
      if (seen.size >= SEEN_MAX) seen.clear();
      seen.add(message.id);
      emit('message', message);
    },
  };

  function remount() {
    const wasOpen = widget && widget.isOpen();
    if (widget) widget.destroy();
    seen.clear();
    widget = mountFn(hooks);
    widget.root.hidden = hidden;
    // the history's messages are not news: those after it are
    let loaded = false;
    widget.chat.subscribe((event) => {
      if (!event) return;
      if (event.type === 'history') loaded = true;
      else if (event.type === 'message' && event.message && event.message.id) {
        if (loaded) hooks.message(event.message);
        else seen.add(event.message.id);
      }
    });
    if (wasOpen) widget.open();
  }

  async function identify(fields) {
    const body = {};
    for (const k of FIELDS) {
      if (fields && fields[k] !== undefined) body[k] = fields[k];
    }
    const answer = await request(prefix + 'v1/visitor/identify', { method: 'POST', body });
    // another customer now: their chat, not the one on screen
    if (answer && answer.moved && widget) remount();
    return answer;
  }

  const api = {
    open() { if (widget) widget.open(); },
    close() { if (widget) widget.close(); },
    toggle() { if (widget) (widget.isOpen() ? widget.close() : widget.open()); },
    hide() {
      hidden = true;
      if (widget) { widget.close(); widget.root.hidden = true; }
    },
    show() {
      hidden = false;
      if (widget) widget.root.hidden = false;
    },
    isAgentOnline() { return !!online; },
    // the edge shows the widget only where its rules say so: it is on
    // this page, so it should show unless the page hid it
    shouldShowWebchat() { return !hidden; },
    identify,
    on(event, fn) {
      if (!listeners.has(event) || typeof fn !== 'function') return;
      listeners.get(event).add(fn);
      if (event === 'ready' && ready) {
        try { fn(api); } catch (e) { console.error('[chatvisor]', e); }
      }
    },
    off(event, fn) {
      if (listeners.has(event)) listeners.get(event).delete(fn);
    },
  };

  function call(item) {
    if (!Array.isArray(item) || typeof api[item[0]] !== 'function') {
      console.warn('[chatvisor] unknown call in ChatvisorQueue:', item);
      return undefined;
    }
    const out = api[item[0]](...item.slice(1));
    // a queued identify() has nobody to tell of its failure but the console
    if (out && typeof out.catch === 'function') out.catch((e) => console.warn('[chatvisor]', item[0], e.message));
    return out;
  }

  // Starts the widget: the identification the edge asked for and the
  // queued identify() calls first (so the first history loaded is the
  // right customer's), then mount, then the rest of the queue in order.
  async function start(mount, edgeIdentify) {
    mountFn = mount;
    const queue = Array.isArray(win.ChatvisorQueue) ? win.ChatvisorQueue.slice() : [];
    if (edgeIdentify) {
      await identify({}).catch((e) => console.warn('[chatvisor] identify', e.message));
    }
    const rest = [];
    for (const item of queue) {
      if (Array.isArray(item) && item[0] === 'identify') {
        await Promise.resolve(call(item)).catch(() => {});
      } else {
        rest.push(item);
      }
    }
    remount();
    win.Chatvisor = api;
    // calls pushed while the identifications above ran come last, in order
    const later = Array.isArray(win.ChatvisorQueue) ? win.ChatvisorQueue.slice(queue.length) : [];
    const q = [];
    q.push = (...items) => { items.forEach(call); return 0; };
    win.ChatvisorQueue = q;
    rest.concat(later).forEach(call);
    ready = true;
    emit('ready', api);
    try {
      win.dispatchEvent(new win.CustomEvent('chatvisor:ready', { detail: api }));
    } catch (e) { /* no CustomEvent: the on('ready') listeners had it */ }
  }

  return { api, start };
}
