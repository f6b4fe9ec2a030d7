// The agent API (PREFIX v1/agent/...), same origin, cookie session, over
// the shared fetch wrapper. Writes carry the CSRF token from GET me.
import { request } from '../shared/http.js';

export function createApi(prefix) {
  const base = prefix + 'v1/agent/';
  let csrf = '';

  function call(method, path, body, options) {
    return request(base + path, {
      method,
      body,
      headers: method !== 'GET' ? { 'X-Chatvisor-CSRF': csrf } : undefined,
      signal: options && options.signal,
    });
  }

  return {
    base,
    setCsrf(token) { csrf = token || ''; },
    get: (path, options) => call('GET', path, undefined, options),
    post: (path, body) => call('POST', path, body === undefined ? {} : body),
    put: (path, body) => call('PUT', path, body),
  };
}
