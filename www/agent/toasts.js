// Short messages in the corner of the console (role=status), each gone
// after 6 s, and how a failed call is worded in them.
import { h } from './dom.js';
import { HttpError } from '../shared/http.js';

const SHOW_MS = 6000;

export function createToasts() {
  const el = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  return {
    el,
    // kind: 'error' or nothing
    show(message, kind) {
      const t = h('div', { class: 'toast' + (kind ? ' ' + kind : '') }, [message]);
      el.appendChild(t);
      setTimeout(() => t.remove(), SHOW_MS);
    },
  };
}

// errorText(e, 'Sending') -> "Sending: the server could not be reached."
export function errorText(e, what) {
  if (e instanceof HttpError) {
    if (e.status === 0) return what + ': the server could not be reached.';
    if (e.status === 409) return what + ': the conversation has changed (' + (e.message || 'conflict') + ').';
    return what + ': ' + (e.message || e.code || 'error ' + e.status) + '.';
  }
  return what + ' failed.';
}
