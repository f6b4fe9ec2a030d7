// Live updates: one long-poll over the global event log (GET
// v1/agent/events?after=GSEQ) for every conversation the agent may see.
// Each event updates the store (conversations, unread counts, who is
// typing), the open thread, and alerts the agent (sound, desktop
// notification) of what comes in while the console is not in view.
import { conversationName, parseTime } from './util.js';
import { HttpError } from '../shared/http.js';
import { longPoll } from '../shared/long-poll.js';
import { TYPING_SHOW_MS } from '../shared/typing.js';

// cursor: the log's GSEQ to start after (GET me); onAnswer(): a poll
// answered, render; onOpen(id): open that conversation; onRead(id): the
// agent saw the open one; onLoggedOut(): the session is gone
export function createEvents({ api, me, cursor, store, thread, list, alerts, onAnswer, onOpen, onRead, onLoggedOut }) {
  let stopped = false;
  let abort = null;

  function alert(title, body, id) {
    alerts.alert(title, body, id, () => onOpen(id));
  }

  function apply(ev) {
    if (!ev || typeof ev !== 'object') return;
    const id = ev.conversation_id || (ev.conversation && ev.conversation.id);
    if (ev.type === 'typing') {
      const a = ev.author || {};
      if (!id || (a.type === 'agent' && a.id === me.id)) return;
      const c = store.convs.get(id);
      const label = a.type === 'customer' ? conversationName(c) : (a.name || a.id || 'An agent');
      store.typing.set(id, { until: Date.now() + TYPING_SHOW_MS, customer: a.type === 'customer' });
      setTimeout(() => list.render(), TYPING_SHOW_MS + 50);
      if (id === thread.id) thread.showTyping(label + ' is typing…');
      return;
    }
    if (!id) return;
    const known = store.convs.has(id);
    let c = ev.conversation ? store.upsert(Object.assign({ id }, ev.conversation)) : store.convs.get(id);
    if (!known || !c || !c.customer) store.fetchConversation(id);
    c = store.convs.get(id);
    if (ev.type === 'message.created' && ev.message) {
      const m = ev.message;
      if (c) {
        if (!c.last_message || (Number(m.seq) || 0) >= (Number(c.last_message.seq) || 0)) c.last_message = m;
        if (m.created_at && (parseTime(m.created_at) || 0) > (parseTime(c.updated_at) || 0)) c.updated_at = m.created_at;
      }
      const fromCustomer = m.author && m.author.type === 'customer';
      if (fromCustomer) {
        store.typing.delete(id);
        const viewing = id === thread.id && !document.hidden;
        if (!viewing) store.unread.set(id, (store.unread.get(id) || 0) + 1);
        if (document.hidden && store.relevant(c)) alert(conversationName(c), m.text, id);
      }
      if (id === thread.id && thread.current) {
        thread.addMessage(thread.current, m);
        if (!document.hidden) onRead(id);
      }
    } else if (ev.type === 'conversation.created') {
      if (document.hidden) alert('New conversation', conversationName(c) + ' started a conversation', id);
    } else if (ev.type === 'conversation.closed') {
      store.unread.delete(id);
    }
    if (id === thread.id && thread.current && ev.type !== 'message.created') thread.sync();
    // the open conversation became mine (my reply took it, say): follow it
    if (id === thread.id && c && c.assigned_agent_id === me.id && list.tab === 'unassigned' && c.status === 'open') {
      list.setTab('mine', true);
    }
  }

  return {
    // polls until stop()
    run() {
      const ctl = new AbortController();
      abort = ctl;
      return longPoll({
        running: () => !stopped,
        once: () => api.get('events?after=' + cursor, { signal: ctl.signal }),
        answer: (r) => {
          const events = (r && r.events) || [];
          for (const ev of events) {
            try { apply(ev); } catch (e) { /* one odd event must not stop the loop */ }
          }
          if (r && Number(r.cursor) > cursor) cursor = Number(r.cursor);
          onAnswer();
          return events.length > 0;
        },
        failed: (e) => {
          if (e instanceof HttpError && e.status === 401) {
            onLoggedOut();
            return false;
          }
          return true;
        },
        jitterMs: 300,
      });
    },
    stop() {
      stopped = true;
      if (abort) abort.abort();
    },
  };
}
