// Chat stub. The UI talks to the conversation only through this interface;
// the issue that wires the visitor endpoints (PREFIX v1/visitor/messages,
// PREFIX v1/visitor/events) replaces this file and keeps the interface:
//
//   const chat = createChat({ prefix });
//   const off = chat.subscribe((event) => ...);  // {type: 'message', message}
//   await chat.send(text);                       // resolves with the message
//
// For now a sent message only comes back locally, marked pending.

function randomId() {
  const b = new Uint8Array(16);
  window.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function createChat({ prefix }) {
  const listeners = new Set();
  const emit = (event) => listeners.forEach((fn) => {
    try { fn(event); } catch (e) { console.error('[chatvisor]', e); }
  });

  return {
    prefix,
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    send(text) {
      const message = {
        id: null,
        client_msg_id: randomId(),
        author: { type: 'customer' },
        text,
        created_at: new Date().toISOString(),
        pending: true,
      };
      emit({ type: 'message', message });
      return Promise.resolve(message);
    },
  };
}
