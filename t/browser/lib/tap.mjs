// A tiny TAP producer for the t/browser/*.test.mjs scripts; the .t files
// that run them (through t/lib/Chatvisor/Browser.pm) turn each line into a
// check.
//
//   import { ok, is, note, finish, skipAll } from './lib/tap.mjs';
//   if (!BASE) skipAll('no base URL given');   // "1..0 # SKIP ...", exit 0
//   ok(cond, 'name', diag);   // "ok N - name" / "not ok N - name"; on failure
//                             // diag (a string, or any value as JSON) as notes
//   is(got, want, 'name');    // ok(got === want), both shown on failure
//   note('text');             // "# text", one line per line of text
//   finish();                 // the plan "1..N" last, then exit: 1 when a
//                             // check failed, else 0 (or the code given)
let n = 0;
let failed = 0;

export function ok(cond, name, diag) {
  n += 1;
  if (!cond) failed += 1;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name.replace(/#/g, '\\#')}`);
  if (!cond && diag !== undefined) note(typeof diag === 'string' ? diag : JSON.stringify(diag));
  return !!cond;
}

export function is(got, want, name) {
  return ok(got === want, name, `got: ${JSON.stringify(got)}\nexpected: ${JSON.stringify(want)}`);
}

export function note(text) {
  for (const line of String(text).split('\n')) console.log(`# ${line}`);
}

export function finish(code) {
  console.log(`1..${n}`);
  process.exit(code !== undefined ? code : (failed ? 1 : 0));
}

export function skipAll(reason) {
  console.log(`1..0 # SKIP ${reason}`);
  process.exit(0);
}
