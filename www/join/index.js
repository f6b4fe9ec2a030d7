// The one-time login page, served at PREFIX join#TOKEN. The token lives in
// the fragment (never in logs or a Referer); the page drops it from the
// address bar at once, posts it to PREFIX v1/agent/join and goes on to the
// console. A used, expired or forged link gets a clear message.
import { request, HttpError } from '../shared/http.js';

function show(title, message, state, retry) {
  const card = document.getElementById('join-card');
  if (!card) return;
  while (card.firstChild) card.removeChild(card.firstChild);
  card.className = 'gate-card ' + (state || '');
  const icon = document.createElement('div');
  icon.className = 'gate-status ' + (state || '');
  icon.setAttribute('aria-hidden', 'true');
  icon.textContent = state === 'error' ? '!' : state === 'ok' ? '✓' : '';
  if (state === 'busy') icon.className = 'spinner';
  const h1 = document.createElement('h1');
  h1.id = 'join-title';
  h1.textContent = title;
  const p = document.createElement('p');
  p.id = 'join-text';
  p.textContent = message;
  card.append(icon, h1, p);
  if (retry) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn primary';
    b.textContent = 'Try again';
    b.addEventListener('click', retry, { once: true });
    card.appendChild(b);
  }
  document.title = title + ' · Chatvisor';
}

function readToken() {
  let raw = (location.hash || '').replace(/^#/, '');
  // "#token=..." is accepted too
  const m = /(?:^|&)token=([^&]*)/.exec(raw);
  if (m) raw = m[1];
  try { raw = decodeURIComponent(raw); } catch (e) { /* keep it as it is */ }
  return raw.trim();
}

// Only a redirect to our own origin is followed.
function target(redirect) {
  try {
    const u = new URL(redirect, location.href);
    if (u.origin === location.origin) return u.href;
  } catch (e) { /* fall through */ }
  return new URL('agent/', location.href).href;
}

async function join(token) {
  show('Logging you in…', 'One moment.', 'busy');
  let data;
  try {
    data = await request('v1/agent/join', { method: 'POST', body: { token }, referrerPolicy: 'no-referrer' });
  } catch (e) {
    failed(token, e);
    return;
  }
  show('You are logged in', 'Opening the inbox…', 'ok');
  location.replace(target(data && data.redirect));
}

function failed(token, e) {
  const status = e instanceof HttpError ? e.status : 0;
  if (status === 0) {
    show('Could not reach the server', 'Check your connection and try again.', 'error', () => join(token));
  } else if (status === 403 || status === 404 || e.code === 'invalid_token') {
    show('This login link does not work',
      'It has already been used, it has expired, or it is not valid. Login links work only once and '
      + 'for a short time. Ask for a new link.', 'error');
  } else if (status === 429 || status >= 500) {
    show('The server is busy', 'Logging in failed for now (error ' + status + '). Try again in a moment.', 'error',
      () => join(token));
  } else {
    show('Could not log you in', 'The server refused the login (error ' + status + '). Ask for a new link.', 'error');
  }
}

function main() {
  const token = readToken();
  // drop the token from the address bar and the history at once
  try { history.replaceState(null, '', location.pathname + location.search); } catch (e) { /* ignore */ }
  if (!token) {
    show('This login link is incomplete',
      'A login link ends with a long code after "#". Open the whole link you were sent, or ask for a new one.', 'error');
    return;
  }
  join(token);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main, { once: true });
else main();
