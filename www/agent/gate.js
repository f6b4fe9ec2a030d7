// The screens the console shows instead of the inbox: loading, not logged
// in (or logged out), and a fatal error. Each replaces what is in root.
import { h, append, clear, icon } from './dom.js';

export function showLoading(root) {
  clear(root);
  root.className = 'app-loading';
  append(root, [h('div', { class: 'splash' }, [h('div', { class: 'spinner', 'aria-hidden': 'true' }), 'Loading inbox…'])]);
}

// ended: the agent logged out here (rather than never being logged in)
export function showLoggedOut(root, ended) {
  clear(root);
  root.className = 'app-gate';
  document.title = 'Log in · Chatvisor';
  append(root, [h('main', { class: 'gate' }, [
    h('div', { class: 'gate-card' }, [
      h('div', { class: 'gate-logo', 'aria-hidden': 'true' }, [icon('chat')]),
      h('h1', {}, [ended ? 'You have logged out' : 'You are not logged in']),
      h('p', {}, ['To open the inbox, open a login link. Login links are personal, work once, and expire after a short time.']),
      h('p', { class: 'muted' }, ['Ask your administrator for a new link. Administrators create one with ',
        h('code', {}, ['chatvisorctl login-url']), ' or the REST API (',
        h('code', {}, ['POST agents/{id}/login-url']), ').']),
    ]),
  ])]);
}

export function showFatal(root, message) {
  clear(root);
  root.className = 'app-gate';
  append(root, [h('main', { class: 'gate' }, [h('div', { class: 'gate-card' }, [
    h('h1', {}, ['Something went wrong']),
    h('p', {}, [message]),
    h('button', { type: 'button', class: 'btn primary', onclick: () => location.reload() }, ['Reload']),
  ])])]);
}
