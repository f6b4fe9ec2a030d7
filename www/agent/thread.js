// The open conversation's thread: its messages and system lines in seq
// order (the agent's own messages stay pending at the end until stored),
// kept in step with the conversation's events, and who is typing in it.
// It owns the open conversation's state, `current`:
//   {id, cursor, items, bySeq, byId, byClient, loading, again, lastTyping}
import { h, clear, text } from './dom.js';
import { clockTime, fullTime, conversationName } from './util.js';
import { HttpError } from '../shared/http.js';
import { TYPING_SHOW_MS } from '../shared/typing.js';
import { errorText } from './toasts.js';

// onLoggedOut(): the session is gone; toast(message, kind)
export function createThread({ api, me, store, toast, onLoggedOut }) {
  const log = h('div', { class: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'chat-name', tabindex: '0' });
  const typingText = h('span', { class: 'typing-text' });
  const typing = h('div', { class: 'typing', hidden: true, 'aria-live': 'polite' },
    [h('span', { class: 'dots', 'aria-hidden': 'true' }, [h('i'), h('i'), h('i')]), typingText]);
  let current = null;
  let typingTimer = 0;

  // A new, empty thread for conversation id.
  function reset(id) {
    current = { id, cursor: 0, items: [], bySeq: new Map(), byId: new Map(), byClient: new Map(), loading: null, lastTyping: 0 };
    clear(log);
    hideTyping();
  }

  // Fetches what the open conversation's stream has after our cursor. Calls
  // are serialized; one asked for while another runs is done after it.
  function sync() {
    const chat = current;
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
            if (e instanceof HttpError && e.status === 401) return onLoggedOut();
            if (current === chat) toast(errorText(e, 'Loading the conversation'), 'error');
            return undefined;
          }
          if (current !== chat) return undefined;
          const events = (r && r.events) || [];
          for (const ev of events) applyEvent(chat, ev);
          const next = Number(r && r.cursor) || chat.cursor;
          const moved = next > chat.cursor;
          if (moved) chat.cursor = next;
          if (!events.length || !moved) break;
        }
      } while (chat.again && current === chat);
      return undefined;
    })().finally(() => { chat.loading = null; });
    return chat.loading;
  }

  function who(a) {
    return a.id === me.id ? 'You' : (a.name || a.id || 'An agent');
  }

  function applyEvent(chat, ev) {
    if (!ev || typeof ev !== 'object') return;
    const seq = Number(ev.seq) || 0;
    if (ev.type === 'typing') return;
    if (ev.type === 'message' && ev.message) {
      addMessage(chat, ev.message);
    } else if (ev.type === 'agent_joined') {
      addLine(chat, seq, who(ev.agent || {}) + ' joined the conversation');
    } else if (ev.type === 'agent_left') {
      addLine(chat, seq, who(ev.agent || {}) + ' left the conversation');
    } else if (ev.type === 'closed') {
      const b = ev.by || {};
      const by = b.type === 'agent' ? (b.id === me.id ? 'you' : (b.name || b.id)) : b.type === 'customer' ? 'the customer' : 'the system';
      addLine(chat, seq, 'Conversation closed by ' + by);
    } else if (ev.type === 'cobrowse_request') {
      addLine(chat, seq, 'Co-browsing requested');
    }
    if (seq > chat.cursor && ev.type !== 'message') chat.cursor = Math.max(chat.cursor, seq);
  }

  const nearBottom = (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 120;

  function place(chat, item) {
    const stick = nearBottom(log) || item.mine;
    const at = chat.items.indexOf(item);
    if (at >= 0) chat.items.splice(at, 1);
    if (item.el.parentNode) item.el.remove();
    let i = chat.items.length;
    if (item.seq != null) {
      i = chat.items.findIndex((o) => o.seq == null || o.seq > item.seq);
      if (i < 0) i = chat.items.length;
    }
    log.insertBefore(item.el, i < chat.items.length ? chat.items[i].el : null);
    chat.items.splice(i, 0, item);
    for (const k of [i, i + 1]) {
      const it = chat.items[k];
      if (!it || !it.nameEl) continue;
      const prev = chat.items[k - 1];
      it.nameEl.hidden = !!(prev && prev.authorKey && prev.authorKey === it.authorKey);
    }
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function messageItem(message) {
    const a = message.author || {};
    const mine = a.type === 'agent' && a.id === me.id;
    const side = a.type === 'customer' ? 'them' : a.type === 'system' ? 'system' : 'us';
    const bubble = h('div', { class: 'bubble' });
    bubble.textContent = message.text == null ? '' : String(message.text);
    const time = h('time', { class: 'msg-time', datetime: message.created_at || '', title: fullTime(message.created_at) },
      [clockTime(message.created_at)]);
    const meta = h('div', { class: 'msg-meta' }, [time]);
    const label = a.type === 'customer' ? conversationName(store.convs.get(current && current.id)) : mine ? 'You'
      : a.type === 'system' ? (a.name || 'System') : (a.name || a.id || 'Agent');
    const nameEl = h('div', { class: 'msg-author' }, [label]);
    const el = h('div', { class: 'msg ' + side + (mine ? ' mine' : ''), 'data-seq': message.seq != null ? String(message.seq) : false },
      [nameEl, bubble, meta]);
    return { el, bubble, meta, time, nameEl, mine, authorKey: a.type + ':' + (a.id || ''), seq: null };
  }

  // A stored message, or the stored copy of one of ours still pending.
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

  // One of ours, being sent as clientMsgId: shown at the end, pending.
  function addPending(chat, clientMsgId, value) {
    const item = messageItem({ author: { type: 'agent', id: me.id, name: me.name }, text: value, created_at: new Date().toISOString() });
    chat.byClient.set(clientMsgId, item);
    setPending(item, 'pending');
    place(chat, item);
    return item;
  }

  function addLine(chat, seq, label) {
    if (chat.bySeq.has(seq)) return;
    const el = h('div', { class: 'sys-line', role: 'status' }, [h('span', {}, [label])]);
    const item = { el, seq, authorKey: 'line' };
    chat.bySeq.set(seq, item);
    place(chat, item);
  }

  // state: 'pending', 'failed' (with a Retry button calling retry) or null
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

  function showTyping(label) {
    text(typingText, label);
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOW_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
  }

  return {
    log,
    typing,
    get current() { return current; },
    get id() { return current ? current.id : null; },
    reset,
    close() { current = null; },
    sync,
    addMessage,
    addPending,
    setPending,
    showTyping,
  };
}
