// The middle of the console: the open conversation (its head with assign,
// close and the customer panel's toggle; the thread; a closed note; the
// composer), or "No conversation selected". Opening one puts it in the
// address (route.js), loads what is missing and marks it read.
import { h, clear, text, icon } from './dom.js';
import { initials, colorClass, conversationName } from './util.js';
import { putConversationInHash } from './route.js';
import { errorText } from './toasts.js';

// root: the .app element; onChange(): conversations changed, render them
// all; onRead(): the agent read the open one
// cobrowse: the co-browse button and view (cobrowse-view.js)
export function createConversationView({ root, api, me, store, thread, composer, details, list, cobrowse, toast, onChange, onRead }) {
  const back = h('button', { type: 'button', class: 'icon-btn back', 'aria-label': 'Back to the list', title: 'Back', onclick: closeView },
    [icon('back')]);
  const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
  const name = h('h2', { class: 'chat-name', id: 'chat-name' });
  const sub = h('div', { class: 'chat-sub' });
  const assignBtn = h('button', { type: 'button', class: 'btn', 'data-action': 'assign', onclick: () => assign() }, ['Assign to me']);
  const closeBtn = h('button', { type: 'button', class: 'btn', 'data-action': 'close', onclick: () => close() },
    [icon('check'), 'Close']);
  const infoBtn = h('button', { type: 'button', class: 'icon-btn info-toggle', 'aria-label': 'Customer details', title: 'Customer details',
    'aria-pressed': 'false', onclick: toggleDetails }, [icon('info')]);
  const closedNote = h('div', { class: 'closed-note', hidden: true }, ['This conversation is closed.']);
  const main = h('div', { class: 'chat-main', hidden: true }, [
    h('header', { class: 'chat-head' }, [back, avatar, h('div', { class: 'chat-title' }, [name, sub]),
      h('div', { class: 'chat-actions' }, [cobrowse.button, assignBtn, closeBtn, infoBtn])]),
    cobrowse.el, thread.log, thread.typing, closedNote, composer.el,
  ]);
  const empty = h('div', { class: 'chat-empty' }, [
    h('div', { class: 'empty-icon', 'aria-hidden': 'true' }, [icon('inbox')]),
    h('h2', {}, ['No conversation selected']),
    h('p', {}, ['Pick a conversation from the list. New ones show up here as visitors write.']),
  ]);

  // fromHash: asked for by the address, not by a click (no focus, and the
  // list switches to a tab that shows it)
  async function open(id, opts) {
    if (!id) return;
    const o = opts || {};
    if (thread.id !== id) {
      thread.reset(id);
      composer.reset();
    }
    putConversationInHash(id);
    root.classList.add('has-open');
    empty.hidden = true;
    main.hidden = false;
    let c = store.convs.get(id);
    if (!c || !c.customer) c = (await store.fetchConversation(id)) || c;
    if (thread.id !== id) return;
    if (!c) {
      main.hidden = true;
      empty.hidden = false;
      thread.close();
      cobrowse.show(null);
      toast('That conversation does not exist or is not yours to see.', 'error');
      list.render();
      return;
    }
    if (o.fromHash) {
      // show it in a tab that lists it
      if (!store.inTab(c, list.tab)) list.setTab(['mine', 'unassigned', 'all'].find((t) => store.inTab(c, t)) || 'all');
    }
    renderHead();
    list.render();
    await thread.sync();
    markRead(id);
    if (!o.fromHash && window.matchMedia('(pointer: fine)').matches) composer.focus();
  }

  // The agent has seen conversation id as far as it goes.
  function markRead(id) {
    const c = store.convs.get(id);
    const chat = thread.current;
    const seq = Math.max(Number(c && c.last_seq) || 0, (chat && chat.id === id && chat.cursor) || 0,
      Number(c && c.last_message && c.last_message.seq) || 0);
    store.markRead(id, seq);
    onRead();
  }

  // narrow screens: back to the list
  function closeView() {
    root.classList.remove('has-open');
  }

  function toggleDetails() {
    const on = !root.classList.contains('show-details');
    root.classList.toggle('show-details', on);
    infoBtn.setAttribute('aria-pressed', String(on));
  }

  function renderHead() {
    const c = store.convs.get(thread.id);
    if (!c) return;
    const n = conversationName(c);
    text(name, n);
    clear(avatar);
    avatar.className = 'avatar ' + colorClass(c.customer_id);
    avatar.textContent = initials(n);
    const assigned = c.assigned_agent_id ? (c.assigned_agent_id === me.id ? 'Assigned to you' : 'Assigned to ' + c.assigned_agent_id)
      : 'Unassigned';
    text(sub, (c.status === 'closed' ? 'Closed · ' : '') + assigned);
    assignBtn.hidden = c.status !== 'open' || c.assigned_agent_id === me.id;
    closeBtn.hidden = c.status !== 'open';
    const isOpen = c.status === 'open';
    closedNote.hidden = isOpen;
    composer.render(isOpen, n);
    details.render(c);
    cobrowse.show(thread.id, c);
  }

  // POST conversations/{id}/ACTION for the open conversation, its button
  // disabled meanwhile; then(id) once the answer is stored.
  async function act(btn, action, what, then) {
    const id = thread.id;
    if (!id) return;
    btn.disabled = true;
    try {
      const c = await api.post('conversations/' + encodeURIComponent(id) + '/' + action, {});
      store.upsert(c);
      then(id);
      onChange();
      if (thread.id === id) thread.sync();
    } catch (e) {
      toast(errorText(e, what), 'error');
    } finally {
      btn.disabled = false;
    }
  }

  const assign = () => act(assignBtn, 'assign', 'Assigning', (id) => {
    // follow it into Mine
    if (thread.id === id && !store.inTab(store.convs.get(id), list.tab)) list.select('mine');
  });
  const close = () => act(closeBtn, 'close', 'Closing', (id) => store.unread.delete(id));

  return {
    el: h('main', { class: 'chat' }, [empty, main]),
    open,
    markRead,
    renderHead,
  };
}
