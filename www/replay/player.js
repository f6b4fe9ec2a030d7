// The visitor's page, live, in the console: @rrweb/replay in live mode in
// a sandboxed iframe (allow-same-origin only: the console reads its scroll
// position, nothing in it runs), scaled to fit the view.
//
//   const player = createPlayer({ root, title, onPage(href) });
//   player.add(events)        events from the visitor, in order
//   player.reset()            what comes next starts from a full snapshot
//   player.toDocument(x, y)   a point of the console's viewport as the
//                             visitor's document coordinates, or null when
//                             it is not over their page
//   player.destroy()
//
// onPage(href) is called with the address of each page the visitor's
// recorder starts on (rrweb's Meta event).
import { Replayer } from '@rrweb/replay';
import { EVENT_META, EVENT_FULL_SNAPSHOT } from '../shared/rrweb-nodes.js';
import { sanitizeEvent, BLOCKED_ATTRIBUTE } from './sanitize.js';

// CSS put into the replayed page: how blocked elements are drawn (their
// recorded size is their border box)
const INSERT_RULES = [
  `[${BLOCKED_ATTRIBUTE}] { box-sizing: border-box !important; `
    + 'background: repeating-linear-gradient(45deg, #cbd5e1 0 6px, #e2e8f0 6px 12px) !important; }',
];

export function createPlayer({ root, title, onPage }) {
  let replayer = null;
  let seenSnapshot = false;
  let size = null;          // the visitor's viewport {width, height}
  let baseline = 0;         // the first event's time (visitor's clock)
  let startedAt = 0;        // when the replayer started (console's clock)

  function fit() {
    if (!replayer || !size) return;
    const scale = Math.min(root.clientWidth / size.width, root.clientHeight / size.height, 1) || 1;
    const left = Math.max(0, (root.clientWidth - size.width * scale) / 2);
    replayer.wrapper.style.transformOrigin = '0 0';
    replayer.wrapper.style.transform = `translate(${left}px, 0) scale(${scale})`;
  }
  const resizeObserver = typeof ResizeObserver === 'function' ? new ResizeObserver(fit) : null;
  if (resizeObserver) resizeObserver.observe(root);

  function destroyReplayer() {
    if (replayer) replayer.destroy();
    replayer = null;
    seenSnapshot = false;
    size = null;
  }

  function create(first) {
    replayer = new Replayer([], {
      root,
      liveMode: true,
      showWarning: false,
      showDebug: false,
      triggerFocus: false,        // the agent's focus stays in the console
      mouseTail: false,
      pauseAnimation: false,
      insertStyleRules: INSERT_RULES,
    });
    replayer.iframe.setAttribute('title', title);
    replayer.iframe.setAttribute('tabindex', '-1');
    replayer.on('resize', (d) => {
      size = { width: d.width, height: d.height };
      fit();
    });
    baseline = first.timestamp;
    startedAt = Date.now();
    replayer.startLive(baseline);
  }

  // Live: an event is played as soon as it arrives, in order. Its time
  // (the visitor's clock) is kept within [baseline, now on the player's
  // clock], so neither a late delivery nor the clocks' difference makes it
  // wait.
  function timeOf(event) {
    const now = baseline + (Date.now() - startedAt);
    return Math.min(Math.max(Number(event.timestamp) || baseline, baseline), now);
  }

  return {
    add(events) {
      for (const event of events) {
        if (!event || typeof event !== 'object') continue;
        sanitizeEvent(event);
        if (event.type === EVENT_META) {
          // a new page (or the same one again): start afresh, so the
          // replayer does not keep every event of the session
          if (seenSnapshot) destroyReplayer();
          if (event.data && typeof event.data.href === 'string') onPage(event.data.href);
        }
        if (!replayer) {
          // nothing to show before a full snapshot
          if (event.type !== EVENT_META && event.type !== EVENT_FULL_SNAPSHOT) continue;
          create(event);
        }
        if (event.type === EVENT_FULL_SNAPSHOT) seenSnapshot = true;
        event.timestamp = timeOf(event);
        replayer.addEvent(event);
      }
    },
    reset: destroyReplayer,
    get showing() { return seenSnapshot; },
    toDocument(clientX, clientY) {
      if (!replayer || !size) return null;
      const rect = replayer.iframe.getBoundingClientRect();
      if (!rect.width || !rect.height) return null;
      const x = ((clientX - rect.left) * size.width) / rect.width;
      const y = ((clientY - rect.top) * size.height) / rect.height;
      if (x < 0 || y < 0 || x > size.width || y > size.height) return null;
      const w = replayer.iframe.contentWindow;
      return { x: Math.round(x + (w ? w.scrollX : 0)), y: Math.round(y + (w ? w.scrollY : 0)) };
    },
    destroy() {
      destroyReplayer();
      if (resizeObserver) resizeObserver.disconnect();
    },
  };
}
