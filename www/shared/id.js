// Random ids in hex (client_msg_id of a message being sent): `bytes` random
// bytes, two hex digits each.
export function randomId(bytes) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
