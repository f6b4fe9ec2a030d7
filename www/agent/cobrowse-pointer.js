// The agent's mouse over the co-browse view, on its way to the visitor:
// moves at most every POINTER_EVERY_MS (about 20 a second) and one request
// at a time, only the latest position; a click as soon as it can go, with
// click: true, never replaced by a move.
//
//   const pointer = createPointer(send);   // send({x, y, click}) -> Promise
//   pointer.move({x, y});  pointer.click({x, y});  pointer.stop();

export const POINTER_EVERY_MS = 50;

export function createPointer(send) {
  let next = null;        // {x, y, click} not sent yet
  let lastSent = 0;
  let inFlight = false;
  let timer = 0;
  let stopped = false;

  function pump() {
    timer = 0;
    if (stopped || inFlight || !next) return;
    const wait = lastSent + POINTER_EVERY_MS - Date.now();
    if (wait > 0 && !next.click) {
      timer = setTimeout(pump, wait);
      return;
    }
    const p = next;
    next = null;
    inFlight = true;
    lastSent = Date.now();
    Promise.resolve().then(() => send(p)).catch(() => { /* a lost move is replaced by the next */ }).then(() => {
      inFlight = false;
      pump();
    });
  }

  function put(p, click) {
    if (stopped) return;
    if (next && next.click && !click) return;    // a click waiting is not replaced
    next = { x: p.x, y: p.y, click };
    if (timer && click) clearTimeout(timer);
    if (!timer || click) pump();
  }

  return {
    move: (p) => put(p, false),
    click: (p) => put(p, true),
    stop() {
      stopped = true;
      next = null;
      if (timer) clearTimeout(timer);
      timer = 0;
    },
  };
}
