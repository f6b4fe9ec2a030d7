// sessionStorage (this tab, until it closes), for what the widget carries
// from one page of a visit to the next. It may be missing or throw
// (privacy modes, sandboxed frames, a full quota): then reads give null and
// writes do nothing, and each page starts afresh.

function storage(win) {
  try {
    return win.sessionStorage || null;
  } catch (e) {
    return null;    // a SecurityError just for looking at it
  }
}

export function tabGet(win, key) {
  try {
    const s = storage(win);
    return s ? s.getItem(key) : null;
  } catch (e) {
    return null;
  }
}

export function tabSet(win, key, value) {
  try {
    const s = storage(win);
    if (s) s.setItem(key, value);
  } catch (e) {
    /* full or forbidden */
  }
}

export function tabRemove(win, key) {
  try {
    const s = storage(win);
    if (s) s.removeItem(key);
  } catch (e) {
    /* forbidden */
  }
}
