// chatvisor_show_after: the launcher appears only after the visitor has been
// on the page for config.showAfterMs (data-show-after="20000ms"). The wait
// is for a visit, not for every page: once the launcher has been shown in
// this tab's session, later pages show it at once (sessionStorage, so a new
// tab or a new browser session waits again). It also shows at once when the
// visitor already has a conversation or the panel opens.
//
//   const r = createReveal(win, config.showAfterMs, (hidden) => { launcher.hidden = hidden; });
//   r.waiting          true while the launcher is held back
//   r.now()            show it now (conversation found, panel opened)
//
// Storage may be missing or throw (privacy modes, sandboxed frames, quota):
// then every page of the visit simply waits again.

import { tabGet, tabSet } from './tab-storage.js';

export const SHOWN_KEY = 'chatvisor:launcher-shown';

export function shownThisVisit(win) {
  return tabGet(win, SHOWN_KEY) === '1';
}

function rememberShown(win) {
  tabSet(win, SHOWN_KEY, '1');    // full or forbidden: the next page waits again
}

// setHidden(true) is called (synchronously, before createReveal returns)
// when the launcher must wait, setHidden(false) once when the wait ends;
// with nothing to wait for it is never called.
export function createReveal(win, delayMs, setHidden) {
  const state = { waiting: false, timer: 0 };
  const api = {
    get waiting() { return state.waiting; },
    now() {
      if (!state.waiting) return;
      state.waiting = false;
      if (state.timer) win.clearTimeout(state.timer);
      state.timer = 0;
      rememberShown(win);
      setHidden(false);
    },
  };
  const ms = Number(delayMs) || 0;
  // shown earlier in this visit: no wait
  if (ms > 0 && !shownThisVisit(win)) {
    state.waiting = true;
    setHidden(true);
    state.timer = win.setTimeout(() => {
      state.timer = 0;
      api.now();
    }, ms);
  }
  return api;
}
