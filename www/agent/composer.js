// The reply box under the thread: Enter sends (Shift+Enter is a new line),
// typing tells the customer (at most every 2 s), and a reply is shown at
// once as pending, posted with its client_msg_id (tried 3 times when the
// server cannot be reached or is busy), and offered again with Retry when
// it could not be sent.
import { h, icon } from './dom.js';
import { sendOnEnter } from '../shared/dom.js';
import { HttpError, isTransient } from '../shared/http.js';
import { randomId } from '../shared/id.js';
import { retrying } from '../shared/retry.js';
import { TYPING_EVERY_MS } from '../shared/typing.js';
import { errorText } from './toasts.js';

const SEND_ATTEMPTS = 3;

// onSent(): a reply became its conversation's last message
export function createComposer({ api, store, thread, toast, onSent, onLoggedOut }) {
  const input = h('textarea', { class: 'composer-input', rows: '1', placeholder: 'Reply…', 'aria-label': 'Reply', maxlength: '4096' });
  const send = h('button', { type: 'submit', class: 'btn primary send', disabled: true }, [icon('send'), 'Send']);
  const form = h('form', { class: 'composer', novalidate: true }, [input, send]);
  const hint = h('div', { class: 'composer-hint' }, ['Enter to send · Shift+Enter for a new line']);

  // the open conversation takes replies
  function canWrite() {
    const c = thread.id && store.convs.get(thread.id);
    return !!c && c.status === 'open';
  }

  function submit() {
    const chat = thread.current;
    const value = input.value.trim();
    if (!chat || !value || !canWrite()) return;
    input.value = '';
    send.disabled = true;
    const clientMsgId = 'a-' + randomId(12);
    chat.lastTyping = 0;
    const item = thread.addPending(chat, clientMsgId, value);
    deliver(chat, clientMsgId, value, item);
  }

  async function deliver(chat, clientMsgId, value, item) {
    let m;
    try {
      m = await retrying(() => api.post('conversations/' + encodeURIComponent(chat.id) + '/messages',
        { text: value, client_msg_id: clientMsgId }), { attempts: SEND_ATTEMPTS });
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) return onLoggedOut();
      thread.setPending(item, 'failed', () => {
        thread.setPending(item, 'pending');
        deliver(chat, clientMsgId, value, item);
      });
      if (!isTransient(e)) toast(errorText(e, 'Sending'), 'error');
      return undefined;
    }
    if (thread.current === chat) thread.addMessage(chat, m);
    const c = store.convs.get(chat.id);
    if (c && m && (!c.last_message || (Number(m.seq) || 0) >= (Number(c.last_message.seq) || 0))) {
      c.last_message = m;
      c.updated_at = m.created_at || c.updated_at;
      onSent();
    }
    return undefined;
  }

  function sendTyping() {
    const chat = thread.current;
    if (!chat || !canWrite()) return;
    const now = Date.now();
    if (now - chat.lastTyping < TYPING_EVERY_MS) return;
    chat.lastTyping = now;
    api.post('conversations/' + encodeURIComponent(chat.id) + '/typing', { typing: true }).catch(() => {});
  }

  input.addEventListener('input', () => {
    send.disabled = input.value.trim() === '' || !canWrite();
    if (input.value.trim() !== '') sendTyping();
  });
  sendOnEnter(form, input, submit);

  return {
    el: h('div', { class: 'composer-wrap' }, [form, hint]),
    // another conversation was opened: empty
    reset() {
      input.value = '';
      send.disabled = true;
    },
    // open: the conversation takes replies (to `name`); closed: it does not
    render(open, name) {
      form.classList.toggle('disabled', !open);
      input.disabled = !open;
      input.placeholder = open ? 'Reply to ' + name + '…' : 'This conversation is closed';
      send.disabled = !open || input.value.trim() === '';
    },
    focus() { input.focus({ preventScroll: true }); },
  };
}
