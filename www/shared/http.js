// The one fetch wrapper of the widget, the console and the join page: same
// origin, JSON in and out, never cached (docs/chat-endpoints.md).
//
//   const data = await request(url, { method, body, headers, signal, referrerPolicy });
//
// The options are fetch()'s, but for body, which is a value sent as JSON
// (with Content-Type: application/json). Every request sends Accept:
// application/json, credentials same-origin and cache no-store, and the
// `headers` given (the console's X-Chatvisor-CSRF on writes). The answer is the
// parsed JSON body, or null (204, or a body that is not JSON). An answer that
// is not 2xx throws an HttpError with the status and the code and message of
// its {"error": {"code", "message"}}; a request that got no answer throws an
// HttpError with status 0; an aborted one throws the browser's AbortError.
// An error carries the answer's Retry-After (seconds) as retryAfterMs, 0
// when it has none.

export class HttpError extends Error {
  constructor(status, code, message, retryAfterMs) {
    super(message || code || 'HTTP ' + status);
    this.status = status;
    this.code = code || '';
    this.retryAfterMs = retryAfterMs || 0;
  }
}

export async function request(url, options) {
  const init = Object.assign({ credentials: 'same-origin', cache: 'no-store' }, options);
  init.headers = Object.assign({ Accept: 'application/json' }, init.headers);
  if (init.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(init.body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new HttpError(0, 'network');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const after = Number(res.headers.get('Retry-After'));
    throw new HttpError(res.status, err.code, err.message, after > 0 ? after * 1000 : 0);
  }
  return data;
}

// A failure worth trying again: no answer, 429, a 5xx (or not an HTTP
// failure at all).
export function isTransient(e) {
  return !(e instanceof HttpError) || e.status === 0 || e.status === 429 || e.status >= 500;
}
