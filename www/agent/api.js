// The agent API (PREFIX v1/agent/...), same origin, cookie session. Writes
// carry the CSRF token from GET me.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || (status ? 'HTTP ' + status : 'network error'));
    this.status = status;
    this.code = code || '';
  }
}

export function createApi(prefix) {
  const base = prefix + 'v1/agent/';
  let csrf = '';

  async function call(method, path, body, options) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-Chatvisor-CSRF'] = csrf;
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (options && options.signal) init.signal = options.signal;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(base + path, init);
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'The server could not be reached.');
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(res.status, err.code, err.message);
    }
    return data;
  }

  return {
    base,
    setCsrf(token) { csrf = token || ''; },
    get: (path, options) => call('GET', path, undefined, options),
    post: (path, body) => call('POST', path, body === undefined ? {} : body),
    put: (path, body) => call('PUT', path, body),
  };
}
