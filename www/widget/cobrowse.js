// Co-browsing on the visitor's side, where the tag says data-cobrowse="1"
// (docs/cobrowse.md). The chat poll reports the session (chat.js: events
// 'cobrowse' and 'pointer'); this asks for consent, runs the recorder, shows
// the banner and the agent's pointer (cobrowse-ui.js), and talks to
//
//   GET  PREFIX v1/visitor/cobrowse                  on a new page of a session this tab records
//   POST PREFIX v1/visitor/cobrowse {"decision"}     Allow / Decline
//   POST PREFIX v1/visitor/cobrowse/stop             Stop
//
// The recorder (PREFIX cobrowse.js, www/cobrowse/) is loaded only after
// Allow, or on a new page of a session this tab records: sessionStorage
// remembers that, so the next page records at once without asking again.
// Every tab of the visitor where the session runs records while it is in
// view; the one the visitor looks at sends a full snapshot and so takes the
// session over, and nginx tells the others they are superseded (they stop
// until they are looked at again).
import { request, HttpError, isTransient } from '../shared/http.js';
import { retrying } from '../shared/retry.js';
import { loadScript } from '../shared/load-script.js';
import { tabGet, tabSet, tabRemove } from './tab-storage.js';
import { createCobrowseUi } from './cobrowse-ui.js';

export const SESSION_KEY = 'chatvisor:cobrowse';
const RECORDER_URL = 'cobrowse.js?v=%%HASH:cobrowse.js%%';
const RECORDER_GLOBAL = '__chatvisorRecorder';
const STOP_ATTEMPTS = 3;

export function startCobrowse({ win, config, chat, texts, container }) {
  const doc = win.document;
  const base = config.prefix;
  const state = {
    phase: 'idle',        // idle | asking | active
    generation: 0,        // the latest the widget acted on
    agent: '',
    recorder: null,
    pointerSeen: false,   // a click before this page's first pointer is old news
  };
  const ui = createCobrowseUi(doc, container, texts, { onAllow: allow, onDecline: decline, onStop: stop });
  const visible = () => doc.visibilityState !== 'hidden';
  const nameOf = (session) => (session && session.agent && session.agent.name) || state.agent || texts.agent;
  const post = (path, body) => request(base + 'v1/visitor/' + path, { method: 'POST', body: body || {} });

  function remember() {
    tabSet(win, SESSION_KEY, JSON.stringify({ generation: state.generation, agent: state.agent }));
  }

  function stored() {
    try {
      const s = JSON.parse(tabGet(win, SESSION_KEY) || 'null');
      return s && typeof s === 'object' ? s : null;
    } catch (e) {
      return null;
    }
  }

  function loadRecorder() {
    return loadScript(win, base + RECORDER_URL, RECORDER_GLOBAL);
  }

  // Records in this tab, now if it is in view, or when it comes into view.
  async function record() {
    if (state.phase !== 'active' || (state.recorder && state.recorder.running) || !visible()) return;
    try {
      const api = await loadRecorder();
      if (state.phase !== 'active' || !visible()) return;
      if (!state.recorder) {
        state.recorder = api.createRecorder({
          win, prefix: base, block: config.cobrowseBlock, mask: config.cobrowseMask, onStop: recorderStopped,
        });
      }
      if (!state.recorder.running) state.recorder.start();
    } catch (e) {
      // no recorder, or a selector it cannot honour: the agent must not
      // wait for a view that never comes
      console.error('[chatvisor]', e);
      stop();
    }
  }

  function recorderStopped(kind) {
    // superseded: another tab records; this one keeps its banner and takes
    // over again when it is looked at
    if (kind === 'ended') end();
  }

  function activate(session) {
    state.phase = 'active';
    state.agent = nameOf(session);
    remember();
    ui.viewing(state.agent);
    const rec = state.recorder;
    if (rec && rec.running && session && session.snapshot && (visible() || session.recorder === rec.id)) rec.snapshot();
    else record();
  }

  // The session is over here: nothing more is recorded or sent.
  function end() {
    if (state.recorder) state.recorder.stop();
    state.phase = 'idle';
    state.pointerSeen = false;
    ui.hide();
    tabRemove(win, SESSION_KEY);
  }

  // nginx has the session over too: the next one is reported from 0 on
  function forget() {
    state.generation = 0;
    chat.cobrowseReset();
  }

  function onSession(session) {
    const g = Number(session.generation) || 0;
    if (g <= state.generation) return;
    state.generation = g;
    if (session.state === 'requested') {
      state.phase = 'asking';
      state.agent = nameOf(session);
      ui.ask(state.agent);
    } else if (session.state === 'active') {
      activate(session);
    } else {
      end();
      forget();
    }
  }

  async function allow() {
    ui.busy(true);
    loadRecorder().catch(() => {});    // meanwhile: recording starts sooner
    try {
      const session = await post('cobrowse', { decision: 'allow' });
      state.generation = Math.max(state.generation, Number(session && session.generation) || 0);
      if (session && session.state === 'active') {
        activate(session);
      } else {
        end();
        forget();
      }
    } catch (e) {
      ui.busy(false);
      if (!isTransient(e)) {
        end();    // not asked any more (the agent stopped, say)
        forget();
      }
    }
  }

  async function decline() {
    ui.busy(true);
    try {
      await post('cobrowse', { decision: 'decline' });
    } catch (e) {
      if (isTransient(e)) {
        ui.busy(false);
        return;
      }
    }
    end();
    forget();
  }

  // Stop: this side stops at once; then nginx is told.
  async function stop() {
    end();
    try {
      await retrying(() => post('cobrowse/stop'), { attempts: STOP_ATTEMPTS });
    } catch (e) { /* over already, or unreachable: the agent's view ends when it times out */ }
    forget();
  }

  chat.subscribe((event) => {
    if (event.type === 'cobrowse' && event.session) onSession(event.session);
    if (event.type === 'pointer' && event.pointer && state.phase === 'active') {
      const p = event.pointer;
      ui.pointer(p, state.agent);
      if (p.click && state.pointerSeen) ui.click(p);
      state.pointerSeen = true;
    }
  });

  // Looked at again (another tab, or this page back from the back/forward
  // cache): this tab takes the session over with a full snapshot.
  function takeOver() {
    if (state.phase !== 'active' || !visible()) return;
    if (state.recorder && state.recorder.running) state.recorder.snapshot();
    else record();
  }
  doc.addEventListener('visibilitychange', takeOver);
  win.addEventListener('pageshow', (e) => { if (e.persisted) takeOver(); });

  // a new page of a session this tab records: on at once, then checked
  const was = stored();
  if (was) {
    state.generation = Number(was.generation) || 0;
    state.agent = typeof was.agent === 'string' ? was.agent : '';
    activate(null);
    request(base + 'v1/visitor/cobrowse').then((session) => {
      if (!session || session.state !== 'active') {
        end();
        forget();
        return;
      }
      state.generation = Math.max(state.generation, Number(session.generation) || 0);
      if (session.agent && session.agent.name && session.agent.name !== state.agent) activate(session);
    }, (e) => {
      if (e instanceof HttpError && e.status >= 400 && e.status < 500) {
        end();
        forget();
      }
    });
  }

  // end(): the widget goes (the visitor became another customer, api.js):
  // nothing more is recorded here
  return { end };
}
