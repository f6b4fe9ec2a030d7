// The loop of a long-poll (the widget's v1/visitor/events, the console's
// v1/agent/events): the server holds each request until it has events or
// its poll timeout passes, and the client asks again at once.
//
//   await longPoll({ running, once, answer, failed, jitterMs });
//
// While running() is true it calls once() (the request) and gives what it
// answers to answer(data), which returns whether it carried events. Answers
// that come back empty at once three times in a row (a server that does not
// hold them) make it pause a second, so it never spins. After a failure it
// waits 1 s, 2 s, 4 s … 30 s plus up to jitterMs at random, unless
// failed(e) returns false: then it stops. An AbortError stops it.
import { BACKOFF_MIN_MS, BACKOFF_MAX_MS, sleep } from './retry.js';

export async function longPoll({ running, once, answer, failed, jitterMs }) {
  let delay = BACKOFF_MIN_MS;
  let quick = 0;
  while (running()) {
    const started = Date.now();
    try {
      const data = await once();
      if (!running()) break;
      delay = BACKOFF_MIN_MS;
      const carried = answer(data);
      quick = !carried && Date.now() - started < 300 ? quick + 1 : 0;
      if (quick >= 3) await sleep(1000);
    } catch (e) {
      if (!running() || (e && e.name === 'AbortError')) break;
      if (failed && failed(e) === false) break;
      await sleep(delay + Math.floor(Math.random() * jitterMs));
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}
