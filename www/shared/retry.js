// Waiting and trying again, the same way in the widget and the console:
// after a failure 1 s, then twice as long each time, at most 30 s.
import { isTransient } from './http.js';

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Calls fn() until it resolves and returns what it resolved to. After a
// failure that retry(e) accepts (by default isTransient) it waits and calls
// again, at most `attempts` times in all (by default without end); it
// throws the failure it gave up on.
export async function retrying(fn, options) {
  const o = options || {};
  const retry = o.retry || isTransient;
  let delay = BACKOFF_MIN_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if ((o.attempts && attempt >= o.attempts) || !retry(e)) throw e;
      await sleep(delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}
