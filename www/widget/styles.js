// The widget's stylesheet. It is adopted by the shadow root as a
// constructable stylesheet: no <style> element and no style="" attribute, so
// a page CSP without 'unsafe-inline' in style-src does not block it.

function channel(c) {
  const s = c / 255;
  return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
}

// WCAG relative luminance of "#rrggbb".
export function luminance(hex) {
  const n = parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

const DARK = '#111827';
const WHITE = '#ffffff';

// White or dark text, whichever contrasts more with the background.
export function textColorOn(hex) {
  const l = luminance(hex);
  const onWhite = 1.05 / (l + 0.05);
  const onDark = (l + 0.05) / (luminance(DARK) + 0.05);
  return onWhite >= onDark ? WHITE : DARK;
}

const FONT = 'system-ui, -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, '
  + '"Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif, '
  + '"Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji"';

// `color` must be a normalized "#rrggbb" (config.normalizeColor): it is the
// only value from outside that reaches the CSS text.
export function buildCss(color) {
  if (!/^#[0-9a-f]{6}$/.test(color)) throw new Error('chatvisor: bad color');
  const fg = textColorOn(color);
  // focus rings in the main color vanish when it is light: use ink then
  const ring = fg === WHITE ? color : DARK;
  return `
:host {
  all: initial !important;
  display: block !important;
  position: static !important;
  visibility: visible !important;
  opacity: 1 !important;
  --cv-color: ${color} !important;
  --cv-fg: ${fg} !important;
  --cv-ring: ${ring} !important;
  --cv-ink: #111827;
  --cv-muted: #6b7280;
  --cv-line: #e5e7eb;
  --cv-bg: #ffffff;
  --cv-soft: #f4f5f7;
  --cv-z: 2147483000;
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }

.root {
  font-family: ${FONT};
  font-size: 15px;
  line-height: 1.45;
  color: var(--cv-ink);
  -webkit-font-smoothing: antialiased;
  -moz-osx-font-smoothing: grayscale;
  text-align: left;
  letter-spacing: normal;
  text-transform: none;
}

button, textarea {
  font: inherit;
  color: inherit;
  margin: 0;
}
button { cursor: pointer; -webkit-tap-highlight-color: transparent; }
svg { display: block; flex: none; }

/* round buttons: the launcher, close and send; an icon in the middle */
.launcher, .close, .send {
  padding: 0;
  border: 0;
  border-radius: 50%;
  display: flex;
  align-items: center;
  justify-content: center;
}
/* what is drawn in the main color */
.launcher, .header, .send, .customer .bubble {
  background: var(--cv-color);
  color: var(--cv-fg);
}

/* launcher */
.launcher {
  position: fixed;
  z-index: var(--cv-z);
  bottom: 20px;
  right: 20px;
  width: 60px;
  height: 60px;
  box-shadow: 0 4px 12px rgba(0, 0, 0, .16), 0 10px 28px rgba(0, 0, 0, .14);
  transition: transform .18s ease, box-shadow .18s ease;
}
.left .launcher { right: auto; left: 20px; }
.launcher:hover { transform: scale(1.06); box-shadow: 0 6px 16px rgba(0, 0, 0, .2), 0 14px 34px rgba(0, 0, 0, .16); }
.launcher:active { transform: scale(.97); }
.launcher:focus { outline: none; }
.launcher:focus-visible { outline: 3px solid var(--cv-ring); outline-offset: 3px; }
.launcher .icon { width: 28px; height: 28px; transition: transform .2s ease, opacity .2s ease; }
.launcher .icon-close { position: absolute; opacity: 0; transform: rotate(-90deg) scale(.6); }
.open .launcher .icon-chat { opacity: 0; transform: rotate(90deg) scale(.6); }
.open .launcher .icon-close { opacity: 1; transform: none; }

/* panel */
.panel {
  position: fixed;
  z-index: var(--cv-z);
  bottom: 92px;
  right: 20px;
  width: 380px;
  height: 600px;
  max-height: calc(100vh - 112px);
  display: flex;
  flex-direction: column;
  overflow: hidden;
  background: var(--cv-bg);
  border-radius: 16px;
  box-shadow: 0 0 0 1px rgba(0, 0, 0, .04), 0 12px 28px rgba(0, 0, 0, .12), 0 24px 64px rgba(0, 0, 0, .16);
  transform-origin: bottom right;
  animation: cv-in .2s cubic-bezier(.2, .8, .3, 1);
}
.left .panel { right: auto; left: 20px; transform-origin: bottom left; }
@keyframes cv-in {
  from { opacity: 0; transform: translateY(12px) scale(.97); }
  to { opacity: 1; transform: none; }
}

.header {
  flex: none;
  display: flex;
  align-items: center;
  gap: 12px;
  padding: 18px 14px 18px 20px;
}
.avatar {
  flex: none;
  width: 40px;
  height: 40px;
  border-radius: 50%;
  display: flex;
  align-items: center;
  justify-content: center;
  background: rgba(255, 255, 255, .2);
  box-shadow: inset 0 0 0 1px rgba(255, 255, 255, .25);
}
.avatar svg { width: 22px; height: 22px; }
.title {
  flex: 1;
  min-width: 0;
  margin: 0;
  font-size: 17px;
  font-weight: 600;
  line-height: 1.3;
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}
.close {
  flex: none;
  width: 36px;
  height: 36px;
  background: transparent;
  color: inherit;
  transition: background-color .15s ease;
}
.close:hover { background: rgba(127, 127, 127, .22); }
.close:focus { outline: none; }
.close:focus-visible { outline: 2px solid var(--cv-fg); outline-offset: 1px; }
.close svg { width: 20px; height: 20px; }

.log {
  flex: 1;
  min-height: 0;
  overflow-y: auto;
  overscroll-behavior: contain;
  display: flex;
  flex-direction: column;
  gap: 8px;
  margin: 0;
  padding: 20px 16px;
  list-style: none;
  background: var(--cv-soft);
}
.msg {
  max-width: 82%;
  display: flex;
  flex-direction: column;
  align-items: flex-start;
}
.msg.customer { align-self: flex-end; align-items: flex-end; }
.bubble {
  padding: 10px 14px;
  border-radius: 18px;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  background: var(--cv-bg);
  color: var(--cv-ink);
  border-bottom-left-radius: 6px;
  box-shadow: 0 1px 2px rgba(0, 0, 0, .06), 0 0 0 1px rgba(0, 0, 0, .04);
}
.customer .bubble {
  border-bottom-left-radius: 18px;
  border-bottom-right-radius: 6px;
  box-shadow: none;
}
.pending .bubble { opacity: .75; }
.failed .bubble { opacity: .6; box-shadow: 0 0 0 2px #dc2626; }
.meta {
  margin: 4px 6px 0;
  font-size: 12px;
  color: var(--cv-muted);
}
.failed .meta { color: #b91c1c; }
.retry {
  padding: 0;
  border: 0;
  background: none;
  color: inherit;
  font-size: 12px;
  font-weight: 600;
  text-decoration: underline;
}
.retry:focus-visible { outline: 2px solid var(--cv-ring); outline-offset: 2px; }
.author {
  margin: 4px 12px 2px;
  font-size: 12px;
  font-weight: 600;
  color: var(--cv-muted);
}
.sys {
  align-self: center;
  max-width: 90%;
  margin: 6px 0;
  padding: 3px 10px;
  border-radius: 999px;
  background: rgba(0, 0, 0, .05);
  color: var(--cv-muted);
  font-size: 12.5px;
  text-align: center;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}
.typing {
  flex: none;
  display: flex;
  align-items: center;
  gap: 8px;
  padding: 6px 18px;
  background: var(--cv-soft);
  color: var(--cv-muted);
  font-size: 12.5px;
}
.dots { display: flex; gap: 3px; }
.dots i {
  width: 6px;
  height: 6px;
  border-radius: 50%;
  background: var(--cv-muted);
  animation: cv-dot 1.2s infinite ease-in-out;
}
.dots i:nth-child(2) { animation-delay: .15s; }
.dots i:nth-child(3) { animation-delay: .3s; }
@keyframes cv-dot {
  0%, 60%, 100% { opacity: .3; transform: none; }
  30% { opacity: 1; transform: translateY(-3px); }
}
.badge {
  position: absolute;
  top: -2px;
  right: -2px;
  min-width: 22px;
  height: 22px;
  padding: 0 6px;
  border-radius: 11px;
  display: flex;
  align-items: center;
  justify-content: center;
  background: #dc2626;
  color: #ffffff;
  font-size: 12px;
  font-weight: 700;
  line-height: 1;
  box-shadow: 0 0 0 2px #ffffff;
}
.open .badge { display: none; }

/* no agent available (prechat.js), and the form asking for an email */
.offline {
  flex: none;
  padding: 8px 16px;
  background: #fff7ed;
  color: #7c2d12;
  font-size: 13px;
  border-bottom: 1px solid var(--cv-line);
}
.prechat {
  flex: none;
  display: flex;
  flex-direction: column;
  gap: 8px;
  margin: 0;
  padding: 12px 16px;
  border-top: 1px solid var(--cv-line);
  background: var(--cv-soft);
}
.prechat-ask, .prechat-error, .prechat-thanks { margin: 0; font-size: 13px; }
.prechat-error { color: #b91c1c; }
.prechat-thanks { flex: none; padding: 6px 16px; color: var(--cv-muted); }
.prechat input {
  font: inherit;
  font-size: 14px;
  margin: 0;
  padding: 8px 10px;
  border: 1px solid var(--cv-line);
  border-radius: 8px;
  background: var(--cv-bg);
  color: var(--cv-ink);
}
.prechat input:focus { outline: 2px solid var(--cv-ring); outline-offset: 0; }
.prechat-actions { display: flex; gap: 8px; }
.prechat-save, .prechat-skip {
  padding: 6px 14px;
  border-radius: 8px;
  border: 1px solid var(--cv-line);
  font-size: 14px;
}
.prechat-save { background: var(--cv-color); color: var(--cv-fg); border-color: var(--cv-color); }
.prechat-skip { background: transparent; color: var(--cv-muted); }
.input:disabled { cursor: not-allowed; }

.composer {
  flex: none;
  display: flex;
  align-items: flex-end;
  gap: 8px;
  margin: 0;
  padding: 12px 12px 12px 16px;
  border-top: 1px solid var(--cv-line);
  background: var(--cv-bg);
}
.input {
  flex: 1;
  min-width: 0;
  min-height: 40px;
  max-height: 140px;
  padding: 9px 0;
  border: 0;
  outline: none;
  resize: none;
  field-sizing: content;
  background: transparent;
  color: var(--cv-ink);
  font-size: 15px;
  line-height: 22px;
}
.input::placeholder { color: #9ca3af; opacity: 1; }
.composer:focus-within { border-top-color: var(--cv-ring); }
.send {
  flex: none;
  width: 40px;
  height: 40px;
  transition: opacity .15s ease, transform .15s ease;
}
.send:disabled { opacity: .35; cursor: default; }
.send:not(:disabled):hover { transform: scale(1.06); }
.send:focus { outline: none; }
.send:focus-visible { outline: 2px solid var(--cv-ring); outline-offset: 2px; }
.send svg { width: 20px; height: 20px; }

/* co-browsing: the consent prompt and the banner at the top, the agent's
   pointer and clicks over the page; above the rest of the widget */
.cb-card {
  position: fixed;
  z-index: calc(var(--cv-z) + 10);
  top: 16px;
  left: 50%;
  transform: translateX(-50%);
  box-shadow: 0 0 0 1px rgba(0, 0, 0, .06), 0 12px 28px rgba(0, 0, 0, .16);
}
.cb-prompt {
  width: min(380px, calc(100vw - 32px));
  padding: 16px 16px 14px;
  border-radius: 14px;
  background: var(--cv-bg);
  animation: cv-in .2s cubic-bezier(.2, .8, .3, 1);
}
.cb-title { margin: 0 0 4px; font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.cb-text { margin: 0 0 14px; color: var(--cv-muted); font-size: 13.5px; }
.cb-buttons { display: flex; justify-content: flex-end; gap: 8px; }
.cb-btn {
  padding: 7px 14px;
  border: 1px solid var(--cv-line);
  border-radius: 8px;
  background: var(--cv-bg);
  color: var(--cv-ink);
  font-size: 14px;
  font-weight: 600;
}
.cb-btn:disabled { opacity: .6; cursor: default; }
.cb-btn:focus { outline: none; }
.cb-btn:focus-visible { outline: 2px solid var(--cv-ring); outline-offset: 2px; }
.cb-allow { background: var(--cv-color); border-color: var(--cv-color); color: var(--cv-fg); }
.cb-banner {
  display: flex;
  align-items: center;
  gap: 10px;
  max-width: calc(100vw - 32px);
  padding: 6px 6px 6px 14px;
  border-radius: 999px;
  background: var(--cv-ink);
  color: #ffffff;
  font-size: 14px;
}
.cb-banner-text { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cb-live {
  flex: none;
  width: 9px;
  height: 9px;
  border-radius: 50%;
  background: #ef4444;
  animation: cv-live 1.6s infinite ease-in-out;
}
@keyframes cv-live { 50% { opacity: .35; } }
.cb-stop { flex: none; padding: 4px 12px; border: 0; border-radius: 999px; }
.cb-pointer, .cb-click {
  position: fixed;
  z-index: calc(var(--cv-z) + 20);
  top: 0;
  left: 0;
  pointer-events: none;
}
.cb-pointer { display: flex; align-items: flex-start; transition: transform .06s linear; }
.cb-arrow {
  width: 22px;
  height: 22px;
  fill: var(--cv-color);
  stroke: #ffffff;
  stroke-width: 1.5;
  filter: drop-shadow(0 1px 2px rgba(0, 0, 0, .35));
}
.cb-name {
  margin: 16px 0 0 -4px;
  padding: 2px 8px;
  border-radius: 999px;
  background: var(--cv-color);
  color: var(--cv-fg);
  font-size: 12px;
  font-weight: 600;
  white-space: nowrap;
}
.cb-click {
  width: 36px;
  height: 36px;
  margin: -18px 0 0 -18px;
  border: 3px solid var(--cv-color);
  border-radius: 50%;
  animation: cv-click .7s ease-out forwards;
}
@keyframes cv-click {
  from { opacity: 1; transform: scale(.3); }
  to { opacity: 0; transform: scale(1.6); }
}

/* phones: the open panel takes the whole screen */
@media (max-width: 480px) {
  .panel {
    inset: 0;
    width: auto;
    height: auto;
    max-height: none;
    border-radius: 0;
    box-shadow: none;
  }
  .left .panel { left: 0; right: 0; }
  .launcher { bottom: 16px; right: 16px; width: 56px; height: 56px; }
  .left .launcher { right: auto; left: 16px; }
  .open .launcher { display: none; }
  .header { padding-top: max(14px, env(safe-area-inset-top)); padding-bottom: 14px; }
  .composer { padding-bottom: max(12px, env(safe-area-inset-bottom)); }
  .input { font-size: 16px; }
}

@media (prefers-reduced-motion: reduce) {
  .panel, .dots i, .cb-prompt, .cb-live, .cb-click { animation: none; }
  .cb-pointer { transition: none; }
  .launcher, .launcher .icon, .send, .close { transition: none; }
}

@media (forced-colors: active) {
  .launcher, .send, .panel { border: 1px solid CanvasText; }
}
`;
}

export function createSheet(color) {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(buildCss(color));
  return sheet;
}

export function supportsAdoptedSheets() {
  try {
    return typeof CSSStyleSheet === 'function'
      && 'replaceSync' in CSSStyleSheet.prototype
      && 'adoptedStyleSheets' in ShadowRoot.prototype;
  } catch (e) {
    return false;
  }
}
