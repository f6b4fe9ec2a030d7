// Reads the widget settings from the <script> tag the nginx filter injected:
//   <script async src="/chatvisor/widget.js?v=HASH" data-chatvisor="1"
//     data-color="#2563eb" data-position="right" data-language="en"
//     data-text-title="..." data-show-after="20000ms" data-cobrowse="1"
//     data-cobrowse-block="#card, .secret" data-cobrowse-mask=".name"
//     data-online="1" data-identify="1"
//     data-prechat="name,email" data-prechat-required="1" ...>
//
// What the tag leaves out takes the defaults of www/shared/defaults.json,
// the same file nginx's defaults are generated from.
import DEFAULTS from '../shared/defaults.json';
import { CONFIGURABLE, pickLanguage } from './i18n.js';
import { parsePrechat } from './prechat.js';

export const DEFAULT_COLOR = DEFAULTS.color;
export const DEFAULT_PREFIX = DEFAULTS.prefix;
const POSITIONS = ['right', 'left'];
const COLOR_RE = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i;

// The tag that loaded us. document.currentScript is only set while a classic
// script runs its top level, so this must be called synchronously there.
export function findOwnScript(doc) {
  const cur = doc.currentScript;
  if (cur && cur.hasAttribute && cur.hasAttribute('data-chatvisor')) return cur;
  return doc.querySelector('script[data-chatvisor]') || cur || null;
}

// "#abc" / "#aabbcc" -> lower-case "#aabbcc"; anything else -> null. Only a
// value that passed this check is ever written into a stylesheet.
export function normalizeColor(value) {
  const v = String(value || '').trim();
  if (!COLOR_RE.test(v)) return null;
  let hex = v.slice(1).toLowerCase();
  if (hex.length === 3) hex = hex.replace(/./g, '$&$&');
  return '#' + hex;
}

// PREFIX is the path of the script URL up to "widget.js".
export function prefixFromSrc(src, base) {
  try {
    const path = new URL(src, base).pathname;
    const i = path.lastIndexOf('widget.js');
    if (i > 0) return path.slice(0, i);
  } catch (e) { /* fall through */ }
  return DEFAULT_PREFIX;
}

// nginx-style durations ("30s", "5m", "1h", "500ms", "1m30s"); a bare number
// is seconds. Returns milliseconds, 0 when absent or malformed.
export function parseDuration(value) {
  const v = String(value || '').trim().toLowerCase();
  if (v === '') return 0;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(parseFloat(v) * 1000);
  const re = /(\d+)(ms|s|m|h|d)/g;
  const unit = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };
  let total = 0;
  let consumed = 0;
  let m;
  while ((m = re.exec(v)) !== null) {
    total += parseInt(m[1], 10) * unit[m[2]];
    consumed += m[0].length;
  }
  return consumed === v.length ? total : 0;
}

function flag(value) {
  return value === '1' || value === 'on' || value === 'true';
}

function position(value) {
  const v = value.toLowerCase();
  return POSITIONS.indexOf(v) >= 0 ? v : DEFAULTS.position;
}

export function readConfig(script, loc) {
  const get = (name) => (script && script.getAttribute(name)) || '';
  const showAfter = get('data-show-after');
  const texts = {};
  for (const key of CONFIGURABLE) {
    const v = script && script.getAttribute('data-text-' + key);
    if (v != null) texts[key] = v;
  }
  return {
    prefix: prefixFromSrc(script && script.getAttribute('src') || '', loc.href),
    color: normalizeColor(get('data-color')) || DEFAULT_COLOR,
    position: position(get('data-position')),
    language: pickLanguage(get('data-language')),
    texts,
    showAfterMs: showAfter ? parseDuration(showAfter) : DEFAULTS.show_after_ms,
    cobrowse: flag(get('data-cobrowse')),
    // co-browsing: selectors of what is never recorded, and of text masked
    cobrowseBlock: get('data-cobrowse-block'),
    cobrowseMask: get('data-cobrowse-mask'),
    // set by the edge per page: an agent was online (isAgentOnline()), and
    // chatvisor_identify named a customer this browser is not yet
    online: flag(get('data-online')),
    identify: flag(get('data-identify')),
    // the pre-chat form: ['email'] or ['name', 'email'] (none: [])
    prechat: parsePrechat(get('data-prechat')),
    prechatRequired: flag(get('data-prechat-required')),
  };
}
