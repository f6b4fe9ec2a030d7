// One recording of the visitor's page for a co-browsing session: rrweb's
// record() with the options and the guard of privacy.js, its events sent
// by sender.js.
//
//   const rec = createRecorder({ win, prefix, block, mask, onStop });
//   rec.id          random; every chunk names it (recorder=ID), and nginx
//                   gives the session to the recorder of its latest full
//                   snapshot
//   rec.start()     records, a full snapshot first
//   rec.snapshot()  a full snapshot now (the agent's view opened, this tab
//                   came back into view); always: nginx asks only when it
//                   wants one, and a skipped request would leave its ask
//                   standing unanswered
//   rec.stop()      stops at once: nothing more is recorded or sent
//   rec.running     whether it records
//
// onStop('superseded' | 'ended', code) tells that it stopped by itself:
// another tab took the session over, or the session is over. block and
// mask are the selector lists of the widget tag; a list the browser cannot
// parse makes createRecorder throw (see privacy.js).
import { record } from '@rrweb/record';
import { randomId } from '../shared/id.js';
import { recordOptions, guardEvent } from './privacy.js';
import { createSender } from './sender.js';

const ID_BYTES = 8;
// the pointer at most every 50 ms (about 20 a second), its positions sent
// on every 100 ms; scrolling every 100 ms
const SAMPLING = { mousemove: 50, mousemoveCallback: 100, scroll: 100, media: 800 };

// what rrweb leaves out of the DOM it sends: scripts (they are never run in
// the agent's view anyway), comments, head metadata
const SLIM_DOM = {
  script: true, comment: true, headFavicon: true, headWhitespace: true, headMetaSocial: true,
  headMetaRobots: true, headMetaHttpEquiv: true, headMetaVerification: true,
};

// Whether any form control holds something else than the page's HTML put
// there (typed, or restored by the browser).
function formChanged(doc) {
  for (const el of doc.querySelectorAll('input, textarea, select')) {
    if (el.tagName === 'SELECT') {
      for (const o of el.options) if (o.selected !== o.defaultSelected) return true;
    } else if (el.type === 'checkbox' || el.type === 'radio') {
      if (el.checked !== el.defaultChecked) return true;
    } else if (el.value !== el.defaultValue) {
      return true;
    }
  }
  return false;
}

export function createRecorder({ win, prefix, block, mask, onStop }) {
  const id = randomId(ID_BYTES);
  const privacy = recordOptions(win.document, { block, mask });
  const nodeOf = (nodeId) => record.mirror.getNode(nodeId);
  const url = (full) => prefix + 'v1/visitor/cobrowse/events?recorder=' + id + (full ? '&full=1' : '');
  let stopRecording = null;
  let sender = null;

  function halt() {
    if (stopRecording) stopRecording();
    stopRecording = null;
    if (sender) sender.close();
    sender = null;
  }

  function start() {
    if (stopRecording) return;
    sender = createSender({
      url,
      onStop: (kind, code) => {
        halt();
        onStop(kind, code);
      },
      onResync: snapshot,    // events were lost
    });
    const mine = sender;
    stopRecording = record(Object.assign({
      // the guard runs on every event before it can be queued
      emit: (event) => mine.push(guardEvent(event, nodeOf)),
      recordCanvas: false,
      collectFonts: false,
      inlineImages: false,
      recordCrossOriginIframes: false,
      recordAfter: 'DOMContentLoaded',
      slimDOMOptions: SLIM_DOM,
      sampling: SAMPLING,
    }, privacy)) || null;
    if (!stopRecording) {
      halt();
      throw new Error('co-browsing: this page could not be recorded');
    }
    // Going back, the browser may restore what was typed into the form
    // after the first snapshot, without an event rrweb would hear: the
    // view then showed those fields empty. A form that differs from its
    // defaults once the page has loaded is snapshotted again (masked as
    // ever).
    if (win.document.readyState !== 'complete') {
      const mine2 = stopRecording;
      win.addEventListener('load', () => win.setTimeout(() => {
        if (stopRecording === mine2 && formChanged(win.document)) snapshot();
      }, 0), { once: true });
    }
  }

  function snapshot() {
    if (stopRecording) record.takeFullSnapshot(true);
  }

  return {
    id,
    start,
    snapshot,
    stop: halt,
    get running() { return !!stopRecording; },
  };
}
