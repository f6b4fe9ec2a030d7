// The recorder's events on their way to nginx, in chunks:
//
//   POST PREFIX v1/visitor/cobrowse/events?recorder=ID[&full=1]
//   body: a JSON array of rrweb events
//
// Events are gathered for FLUSH_MS and sent one chunk at a time, in order.
// A full snapshot is sent at once.
// A full snapshot (rrweb's Meta event and the FullSnapshot after it) starts
// a chunk of its own, flagged full=1; it makes everything before it moot,
// so what was not sent yet is dropped. The answers:
//
//   204          sent
//   409 superseded   another tab of the visitor took the session over
//   410, 413     the session is over (413: a chunk was too large, and nginx
//                ended it); 403, 404 and other 409s too: there is no
//                session to send to
//   429          over the rate: wait Retry-After; what was dropped is made
//                good by a full snapshot (onResync)
//   no answer, 5xx   the same chunk again after 1 s, 2 s, 4 s ... 30 s
//
//   const sender = createSender({ url, onStop(kind, code), onResync() });
//   sender.push(event)    an event to send (a Meta event starts a full chunk)
//   sender.close()        nothing more is sent, even what is queued
import { request, HttpError } from '../shared/http.js';
import { EVENT_META } from '../shared/rrweb-nodes.js';
import { BACKOFF_MIN_MS, BACKOFF_MAX_MS, sleep } from '../shared/retry.js';

const FLUSH_MS = 150;
// answers after which there is no session to send to (a 409 other than
// superseded: not allowed, or not any more)
const ENDED = [403, 404, 409, 410, 413];
// a backlog this large while nginx cannot be reached is dropped; a full
// snapshot replaces it once nginx answers again
const BACKLOG_MAX_EVENTS = 5000;

// url(full): where a chunk goes. onStop('superseded' | 'ended', code): the
// sender has closed itself. onResync(): events were dropped; a full
// snapshot is needed for the agent's view to be right again.
export function createSender({ url, onStop, onResync }) {
  let chunks = [];          // [{full, events}] waiting, oldest first
  let closed = false;
  let sending = false;
  let timer = 0;

  // a full snapshot goes at once (rrweb emits it in one go, its Meta
  // event first): a view that opens waits for nothing else
  function schedule(now) {
    if (closed || sending) return;
    if (now && timer) clearTimeout(timer);
    else if (timer) return;
    timer = setTimeout(flush, now ? 0 : FLUSH_MS);
  }

  function stop(kind, code) {
    if (closed) return;
    close();
    onStop(kind, code);
  }

  // Sends one chunk, again and again while nginx cannot be reached.
  async function send(chunk) {
    let delay = BACKOFF_MIN_MS;
    while (!closed) {
      let status;
      try {
        await request(url(chunk.full), { method: 'POST', body: chunk.events });
        return;
      } catch (e) {
        if (closed) return;
        status = e instanceof HttpError ? e.status : 0;
        if (status === 409 && e.code === 'superseded') {
          stop('superseded', e.code);
          return;
        }
        if (ENDED.includes(status)) {
          stop('ended', e.code || String(status));
          return;
        }
        if (status === 429) {
          // what waits is dropped, and a full snapshot follows once nginx
          // says it may
          chunks = [];
          await sleep(e.retryAfterMs || BACKOFF_MIN_MS);
          if (!closed) onResync();
          return;
        }
      }
      if (status >= 400 && status < 500) {
        // refused as it is (a 400): lost; start again from a snapshot
        chunks = [];
        onResync();
        return;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
      if (!closed && pendingEvents() > BACKLOG_MAX_EVENTS) {
        chunks = [];
        onResync();
      }
    }
  }

  function pendingEvents() {
    return chunks.reduce((n, c) => n + c.events.length, 0);
  }

  async function flush() {
    timer = 0;
    if (sending || closed) return;
    sending = true;
    while (!closed && chunks.length) {
      await send(chunks.shift());
    }
    sending = false;
  }

  function close() {
    closed = true;
    chunks = [];
    if (timer) clearTimeout(timer);
    timer = 0;
  }

  return {
    push(event) {
      if (closed) return;
      const full = event.type === EVENT_META;
      if (full) {
        chunks = [{ full: true, events: [event] }];
      } else if (!chunks.length) {
        chunks.push({ full: false, events: [event] });
      } else {
        chunks[chunks.length - 1].events.push(event);
      }
      schedule(full);
    },
    close,
  };
}
