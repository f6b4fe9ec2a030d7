// The open conversation in the address, #conversation=ID: the join page's
// redirect and a reload open it, and the hash follows what the agent opens.

export function conversationInHash() {
  const m = /(?:^#|&)conversation=([^&]+)/.exec(location.hash || '');
  if (!m) return null;
  try { return decodeURIComponent(m[1]); } catch (e) { return null; }
}

// Replaces the hash (no new history entry) when it names another one.
export function putConversationInHash(id) {
  const hash = '#conversation=' + encodeURIComponent(id);
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

// fn(id) when the hash comes to name a conversation.
export function onConversationHash(fn) {
  window.addEventListener('hashchange', () => {
    const id = conversationInHash();
    if (id) fn(id);
  });
}
