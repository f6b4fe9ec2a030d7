// The visitor's side of the conversation, over the same-origin endpoints of
// docs/chat-endpoints.md:
//
//   GET  PREFIX v1/visitor/events?after=0&wait=0          history, on load
//   GET  PREFIX v1/visitor/events?after=N&conversation=ID  the long-poll
//        (with co-browsing on, also &cobrowse=G&pointer=P: the session's
//        generation and the agent's pointer counter seen so far)
//   POST PREFIX v1/visitor/messages  {text, client_msg_id, page_url}
//   POST PREFIX v1/visitor/typing    {typing: true}
//
// The visitor is known by an HttpOnly cookie the first message sets, so the
// conversation survives navigations and restarts. The UI talks to it only
// through this interface:
//
//   const chat = createChat({ prefix, cobrowse });   // cobrowse: the tag's data-cobrowse
//   chat.subscribe((event) => ...);
//   chat.start();          // load history; polls when a conversation exists
//   chat.activate();       // the panel was opened: poll from now on
//   chat.send(text);       // -> client_msg_id; the result comes as events
//   chat.retry(id);        // send a failed message again, same client_msg_id
//   chat.typing();         // the visitor is typing (throttled here)
//   chat.cobrowseReset();  // a co-browsing session is over here: ask from 0
//                          // again, so the next session is reported whatever
//                          // its numbers
//
// Events given to subscribers:
//   {type: 'history', conversationId, status}     after the first load
//   {type: 'message', message}                    a stored message (any author)
//   {type: 'pending', message}                    a local message being sent
//   {type: 'failed', clientMsgId, error, retryable}
//   {type: 'agent_joined' | 'agent_left' | 'closed', event, conversationId}
//   {type: 'typing', author}                      someone else is typing
//   {type: 'conversation', conversationId, status} the conversation changed
//   {type: 'cobrowse', session}                   the co-browsing session changed
//                                                 ({type: 'cobrowse' | 'cobrowse_request',
//                                                 generation, state, reason, snapshot, agent, recorder})
//   {type: 'pointer', pointer}                    the agent's pointer ({pointer, x, y, click})
import DEFAULTS from '../shared/defaults.json';
import { request, HttpError, isTransient } from '../shared/http.js';
import { randomId } from '../shared/id.js';
import { retrying } from '../shared/retry.js';
import { longPoll } from '../shared/long-poll.js';
import { TYPING_EVERY_MS } from '../shared/typing.js';

const SEND_ATTEMPTS = 3;

export function createChat({ prefix, win, cobrowse }) {
  const w = win || window;
  const base = prefix || DEFAULTS.prefix;
  const listeners = new Set();
  const emit = (event) => listeners.forEach((fn) => {
    try { fn(event); } catch (e) { /* a listener's bug must not stop the chat */ }
  });

  const state = {
    conversationId: null,
    status: null,
    cursor: 0,
    loaded: false,
    active: false,      // the visitor opened the panel once
    polling: false,
    pollAbort: null,
    stopped: false,
    lastTyping: 0,
    // co-browsing: the latest session generation and pointer counter seen;
    // both start at 0 on every page, so the first poll reports a session
    // that is asked for or running, and where the agent's pointer is
    cobrowseGeneration: 0,
    pointer: 0,
  };
  const outbox = new Map();   // client_msg_id -> {text, attempts}

  // A conversation's events after the cursor; `fresh` when they start a
  // conversation we had not seen.
  function apply(data) {
    if (!data) return;
    const conv = data.conversation_id || null;
    let fresh = false;
    if (conv !== state.conversationId) {
      fresh = true;
      state.conversationId = conv;
      state.cursor = 0;
    }
    if (data.status !== undefined && (data.status !== state.status || fresh)) {
      state.status = data.status;
      emit({ type: 'conversation', conversationId: conv, status: data.status, fresh });
    }
    for (const ev of Array.isArray(data.events) ? data.events : []) {
      if (!ev || typeof ev !== 'object') continue;
      if (ev.type === 'typing') {
        if (ev.author && ev.author.type !== 'customer') emit({ type: 'typing', author: ev.author });
        continue;
      }
      // co-browsing notices are not stored: their seq is the cursor's
      if (ev.type === 'cobrowse' || ev.type === 'cobrowse_request') {
        if (cobrowse && Number(ev.generation) > state.cobrowseGeneration) {
          state.cobrowseGeneration = Number(ev.generation);
          emit({ type: 'cobrowse', session: ev });
        }
        continue;
      }
      if (ev.type === 'pointer') {
        if (cobrowse && Number(ev.pointer) > state.pointer) {
          state.pointer = Number(ev.pointer);
          emit({ type: 'pointer', pointer: ev });
        }
        continue;
      }
      if (typeof ev.seq === 'number' && ev.seq <= state.cursor) continue; // seen already
      if (typeof ev.seq === 'number') state.cursor = ev.seq;
      if (ev.type === 'message' && ev.message) {
        emit({ type: 'message', message: ev.message });
      } else if (ev.type === 'agent_joined' || ev.type === 'agent_left') {
        emit({ type: ev.type, event: ev, conversationId: conv });
      } else if (ev.type === 'closed') {
        state.status = 'closed';
        emit({ type: 'closed', event: ev, conversationId: conv });
      }
      // unknown types: skipped
    }
    if (typeof data.cursor === 'number' && data.cursor > state.cursor) state.cursor = data.cursor;
  }

  function eventsUrl(after, extra) {
    let url = base + 'v1/visitor/events?after=' + after;
    if (extra) url += extra;
    if (cobrowse) url += '&cobrowse=' + state.cobrowseGeneration + '&pointer=' + state.pointer;
    return url;
  }

  async function loadHistory() {
    let data;
    try {
      data = await retrying(() => request(eventsUrl(0, '&wait=0')), {
        // a 4xx will not change by asking again
        retry: (e) => !state.stopped && !(e instanceof HttpError && e.status >= 400 && e.status < 500),
      });
    } catch (e) {
      if (state.stopped) return;
      // no usable history (say, an older server); start empty
      state.loaded = true;
      emit({ type: 'history', conversationId: null, status: null });
      return;
    }
    apply(data);
    state.loaded = true;
    emit({ type: 'history', conversationId: state.conversationId, status: state.status });
  }

  function shouldPoll() {
    return state.loaded && !state.stopped && (state.active || state.conversationId !== null);
  }

  // One long-poll at a time. Restarting aborts the one in flight (after a
  // first message opened a conversation, say).
  function restartPoll() {
    if (state.pollAbort) state.pollAbort.abort();
    state.pollAbort = null;
    state.polling = false;
    pollLoop();
  }

  async function pollLoop() {
    if (state.polling || !shouldPoll()) return;
    state.polling = true;
    const mine = new AbortController();
    state.pollAbort = mine;
    await longPoll({
      running: () => !state.stopped && !mine.signal.aborted,
      once: () => {
        const conv = state.conversationId;
        const extra = conv ? '&conversation=' + encodeURIComponent(conv) : '';
        return request(eventsUrl(state.cursor, extra), { signal: mine.signal });
      },
      // (one quick empty answer is normal: a typing event of our own)
      answer: (data) => {
        const empty = !data || !Array.isArray(data.events) || data.events.length === 0;
        apply(data);
        return !empty;
      },
      failed: (e) => {
        if (e instanceof HttpError && e.status === 400) {
          state.cursor = 0;   // a cursor the server does not accept: start over
          state.conversationId = null;
        }
      },
      jitterMs: 250,
    });
    if (state.pollAbort === mine) {
      state.polling = false;
      state.pollAbort = null;
    }
  }

  async function deliver(clientMsgId) {
    const item = outbox.get(clientMsgId);
    if (!item || item.sending) return;
    item.sending = true;
    let message;
    try {
      message = await retrying(() => request(base + 'v1/visitor/messages', {
        method: 'POST',
        body: { text: item.text, client_msg_id: clientMsgId, page_url: String(w.location.href).slice(0, 2048) },
      }), { attempts: SEND_ATTEMPTS });
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 0;
      item.sending = false;
      emit({ type: 'failed', clientMsgId, error: e, retryable: isTransient(e) || status === 403 || status === 409 });
      return;
    }
    outbox.delete(clientMsgId);
    if (message && message.conversation_id && message.conversation_id !== state.conversationId) {
      // the first message (or the first after a close) opened a conversation
      state.conversationId = message.conversation_id;
      state.cursor = 0;
      state.status = 'open';
      emit({ type: 'conversation', conversationId: message.conversation_id, status: 'open', fresh: true });
      emit({ type: 'message', message });
      restartPoll();
    } else {
      if (state.status === 'closed') state.status = 'open';
      emit({ type: 'message', message });
      if (!state.polling) pollLoop();
    }
  }

  return {
    prefix: base,
    get conversationId() { return state.conversationId; },
    get status() { return state.status; },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    start() {
      loadHistory().then(() => pollLoop());
    },
    activate() {
      state.active = true;
      pollLoop();
    },
    stop() {
      state.stopped = true;
      if (state.pollAbort) state.pollAbort.abort();
    },
    // Returns the client_msg_id the message is known by until it is stored.
    send(text) {
      const clientMsgId = 'w-' + randomId(16);
      state.lastTyping = 0;   // the next keystroke tells the agent again
      outbox.set(clientMsgId, { text, sending: false });
      emit({
        type: 'pending',
        message: {
          id: null, client_msg_id: clientMsgId, author: { type: 'customer' }, text,
          created_at: new Date().toISOString(), pending: true,
        },
      });
      deliver(clientMsgId);
      return clientMsgId;
    },
    retry(clientMsgId) {
      deliver(clientMsgId);
    },
    cobrowseReset() {
      state.cobrowseGeneration = 0;
      state.pointer = 0;
    },
    typing() {
      const now = Date.now();
      if (!state.conversationId || state.status === 'closed' || now - state.lastTyping < TYPING_EVERY_MS) return;
      state.lastTyping = now;
      request(base + 'v1/visitor/typing', { method: 'POST', body: { typing: true } }).catch(() => {});
    },
  };
}
