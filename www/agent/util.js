// Names, times and the like, for the console.

export function customerName(customer, fallbackId) {
  const c = customer || {};
  const full = [c.firstname, c.lastname].filter((x) => typeof x === 'string' && x.trim()).join(' ').trim();
  if (full) return full;
  if (typeof c.email === 'string' && c.email.trim()) return c.email.trim();
  const id = c.customer_id || fallbackId || '';
  return 'Visitor ' + (id ? id.replace(/^cus_/, '').slice(0, 6) : '');
}

// The name a conversation goes by: its customer's.
export function conversationName(c) {
  return customerName(c && c.customer, c && c.customer_id);
}

export function initials(name) {
  const words = String(name || '?').replace(/[^\p{L}\p{N}\s@.]/gu, '').split(/[\s@.]+/).filter(Boolean);
  if (!words.length) return '?';
  if (/^Visitor /.test(name)) return 'V';
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

// one of 8 avatar colors, stable per id
export function colorClass(id) {
  let x = 0;
  for (const ch of String(id || '')) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return 'c' + (x % 8);
}

export function parseTime(s) {
  const t = Date.parse(s || '');
  return isNaN(t) ? null : t;
}

// "now", "4m", "3h", "2d", "12 Mar"
export function relativeTime(s, now) {
  const t = parseTime(s);
  if (t == null) return '';
  const sec = Math.max(0, Math.round(((now || Date.now()) - t) / 1000));
  if (sec < 45) return 'now';
  if (sec < 3600) return Math.max(1, Math.round(sec / 60)) + 'm';
  if (sec < 86400) return Math.round(sec / 3600) + 'h';
  if (sec < 7 * 86400) return Math.round(sec / 86400) + 'd';
  return new Date(t).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

export function clockTime(s) {
  const t = parseTime(s);
  if (t == null) return '';
  const d = new Date(t);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

export function fullTime(s) {
  const t = parseTime(s);
  return t == null ? '' : new Date(t).toLocaleString();
}

// Only http(s) URLs become links.
export function safeHttpUrl(s) {
  if (typeof s !== 'string' || !s) return null;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch (e) {
    return null;
  }
}

export function storage(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v == null ? fallback : JSON.parse(v);
  } catch (e) {
    return fallback;
  }
}

export function store(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode, full */ }
}
