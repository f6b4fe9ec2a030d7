// Launcher and chat panel, rendered into a shadow root so the page's CSS
// cannot reach it. Every text from the settings goes in with textContent.
import { createSheet } from './styles.js';
import { format } from './i18n.js';
import { createReveal } from './reveal.js';
import { createPrechat } from './prechat.js';
import { TYPING_SHOW_MS } from '../shared/typing.js';
import { element, svgIcon, sendOnEnter } from '../shared/dom.js';

const h = element;

// `stroke`: an outline instead of a filled shape
function icon(doc, cls, d, stroke) {
  return svgIcon(doc, cls, d, stroke ? '2.2' : null);
}

const ICON_CHAT = 'M12 3C6.48 3 2 6.92 2 11.75c0 2.47 1.18 4.7 3.08 6.29-.2 1.33-.83 2.58-1.85 3.56 '
  + '2.06.12 3.94-.55 5.34-1.66 1.1.3 2.25.46 3.43.46 5.52 0 10-3.92 10-8.75S17.52 3 12 3z';
const ICON_DOWN = 'M6 9.5l6 6 6-6';
const ICON_CLOSE = 'M6.5 6.5l11 11M17.5 6.5l-11 11';
const ICON_SEND = 'M3.4 20.4l17.45-7.48a1 1 0 000-1.84L3.4 3.6a.99.99 0 00-1.39.91L2 9.12c0 .5.37.93.87.99L17 '
  + '12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z';

// hooks (api.js): openChange(open) and unread(count), told as they change
export function mountWidget(doc, config, texts, chat, hooks) {
  const win = doc.defaultView;
  const tell = hooks || {};
  const host = doc.createElement('chatvisor-widget');
  const shadow = host.attachShadow({ mode: 'open' });
  shadow.adoptedStyleSheets = [createSheet(config.color)];

  const launcher = h(doc, 'button', {
    type: 'button', class: 'launcher', part: 'launcher',
    'aria-label': texts.launcher, title: texts.launcher,
    'aria-expanded': 'false', 'aria-controls': 'cv-panel', 'aria-haspopup': 'dialog',
  }, [icon(doc, 'icon icon-chat', ICON_CHAT), icon(doc, 'icon icon-close', ICON_DOWN, true)]);

  const title = h(doc, 'h2', { class: 'title', id: 'cv-title' });
  title.textContent = texts.title;
  const closeBtn = h(doc, 'button', { type: 'button', class: 'close', 'aria-label': texts.close, title: texts.close },
    [icon(doc, 'icon', ICON_CLOSE, true)]);
  const header = h(doc, 'div', { class: 'header' },
    [h(doc, 'div', { class: 'avatar', 'aria-hidden': 'true' }, [icon(doc, '', ICON_CHAT)]), title, closeBtn]);

  const log = h(doc, 'div', {
    class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': texts.messages, tabindex: '0',
  });

  const input = h(doc, 'textarea', {
    class: 'input', rows: '1', 'aria-label': texts.composer, placeholder: texts.placeholder,
    autocomplete: 'off', maxlength: '4000',
  });
  const sendBtn = h(doc, 'button', { type: 'submit', class: 'send', 'aria-label': texts.send, title: texts.send, disabled: true },
    [icon(doc, 'icon', ICON_SEND)]);
  const composer = h(doc, 'form', { class: 'composer', novalidate: true }, [input, sendBtn]);

  // the offline notice over the log, the pre-chat form over the composer
  const prechat = createPrechat({ win, doc, config, texts, input });
  const panel = h(doc, 'div', {
    class: 'panel', id: 'cv-panel', role: 'dialog', 'aria-label': texts.title, hidden: true,
  }, [header, prechat.banner, log, prechat.thanks, prechat.form, composer]);

  const root = h(doc, 'div', {
    class: 'root' + (config.position === 'left' ? ' left' : ''), lang: config.language, dir: 'ltr',
  }, [launcher, panel]);
  shadow.appendChild(root);

  const typingText = h(doc, 'span', { class: 'typing-text' });
  const typingRow = h(doc, 'div', { class: 'typing', 'aria-live': 'polite', hidden: true },
    [h(doc, 'span', { class: 'dots', 'aria-hidden': 'true' }, [h(doc, 'i'), h(doc, 'i'), h(doc, 'i')]), typingText]);
  panel.insertBefore(typingRow, composer);

  const badge = h(doc, 'span', { class: 'badge', 'aria-hidden': 'true', hidden: true });
  launcher.appendChild(badge);

  // chatvisor_show_after: the launcher waits that long on the first page of
  // a visit (tab session); later pages, a visitor who already has a
  // conversation, and an opened panel show it at once (reveal.js)
  const reveal = createReveal(win, config.showAfterMs, (hidden) => { launcher.hidden = hidden; });

  // ---- the message list ----------------------------------------------------
  // Items are ordered by (conversation, seq); local messages not stored yet
  // stay at the end until the server gives them their place.
  const items = [];                 // {el, key: [conv, seq] | null, author}
  const byId = new Map();           // message id / "conv:seq" of a system line -> item
  const byClient = new Map();       // client_msg_id -> item
  const convIndex = new Map();      // conversation id -> order of appearance
  const convOf = (id) => {
    if (!convIndex.has(id)) convIndex.set(id, convIndex.size + 1);
    return convIndex.get(id);
  };
  const cmp = (a, b) => (a[0] - b[0]) || (a[1] - b[1]);

  const nearBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 80;

  function place(item) {
    const stick = nearBottom() || (item.author && item.author.type === 'customer');
    if (item.el.parentNode) item.el.remove();
    const at = items.indexOf(item);
    if (at >= 0) items.splice(at, 1);
    let i = items.length;
    if (item.key) {
      i = items.findIndex((o) => !o.key || cmp(o.key, item.key) > 0);
      if (i < 0) i = items.length;
    }
    log.insertBefore(item.el, i < items.length ? items[i].el : null);
    items.splice(i, 0, item);
    refreshAuthor(i);
    refreshAuthor(i + 1);
    if (stick) log.scrollTop = log.scrollHeight;
  }

  // An agent's name over the first of their bubbles in a row.
  function refreshAuthor(i) {
    const item = items[i];
    if (!item || !item.nameEl) return;
    const prev = items[i - 1];
    const same = prev && prev.author && item.author && prev.author.type === item.author.type
      && (prev.author.id || '') === (item.author.id || '');
    item.nameEl.hidden = !!same;
  }

  function authorName(author) {
    return (author && (author.name || author.id)) || texts.agent;
  }

  function messageItem(message) {
    const mine = message.author && message.author.type === 'customer';
    const bubble = h(doc, 'div', { class: 'bubble' });
    bubble.textContent = message.text == null ? '' : String(message.text);
    const el = h(doc, 'div', { class: 'msg ' + (mine ? 'customer' : 'agent') });
    const item = { el, bubble, key: null, author: message.author || null };
    if (!mine) {
      item.nameEl = h(doc, 'div', { class: 'author' });
      item.nameEl.textContent = authorName(message.author);
      el.appendChild(item.nameEl);
    }
    el.appendChild(bubble);
    if (message.created_at) {
      const when = new Date(message.created_at);
      if (!isNaN(when)) bubble.setAttribute('title', when.toLocaleString(config.language));
    }
    return item;
  }

  function setMeta(item, text, retryId) {
    if (item.meta) item.meta.remove();
    item.meta = null;
    item.el.classList.toggle('pending', text === texts.sending);
    item.el.classList.toggle('failed', !!retryId);
    if (!text) return;
    item.meta = h(doc, 'div', { class: 'meta' });
    item.meta.textContent = text;
    if (retryId) {
      const btn = h(doc, 'button', { type: 'button', class: 'retry' });
      btn.textContent = texts.retry;
      btn.addEventListener('click', () => {
        setMeta(item, texts.sending);
        chat.retry(retryId);
      });
      item.meta.appendChild(doc.createTextNode(' '));
      item.meta.appendChild(btn);
    }
    item.el.appendChild(item.meta);
  }

  function addPending(message) {
    const item = messageItem(message);
    setMeta(item, texts.sending);
    byClient.set(message.client_msg_id, item);
    place(item);
  }

  function addMessage(message) {
    if (!message || !message.id || byId.has(message.id)) return false;
    let item = message.client_msg_id ? byClient.get(message.client_msg_id) : null;
    if (item) {
      byClient.delete(message.client_msg_id);
      setMeta(item, null);
    } else {
      item = messageItem(message);
    }
    byId.set(message.id, item);
    item.key = [convOf(message.conversation_id), Number(message.seq) || 0];
    place(item);
    return true;
  }

  function addLine(conversationId, seq, text) {
    const id = conversationId + ':' + seq;
    if (byId.has(id)) return;
    const el = h(doc, 'div', { class: 'sys', role: 'status' });
    el.textContent = text;
    const item = { el, key: [convOf(conversationId), Number(seq) || 0], author: { type: 'system-line' } };
    byId.set(id, item);
    place(item);
  }

  // the greeting is the first bubble of every conversation
  {
    const item = messageItem({ author: { type: 'system' }, text: texts.greeting });
    item.el.classList.add('greeting');
    item.nameEl.remove();
    item.nameEl = null;
    item.key = [0, 0];
    place(item);
  }

  // ---- who is typing -------------------------------------------------------
  let typingTimer = 0;
  function showTyping(author) {
    typingText.textContent = format(texts.typing, { name: authorName(author) });
    typingRow.hidden = false;
    win.clearTimeout(typingTimer);
    typingTimer = win.setTimeout(hideTyping, TYPING_SHOW_MS);
  }
  function hideTyping() {
    win.clearTimeout(typingTimer);
    typingRow.hidden = true;
  }

  // ---- unread badge --------------------------------------------------------
  // What the visitor has seen is remembered per browser, so a reply that came
  // while they were on another page still counts as unread.
  const SEEN_KEY = 'chatvisor:seen';
  const readSeen = () => {
    try { return JSON.parse(win.localStorage.getItem(SEEN_KEY) || 'null') || {}; } catch (e) { return {}; }
  };
  let seen = readSeen();
  let unread = 0;
  let lastSeq = { conv: null, seq: 0 };
  function markSeen() {
    if (!lastSeq.conv) return;
    seen = { conv: lastSeq.conv, seq: lastSeq.seq };
    try { win.localStorage.setItem(SEEN_KEY, JSON.stringify(seen)); } catch (e) { /* private mode */ }
  }
  function setUnread(n) {
    if (n !== unread && tell.unread) tell.unread(n);
    unread = n;
    badge.hidden = n <= 0;
    badge.textContent = n > 9 ? '9+' : String(n);
    const label = n > 0 ? texts.launcher + ' (' + format(texts.unread, { n }) + ')' : texts.launcher;
    launcher.setAttribute('aria-label', label);
  }

  function onMessage(message) {
    if (!addMessage(message)) return;
    const seq = Number(message.seq) || 0;
    if (message.conversation_id !== lastSeq.conv || seq > lastSeq.seq) lastSeq = { conv: message.conversation_id, seq };
    const fromAgent = !message.author || message.author.type !== 'customer';
    if (fromAgent) hideTyping();
    if (open) {
      markSeen();
    } else if (fromAgent && (seen.conv !== message.conversation_id || seq > (seen.seq || 0))) {
      setUnread(unread + 1);
    }
  }

  const agentNames = new Map();
  chat.subscribe((event) => {
    if (!event) return;
    switch (event.type) {
      case 'history':
        if (event.conversationId) reveal.now();
        break;
      case 'conversation':
        if (event.conversationId) reveal.now();
        break;
      case 'message': onMessage(event.message); break;
      case 'pending': addPending(event.message); break;
      case 'failed': {
        const item = byClient.get(event.clientMsgId);
        if (item) setMeta(item, texts.failed, event.clientMsgId);
        break;
      }
      case 'typing': showTyping(event.author); break;
      case 'agent_joined': {
        const a = event.event.agent || {};
        if (a.id && a.name) agentNames.set(a.id, a.name);
        addLine(event.conversationId, event.event.seq, format(texts.joined, { name: authorName(a) }));
        break;
      }
      case 'agent_left': {
        const a = event.event.agent || {};
        addLine(event.conversationId, event.event.seq,
          format(texts.left, { name: a.name || agentNames.get(a.id) || authorName(a) }));
        break;
      }
      case 'closed':
        hideTyping();
        addLine(event.conversationId, event.event.seq, texts.closed);
        break;
      default:
        break;
    }
  });

  let open = false;
  function setOpen(next, focusLauncher) {
    if (next === open) return;
    open = next;
    panel.hidden = !open;
    root.classList.toggle('open', open);
    launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      reveal.now();
      log.scrollTop = log.scrollHeight;
      input.focus({ preventScroll: true });
      setUnread(0);
      markSeen();
      chat.activate();
      prechat.opened();
    } else if (focusLauncher) {
      launcher.focus({ preventScroll: true });
    }
    if (tell.openChange) tell.openChange(open);
  }

  launcher.addEventListener('click', () => setOpen(!open, false));
  closeBtn.addEventListener('click', () => setOpen(false, true));
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && open && !e.isComposing) {
      e.preventDefault();
      setOpen(false, true);
    }
  });

  const updateSend = () => { sendBtn.disabled = input.value.trim() === ''; };
  function submit() {
    const text = input.value.trim();
    if (!text || !prechat.mayDeliver()) return;
    input.value = '';
    updateSend();
    chat.send(text);
    prechat.sent();
    input.focus({ preventScroll: true });
  }
  input.addEventListener('input', () => {
    updateSend();
    if (input.value.trim() !== '') chat.typing();
  });
  sendOnEnter(composer, input, submit);

  doc.body.appendChild(host);
  chat.start();

  // Pages that re-render <body> (some SPA frameworks) may drop the host:
  // put it back, and follow a replaced <body>.
  let mo = null;
  if (typeof win.MutationObserver === 'function') {
    let watched = doc.body;
    mo = new win.MutationObserver(() => {
      const body = doc.body;
      if (!body) return;
      if (body !== watched) {
        watched = body;
        mo.observe(body, { childList: true });
      }
      if (!host.isConnected) body.appendChild(host);
    });
    mo.observe(doc.documentElement, { childList: true });
    mo.observe(watched, { childList: true });
  }

  return {
    host,
    shadowRoot: shadow,
    root,
    open: () => setOpen(true, false),
    close: () => setOpen(false, false),
    isOpen: () => open,
    // gone for good (the visitor became another customer: api.js draws anew)
    destroy: () => {
      if (mo) mo.disconnect();
      chat.stop();
      host.remove();
    },
  };
}
