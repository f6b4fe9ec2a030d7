// The conversations the console knows, and what the agent has read of
// them: the newest copy of each conversation (with the list's extras,
// customer and last_message), how many customer messages in each are
// unread, the last seq read of each (kept in localStorage per agent), and
// where someone is typing. It loads conversations through the API; it
// renders nothing.
import { parseTime, storage, store as save } from './util.js';

const READ_KEEP = 500;        // conversations whose read mark is kept

// me: the agent; onFetched(): after fetchConversation() brought one in
export function createStore({ api, me, onFetched }) {
  const convs = new Map();    // id -> conversation (+ customer, last_message)
  const unread = new Map();   // id -> count of customer messages not read
  const typing = new Map();   // id -> {until, customer}: someone types there
  const fetching = new Set();
  const readKey = 'chatvisor:agent:read:' + me.id;
  const read = storage(readKey, {});   // id -> last seq read

  // Keeps the newest copy of a conversation; the list's extras (customer,
  // last_message) survive updates that lack them.
  function upsert(c) {
    if (!c || !c.id) return null;
    const old = convs.get(c.id);
    if (old) {
      const tOld = parseTime(old.updated_at) || 0;
      const tNew = parseTime(c.updated_at) || 0;
      const older = tNew < tOld || (Number(c.last_seq) || 0) < (Number(old.last_seq) || 0);
      const merged = older ? Object.assign({}, c, old) : Object.assign({}, old, c);
      if (!c.customer) merged.customer = old.customer;
      if (!c.last_message || (old.last_message && (Number(old.last_message.seq) || 0) > (Number(c.last_message.seq) || 0))) {
        merged.last_message = old.last_message;
      }
      convs.set(c.id, merged);
      return merged;
    }
    convs.set(c.id, Object.assign({}, c));
    return convs.get(c.id);
  }

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

  // All conversations, open and closed; an open one whose last message is
  // the customer's and newer than the read mark counts as unread.
  async function load() {
    const [open, closed] = await Promise.all([fetchList('all', 'open'), fetchList('all', 'closed').catch(() => [])]);
    for (const c of closed.concat(open)) upsert(c);
    for (const c of convs.values()) {
      const m = c.last_message;
      if (m && m.author && m.author.type === 'customer' && c.status === 'open' && (Number(m.seq) || 0) > (read[c.id] || 0)) {
        unread.set(c.id, 1);
      }
    }
  }

  // One conversation with its customer; null when it cannot be had.
  async function fetchConversation(id) {
    if (fetching.has(id)) return convs.get(id) || null;
    fetching.add(id);
    try {
      const c = await api.get('conversations/' + encodeURIComponent(id));
      const merged = upsert(c);
      onFetched();
      return merged;
    } catch (e) {
      return null;
    } finally {
      fetching.delete(id);
    }
  }

  // Unassigned and Mine list open conversations; All lists every one.
  function inTab(c, tab) {
    if (tab === 'unassigned') return c.status === 'open' && !c.assigned_agent_id;
    if (tab === 'mine') return c.status === 'open' && c.assigned_agent_id === me.id;
    return true;
  }

  // A tab's conversations, latest first (All: the open ones first).
  function sorted(tab) {
    return [...convs.values()].filter((c) => inTab(c, tab)).sort((a, b) => {
      if (tab === 'all' && a.status !== b.status) return a.status === 'open' ? -1 : 1;
      return (parseTime(b.updated_at) || 0) - (parseTime(a.updated_at) || 0);
    });
  }

  function totalUnread() {
    let n = 0;
    for (const [id, k] of unread) {
      const c = convs.get(id);
      if (c && c.status === 'open' && k > 0) n += k;
    }
    return n;
  }

  // The agent has read conversation id up to seq.
  function markRead(id, seq) {
    if (unread.get(id)) unread.delete(id);
    if (seq > (read[id] || 0)) {
      read[id] = seq;
      const keys = Object.keys(read);
      if (keys.length > READ_KEEP) for (const k of keys.slice(0, keys.length - READ_KEEP)) delete read[k];
      save(readKey, read);
    }
  }

  // Mine, or nobody's: those an agent wants to hear about.
  function relevant(c) {
    return !c || !c.assigned_agent_id || c.assigned_agent_id === me.id;
  }

  return {
    convs, unread, typing,
    upsert, load, fetchConversation, inTab, sorted, totalUnread, markRead, relevant,
  };
}
