// Co-browsing in t/browser/mock-server.mjs: the sessions and endpoints of
// docs/cobrowse.md, in memory, for working on the browser code without
// nginx (the Perl tests run the module's own).
//
//   const cb = createCobrowseMock({ wake, body, send, fail });
//   cb.visitor(req, res, path, url, customer)   v1/visitor/cobrowse...; false when not one
//   cb.agent(req, res, sub, url, conv, me)      conversations/ID/cobrowse...; false when not one
//   cb.notices(customerId, G, P)                what a visitor poll adds: [events]
//   cb.closed(convId)                           the conversation was closed: its session ends

export function createCobrowseMock({ wake, body, send, fail, hold }) {
  const sessions = new Map();     // conversation id -> session
  let generations = 0;            // one counter for all: a new session is always newer

  function bump(s) {
    generations += 1;
    s.generation = generations;
    wake('visitor', s.customerId);
    wake('cobrowse', s.convId);
  }

  const live = (s) => s && (s.state === 'requested' || s.state === 'active');
  const view = (s) => ({
    state: s ? s.state : 'none', generation: s ? s.generation : 0, reason: s ? s.reason : null,
    agent: s ? { name: s.agentName } : null, snapshot: s ? s.snapshot : false, recorder: s ? s.recorder : null,
  });

  function byCustomer(customerId) {
    let found = null;
    for (const s of sessions.values()) if (s.customerId === customerId && (!found || s.generation > found.generation)) found = s;
    return found;
  }

  function end(s, reason) {
    if (!live(s)) return;
    s.state = reason === 'declined' ? 'declined' : 'ended';
    s.reason = reason;
    s.chunks = [];
    bump(s);
    wake('cobrowse-data', s.convId);
  }

  return {
    closed(convId) {
      end(sessions.get(convId), 'closed');
    },

    notices(customerId, G, P, cursor) {
      const s = byCustomer(customerId);
      const out = [];
      if (!s) return out;
      if (s.generation > G && (G > 0 || live(s))) {
        out.push({ type: s.state === 'requested' ? 'cobrowse_request' : 'cobrowse', seq: cursor, ...view(s) });
      }
      if (s.pointer.n > P && s.state === 'active') {
        out.push({ type: 'pointer', seq: cursor, pointer: s.pointer.n, x: s.pointer.x, y: s.pointer.y, click: s.pointer.click });
      }
      return out;
    },

    async visitor(req, res, path, url, customer) {
      if (!path.startsWith('v1/visitor/cobrowse')) return false;
      if (!customer) return fail(res, 404, 'not_found');
      const s = byCustomer(customer.customer_id);
      if (path === 'v1/visitor/cobrowse' && req.method === 'GET') return send(res, 200, view(live(s) ? s : null));
      if (path === 'v1/visitor/cobrowse' && req.method === 'POST') {
        const b = await body(req);
        if (!s || s.state !== 'requested') return fail(res, 409, 'conflict', 'nothing asked');
        if (b.decision === 'allow') {
          s.state = 'active';
          s.snapshot = true;
          bump(s);
        } else {
          end(s, 'declined');
        }
        return send(res, 200, view(s));
      }
      if (path === 'v1/visitor/cobrowse/stop' && req.method === 'POST') {
        if (!live(s)) return fail(res, 410, 'ended');
        end(s, 'visitor');
        return send(res, 200, view(s));
      }
      if (path === 'v1/visitor/cobrowse/events' && req.method === 'POST') {
        const events = await body(req);
        if (!Array.isArray(events)) return fail(res, 400, 'invalid_json');
        if (!s || s.state !== 'active') return fail(res, 410, 'ended');
        const recorder = url.searchParams.get('recorder');
        const full = url.searchParams.get('full') === '1';
        if (full) {
          s.recorder = recorder;
          s.chunks = [];
          if (s.snapshot) {
            s.snapshot = false;
            bump(s);
          }
        } else if (recorder !== s.recorder) {
          return fail(res, 409, 'superseded');
        }
        s.seq += 1;
        s.chunks.push({ seq: s.seq, full, events });
        wake('cobrowse-data', s.convId);
        return send(res, 204);
      }
      return fail(res, 404, 'not_found');
    },

    async agent(req, res, action, rest, url, conv, me) {
      if (action !== 'cobrowse') return false;
      let s = sessions.get(conv.id);
      if (!rest && req.method === 'POST') {
        await body(req);
        if (live(s) && s.agentId !== me.id) return fail(res, 409, 'conflict', 'another agent');
        if (!live(s)) {
          if (conv.status !== 'open') return fail(res, 409, 'conversation_closed');
          s = { convId: conv.id, customerId: conv.customer_id, agentId: me.id, agentName: me.name, state: 'requested',
            generation: 0, reason: null, chunks: [], seq: 0, recorder: null, snapshot: false, pointer: { n: 0 } };
          sessions.set(conv.id, s);
          bump(s);
        }
        return send(res, 200, view(s));
      }
      if (rest === '/stop' && req.method === 'POST') {
        if (!live(s)) return fail(res, 410, 'ended');
        end(s, 'agent');
        return send(res, 200, view(s));
      }
      if (rest === '/pointer' && req.method === 'POST') {
        const b = await body(req);
        if (!s || s.state !== 'active') return fail(res, 410, 'ended');
        s.pointer = { n: s.pointer.n + 1, x: b.x, y: b.y, click: !!b.click };
        wake('visitor', s.customerId);
        return send(res, 204);
      }
      if (rest === '/events' && req.method === 'GET') {
        if (!s) return fail(res, 404, 'not_found');
        const after = Number(url.searchParams.get('after') || 0);
        const gen = s.generation;
        if (after === 0 && s.state === 'active') {
          s.snapshot = true;
          bump(s);
        }
        // a view opening waits for the full snapshot it asked for (or a
        // change of state): an answer with nothing would open it again
        const ready = () => s.generation !== gen || !live(s)
          || (after === 0 ? s.chunks.some((c) => c.full) : s.chunks.some((c) => c.seq > after));
        return hold(req, res, (kind, id) => (kind === 'cobrowse' || kind === 'cobrowse-data') && id === conv.id, ready, () => {
          let chunks = s.chunks.filter((c) => c.seq > after);
          let reset = false;
          if (after === 0) {
            const lastFull = s.chunks.map((c) => c.full).lastIndexOf(true);
            chunks = lastFull >= 0 ? s.chunks.slice(lastFull) : [];
            reset = true;
          }
          const events = [].concat(...chunks.map((c) => c.events));
          const cursor = chunks.length ? chunks[chunks.length - 1].seq : Math.max(after, s.seq);
          send(res, 200, { state: s.state, generation: s.generation, reason: s.reason, reset, events, cursor });
        });
      }
      return fail(res, 404, 'not_found');
    },
  };
}
