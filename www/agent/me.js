// The agent's own corner of the sidebar: avatar and name, the presence
// toggle (available / away; GET me says "offline" until this console's
// long-poll has made the agent online, so it is asked again now and then),
// sound, desktop notifications, and log out.
import { h, append, clear, icon } from './dom.js';
import { initials, colorClass } from './util.js';
import { HttpError } from '../shared/http.js';
import { notificationState, askNotifications } from './notify.js';
import { errorText } from './toasts.js';

const LABELS = { available: 'Available', away: 'Away', offline: 'Offline' };

// status: the presence GET me told; ended(): the session is over;
// onLoggedOut(): it turned out to be; onLogout(): the agent ended it
export function createMe({ api, me, status, alerts, toast, ended, onLoggedOut, onLogout }) {
  let busy = false;      // a change of status is on its way

  const statusBtn = h('button', { type: 'button', class: 'status-toggle', role: 'switch', onclick: toggleStatus });
  const soundBtn = h('button', { type: 'button', class: 'icon-btn', onclick: toggleSound });
  const notifyBtn = h('button', { type: 'button', class: 'icon-btn', onclick: enableNotifications });
  const logoutBtn = h('button', { type: 'button', class: 'icon-btn', title: 'Log out', 'aria-label': 'Log out', onclick: logout },
    [icon('logout')]);
  const meName = me.name || me.id || 'Agent';
  const el = h('div', { class: 'me' }, [
    h('span', { class: 'avatar small ' + colorClass(me.id), 'aria-hidden': 'true' }, [initials(meName)]),
    h('div', { class: 'me-text' }, [h('div', { class: 'me-name' }, [meName]), statusBtn]),
    h('div', { class: 'me-tools' }, [notifyBtn, soundBtn, logoutBtn]),
  ]);

  function render() {
    const st = status === 'available' || status === 'away' ? status : 'offline';
    statusBtn.setAttribute('aria-checked', String(st === 'available'));
    statusBtn.className = 'status-toggle ' + st;
    statusBtn.title = st === 'available' ? 'You are available: click to go away'
      : 'You are ' + st + ': click to become available';
    clear(statusBtn);
    append(statusBtn, [h('span', { class: 'dot', 'aria-hidden': 'true' }), LABELS[st]]);

    clear(soundBtn);
    soundBtn.appendChild(icon(alerts.sound ? 'volume' : 'mute'));
    soundBtn.setAttribute('aria-pressed', String(!!alerts.sound));
    soundBtn.setAttribute('aria-label', 'Sound');
    soundBtn.title = alerts.sound ? 'Sound is on' : 'Sound is off';

    const n = notificationState();
    clear(notifyBtn);
    notifyBtn.appendChild(icon(n === 'granted' ? 'bell' : 'bellOff'));
    notifyBtn.hidden = n === 'unsupported';
    notifyBtn.classList.toggle('attention', n === 'default');
    notifyBtn.setAttribute('aria-label', 'Desktop notifications');
    notifyBtn.title = n === 'granted' ? 'Desktop notifications are on'
      : n === 'denied' ? 'Desktop notifications are blocked in the browser settings' : 'Turn on desktop notifications';
  }

  // GET me again: the effective status, and a CSRF token
  async function refresh() {
    if (ended() || busy) return;
    try {
      const r = await api.get('me');
      if (busy) return;
      if (r && r.status) status = r.status;
      if (r && r.csrf_token) api.setCsrf(r.csrf_token);
      render();
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) onLoggedOut();
    }
  }

  async function toggleStatus() {
    const before = status;
    const next = before === 'available' ? 'away' : 'available';
    busy = true;
    status = next;
    render();
    try {
      const r = await api.put('status', { status: next });
      status = (r && r.status) || next;
    } catch (e) {
      status = before;
      toast(errorText(e, 'Changing your status'), 'error');
    }
    busy = false;
    render();
  }

  function toggleSound() {
    alerts.toggleSound();
    render();
  }

  async function enableNotifications() {
    const n = notificationState();
    if (n === 'denied') {
      toast('Notifications are blocked for this site: allow them in the browser settings.');
      return;
    }
    if (n === 'granted') {
      toast('Desktop notifications are on.');
      return;
    }
    await askNotifications();
    render();
  }

  async function logout() {
    try { await api.post('logout'); } catch (e) { /* the session ends anyway */ }
    onLogout();
  }

  render();
  return { el, render, refresh };
}
