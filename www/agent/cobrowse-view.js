// Co-browsing in the console (docs/cobrowse.md): the Co-browse button of
// the open conversation and the view that opens under its head, with the
// visitor's page live (the replay, loaded from PREFIX cobrowse-replay.js
// when a view first opens), the session's state, and Stop co-browsing.
//
//   POST conversations/ID/cobrowse                 start; by the same agent
//                                                  again: the live session
//   GET  conversations/ID/cobrowse/events?after=N  long-poll: the state and
//        the visitor's page events; after=0 (the view opens) makes the
//        visitor send a fresh full snapshot, and answers from the last one
//   POST conversations/ID/cobrowse/pointer         the agent's mouse
//   POST conversations/ID/cobrowse/stop            Stop co-browsing
//
//   const cb = createCobrowseView({ api, prefix, toast });
//   cb.button, cb.el     the button (for the head) and the view
//   cb.show(id, c)       the conversation on screen is id (c: its state);
//                        a view of another one closes
import { h, text, icon } from './dom.js';
import { errorText } from './toasts.js';
import { HttpError } from '../shared/http.js';
import { longPoll } from '../shared/long-poll.js';
import { loadScript } from '../shared/load-script.js';
import { createPointer } from './cobrowse-pointer.js';

const REPLAY_URL = 'cobrowse-replay.js?v=%%HASH:cobrowse-replay.js%%';
const REPLAY_GLOBAL = '__chatvisorReplay';
export const VIEW_TITLE = 'Co-browse view';

const STATUS = {
  starting: 'Asking the visitor…',
  requested: 'Waiting for the visitor to allow co-browsing…',
  connecting: "Allowed. Waiting for the visitor's page…",
  active: 'Live',
  declined: 'The visitor declined co-browsing.',
};
// why a session ended (the poll's reason)
const ENDED = {
  visitor: 'Ended: the visitor stopped co-browsing.',
  agent: 'Ended: co-browsing was stopped from the console.',
  closed: 'Ended: the conversation was closed.',
  agent_gone: 'Ended: the view was closed for too long.',
  max_duration: 'Ended: the time limit was reached.',
  too_large: "Ended: the visitor's page is too large to show.",
  declined: 'The visitor declined co-browsing.',
  forbidden: 'Ended: another agent is co-browsing with this visitor.',
};
const ENDED_OTHERWISE = 'Co-browsing ended.';

export function createCobrowseView({ api, prefix, toast }) {
  const button = h('button', { type: 'button', class: 'btn', 'data-action': 'cobrowse', onclick: () => start() },
    [icon('screen'), 'Co-browse']);
  const status = h('span', { class: 'cobrowse-status', role: 'status', 'aria-live': 'polite' });
  const page = h('span', { class: 'cobrowse-page' });
  const stopBtn = h('button', { type: 'button', class: 'btn danger', 'data-action': 'cobrowse-stop', onclick: () => stop() },
    ['Stop co-browsing']);
  const closeBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close the co-browse view', title: 'Close',
    onclick: () => close() }, [icon('close')]);
  const screen = h('div', { class: 'cobrowse-screen' });
  // over the replay: the agent's mouse lands here, never in the visitor's page
  const glass = h('div', { class: 'cobrowse-glass', 'aria-hidden': 'true' });
  const stage = h('div', { class: 'cobrowse-stage' }, [screen, glass]);
  const el = h('section', { class: 'cobrowse', 'aria-label': 'Co-browse', hidden: true }, [
    h('div', { class: 'cobrowse-bar' }, [h('span', { class: 'cobrowse-live', 'aria-hidden': 'true' }),
      h('div', { class: 'cobrowse-text' }, [status, page]), stopBtn, closeBtn]),
    stage,
  ]);

  let current = null;      // the conversation on screen: {id, open}
  let view = null;         // the open view: {id, state, reason, abort, cursor, player, pointer, over, href, applied}

  const path = (id, rest) => 'conversations/' + encodeURIComponent(id) + '/cobrowse' + (rest || '');

  function render() {
    const live = view && !view.over;
    button.hidden = !current || !current.open || !!live;
    el.hidden = !view;
    if (!view) return;
    el.setAttribute('data-state', view.state);
    el.setAttribute('data-reason', view.reason || '');
    el.classList.toggle('is-live', view.state === 'active' && !!view.player && view.player.showing);
    stopBtn.hidden = !live;
    let s;
    if (view.state === 'ended') s = ENDED[view.reason] || ENDED_OTHERWISE;
    else if (view.state === 'active') s = view.player && view.player.showing ? STATUS.active : STATUS.connecting;
    else s = STATUS[view.state] || STATUS.requested;
    text(status, s);
    text(page, view.state === 'active' && view.href ? view.href : '');
  }

  // The view of the session is over (ended, declined): its state stays
  // on screen; the button asks again.
  function over(state, reason) {
    if (!view) return;
    view.over = true;
    view.state = state;
    view.reason = reason || (state === 'declined' ? 'declined' : '');
    if (view.abort) view.abort.abort();
    view.pointer.stop();
    if (view.player) view.player.destroy();
    view.player = null;
    render();
  }

  function close() {
    if (view && !view.over) {
      view.abort.abort();
      view.pointer.stop();
      if (view.player) view.player.destroy();
    }
    view = null;
    render();
  }

  async function player(v) {
    if (v.player) return v.player;
    const replay = await loadScript(window, prefix + REPLAY_URL, REPLAY_GLOBAL);
    if (view !== v || v.over) return null;
    if (!v.player) {
      v.player = replay.createPlayer({
        root: screen,
        title: VIEW_TITLE,
        onPage: (href) => {
          v.href = href;
          render();
        },
      });
    }
    return v.player;
  }

  async function apply(v, r) {
    if (!r || view !== v || v.over) return;
    if (Number.isFinite(Number(r.cursor))) v.cursor = Number(r.cursor);
    const events = Array.isArray(r.events) ? r.events : [];
    if (r.state === 'active' && (events.length || r.reset)) {
      const p = await player(v);
      if (!p || view !== v || v.over) return;
      if (r.reset) p.reset();
      p.add(events);
    }
    if (r.state === 'ended' || r.state === 'declined') {
      over(r.state, r.reason);
      return;
    }
    if (r.state) v.state = r.state;
    render();
  }

  function poll(v) {
    longPoll({
      running: () => view === v && !v.over,
      once: () => api.get(path(v.id, '/events?after=' + v.cursor), { signal: v.abort.signal }),
      answer: (r) => {
        // one after the other, in order (the first waits for the replay)
        v.applied = v.applied.then(() => apply(v, r)).catch((e) => console.error('[chatvisor] co-browse view:', e));
        return !!(r && Array.isArray(r.events) && r.events.length);
      },
      failed: (e) => {
        // no session (any more), or another agent's now
        if (e instanceof HttpError && [403, 404, 410].includes(e.status)) {
          over('ended', e.code === 'not_found' ? '' : e.code);
          return false;
        }
        return !(e instanceof HttpError && e.status === 401);
      },
      jitterMs: 300,
    });
  }

  function onMouse(e, click) {
    if (!view || view.over || view.state !== 'active' || !view.player) return;
    const p = view.player.toDocument(e.clientX, e.clientY);
    if (!p) return;
    if (click) view.pointer.click(p);
    else view.pointer.move(p);
  }
  glass.addEventListener('mousemove', (e) => onMouse(e, false));
  glass.addEventListener('click', (e) => {
    e.preventDefault();
    onMouse(e, true);
  });

  async function start() {
    if (!current) return;
    const id = current.id;
    if (view) close();
    const v = {
      id, state: 'starting', reason: '', abort: new AbortController(), cursor: 0, player: null, over: false, href: '',
      applied: Promise.resolve(),
      pointer: createPointer((p) => api.post(path(id, '/pointer'), p)),
    };
    view = v;
    render();
    button.disabled = true;
    let s;
    try {
      s = await api.post(path(id));
    } catch (e) {
      if (view === v) {
        view = null;
        render();
      }
      toast(errorText(e, 'Starting co-browsing'), 'error');
      return;
    } finally {
      button.disabled = false;
    }
    if (view !== v) return;
    v.state = (s && s.state) || 'requested';
    render();
    // from 0: the visitor sends a fresh full snapshot for this view
    poll(v);
  }

  async function stop() {
    const v = view;
    if (!v || v.over) return;
    stopBtn.disabled = true;
    over('ended', 'agent');
    try {
      await api.post(path(v.id, '/stop'));
    } catch (e) {
      if (!(e instanceof HttpError && (e.status === 404 || e.status === 410))) toast(errorText(e, 'Stopping co-browsing'), 'error');
    } finally {
      stopBtn.disabled = false;
    }
  }

  return {
    button,
    el,
    show(id, c) {
      current = id ? { id, open: !!c && c.status === 'open' } : null;
      // another conversation: its view goes (the session ends on its own
      // when no view polls it; the button opens it again)
      if (view && (!current || view.id !== id)) close();
      render();
    },
  };
}
