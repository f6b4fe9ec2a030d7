// Typing notices, the same on both sides: while someone types, their side
// posts a notice at most every TYPING_EVERY_MS; the other side shows "… is
// typing" for TYPING_SHOW_MS after the last one.
export const TYPING_EVERY_MS = 2000;
export const TYPING_SHOW_MS = 4000;
