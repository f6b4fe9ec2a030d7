// The sidebar's tabs (Unassigned / Mine / All, with their counts) and the
// list of the selected tab's conversations: avatar, name, time, a preview
// of the last message (or "typing…"), Closed or whose it is, unread count.
// The selected tab is kept in localStorage.
import { h, clear, text } from './dom.js';
import { initials, colorClass, relativeTime, fullTime, storage, store as save, conversationName } from './util.js';

const TAB_KEY = 'chatvisor:agent:tab';
const TABS = [
  { id: 'unassigned', label: 'Unassigned' },
  { id: 'mine', label: 'Mine' },
  { id: 'all', label: 'All' },
];

// openId(): the open conversation's id; onOpen(id): the agent picked one
export function createConversationList({ store, me, openId, onOpen }) {
  let tab = storage(TAB_KEY, 'unassigned');

  const tabs = {};
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Conversations' });
  for (const t of TABS) {
    const count = h('span', { class: 'tab-count' });
    const btn = h('button', {
      type: 'button', role: 'tab', class: 'tab', id: 'tab-' + t.id, 'data-tab': t.id, 'aria-controls': 'conv-list',
      onclick: () => select(t.id),
    }, [h('span', { class: 'tab-label' }, [t.label]), count]);
    tabs[t.id] = { btn, count };
    tablist.appendChild(btn);
  }
  tablist.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = TABS.findIndex((t) => t.id === tab);
    const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
    select(next.id);
    tabs[next.id].btn.focus();
  });
  const list = h('ul', { class: 'conv-list', id: 'conv-list', role: 'listbox', 'aria-label': 'Conversations' });
  const listEmpty = h('div', { class: 'list-empty', hidden: true });

  function previewOf(c) {
    const t = store.typing.get(c.id);
    if (t && t.until > Date.now() && t.customer) return { text: 'typing…', typing: true };
    const m = c.last_message;
    if (!m) return { text: c.status === 'closed' ? 'Closed' : 'New conversation' };
    let who = '';
    if (m.author && m.author.type === 'agent') who = m.author.id === me.id ? 'You: ' : (m.author.name || m.author.id) + ': ';
    return { text: who + String(m.text || '').replace(/\s+/g, ' ') };
  }

  function item(c, now) {
    const name = conversationName(c);
    const unread = store.unread.get(c.id) || 0;
    const p = previewOf(c);
    const when = (c.last_message && c.last_message.created_at) || c.updated_at || c.created_at;
    const open = c.id === openId();
    return h('li', {
      class: 'conv' + (open ? ' active' : '') + (unread ? ' unread' : '') + (c.status === 'closed' ? ' closed' : ''),
      role: 'option', 'aria-selected': String(open), 'data-id': c.id, tabindex: '0',
      onclick: () => onOpen(c.id),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onOpen(c.id);
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
            : (c.assigned_agent_id && tab === 'all' && c.assigned_agent_id !== me.id
              ? h('span', { class: 'pill' }, [c.assigned_agent_id]) : null),
          unread ? h('span', { class: 'conv-badge', 'aria-label': unread + ' unread' }, [unread > 9 ? '9+' : String(unread)]) : null,
        ]),
      ]),
    ]);
  }

  function render() {
    for (const t of TABS) {
      const n = t.id === 'all' ? store.sorted('all').filter((c) => c.status === 'open').length : store.sorted(t.id).length;
      const { btn, count } = tabs[t.id];
      text(count, n > 0 ? String(n) : '');
      btn.setAttribute('aria-selected', String(tab === t.id));
      btn.tabIndex = tab === t.id ? 0 : -1;
      const unread = store.sorted(t.id).some((c) => (store.unread.get(c.id) || 0) > 0);
      btn.classList.toggle('has-unread', unread);
    }
    list.setAttribute('aria-labelledby', 'tab-' + tab);
    const items = store.sorted(tab);
    clear(list);
    const now = Date.now();
    for (const c of items) list.appendChild(item(c, now));
    listEmpty.hidden = items.length > 0;
    text(listEmpty, tab === 'unassigned' ? 'No unassigned conversations. Nice!'
      : tab === 'mine' ? 'No open conversations assigned to you.' : 'No conversations yet.');
  }

  // The agent picks a tab: kept, and shown.
  function select(t) {
    tab = t;
    save(TAB_KEY, tab);
    render();
  }

  return {
    tablist,
    listWrap: h('div', { class: 'list-wrap' }, [list, listEmpty]),
    get tab() { return tab; },
    // another tab, shown at the next render(); `keep`: also kept for the next visit
    setTab(t, keep) {
      tab = t;
      if (keep) save(TAB_KEY, tab);
    },
    select,
    render,
  };
}
