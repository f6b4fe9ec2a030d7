// How the console tells the agent that something came in: a short beep
// (WebAudio, no audio file), desktop notifications, and the count of unread
// messages in the page title. Browsers let audio start and the permission
// prompt open only after a user gesture, so unlockAudio() is called from
// clicks.
import { storage, store } from './util.js';

const SOUND_KEY = 'chatvisor:agent:sound';
const BEEP_EVERY_MS = 1500;

let ctx = null;

export function unlockAudio() {
  try {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    if (!ctx) ctx = new AC();
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  } catch (e) { /* no audio */ }
}

export function beep() {
  try {
    if (!ctx || ctx.state !== 'running') return;
    const t = ctx.currentTime;
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.35);
    for (const [freq, at] of [[880, 0], [1320, 0.12]]) {
      const osc = ctx.createOscillator();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(freq, t + at);
      osc.connect(gain);
      osc.start(t + at);
      osc.stop(t + at + 0.22);
    }
  } catch (e) { /* no audio */ }
}

export function notificationState() {
  if (typeof Notification === 'undefined') return 'unsupported';
  return Notification.permission; // default | granted | denied
}

export function askNotifications() {
  if (typeof Notification === 'undefined') return Promise.resolve('unsupported');
  try {
    const r = Notification.requestPermission();
    return r && r.then ? r : Promise.resolve(Notification.permission);
  } catch (e) {
    return Promise.resolve(Notification.permission);
  }
}

export function showNotification(title, body, tag, onclick) {
  if (notificationState() !== 'granted') return null;
  try {
    const n = new Notification(title, { body: String(body || '').slice(0, 180), tag, renotify: true });
    n.onclick = () => {
      window.focus();
      if (onclick) onclick();
      n.close();
    };
    return n;
  } catch (e) {
    return null;
  }
}

// The agent's alerts: the sound setting (kept in localStorage) and
// alert(), a beep (when sound is on, at most one every 1.5 s) with a
// desktop notification that calls onclick when clicked.
export function createAlerts() {
  let sound = storage(SOUND_KEY, true);
  let last = 0;
  return {
    get sound() { return sound; },
    toggleSound() {
      sound = !sound;
      store(SOUND_KEY, sound);
      unlockAudio();
      if (sound) beep();
    },
    alert(title, body, id, onclick) {
      const now = Date.now();
      if (sound && now - last > BEEP_EVERY_MS) beep();
      last = now;
      showNotification(title, body, 'chatvisor-' + id, onclick);
    },
  };
}

// "(3) Inbox · Chatvisor"
export function showUnreadInTitle(n) {
  document.title = (n > 0 ? '(' + n + ') ' : '') + 'Inbox · Chatvisor';
}
