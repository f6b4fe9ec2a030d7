// A webhook receiver for the tests: it verifies every request with the
// reference implementation of Standard Webhooks (npm standardwebhooks),
// records what it got, and answers as the test tells it to.
//
//   node t/lib/webhook-receiver.mjs --port N [--secret whsec_...]...
//        [--cert FILE --key FILE]
//
// Prints "listening PORT" once ready ("listening PORT control PORT2" with
// --cert: the control calls are then plain HTTP on PORT2). Control, on the
// same port:
//   GET  /_log               every request so far, as a JSON array of
//                            {at, path, headers, body (text), json,
//                             verified: [bool per secret], connection,
//                             answered: status}
//   POST /_script            {"answers": [{"status": 500, "headers": {..},
//                            "body": "..", "hang": true, "close": true,
//                            "delay_ms": N}, ...], "then": {...}}: the
//                            next requests get these answers in turn, the
//                            rest "then" (default 200)
//   POST /_secrets           {"secrets": ["whsec_..", ..]}: verify with these
//   POST /_reset             forget the log
// Everything else is a webhook: recorded, then answered.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';

const args = process.argv.slice(2);
const opt = { secrets: [] };
for (let i = 0; i < args.length; i += 2) {
  const [name, value] = [args[i], args[i + 1]];
  if (name === '--secret') opt.secrets.push(value);
  else opt[name.replace(/^--/, '')] = value;
}

let log = [];
let script = [];
let fallback = { status: 200 };
let connections = 0;

function verified(body, headers) {
  return opt.secrets.map((secret) => {
    try {
      new Webhook(secret).verify(body, {
        'webhook-id': headers['webhook-id'],
        'webhook-timestamp': headers['webhook-timestamp'],
        'webhook-signature': headers['webhook-signature'],
      });
      return true;
    } catch (e) {
      return false;
    }
  });
}

function json(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

function handler(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.url === '/_log') return json(res, 200, log);
    if (req.url === '/_reset') { log = []; return json(res, 200, {}); }
    if (req.url === '/_script') {
      const s = JSON.parse(body);
      script = s.answers || [];
      fallback = s.then || { status: 200 };
      return json(res, 200, {});
    }
    if (req.url === '/_secrets') {
      opt.secrets = JSON.parse(body).secrets;
      return json(res, 200, {});
    }

    const answer = script.length ? script.shift() : fallback;
    let parsed = null;
    try { parsed = JSON.parse(body); } catch (e) { /* recorded as text */ }
    const entry = {
      at: Date.now(), method: req.method, path: req.url, headers: req.headers,
      body, json: parsed, verified: verified(body, req.headers),
      connection: req.socket.chatvisorId, answered: answer.hang ? null : answer.status,
    };
    log.push(entry);

    if (answer.hang) return;        // never answers: the sender times out
    if (answer.close) { req.socket.destroy(); return; }
    const send = () => {
      res.writeHead(answer.status, answer.headers || {});
      res.end(answer.body || '');
    };
    if (answer.delay_ms) setTimeout(send, answer.delay_ms); else send();
  });
}

const server = opt.cert
  ? https.createServer({ cert: readFileSync(opt.cert), key: readFileSync(opt.key) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 60000;
server.on(opt.cert ? 'secureConnection' : 'connection', (socket) => {
  socket.chatvisorId = ++connections;
});
// with TLS the control calls come over plain HTTP on a port of their own
// (the tests' Perl has no TLS client): "listening PORT control PORT"
const control = opt.cert ? http.createServer(handler) : null;
server.listen(Number(opt.port), '127.0.0.1', () => {
  if (!control) {
    process.stdout.write(`listening ${server.address().port}\n`);
    return;
  }
  control.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port} control ${control.address().port}\n`);
  });
});
process.on('SIGTERM', () => process.exit(0));
