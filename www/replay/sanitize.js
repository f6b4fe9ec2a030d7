// What the console lets through to the replayed page. The view is already
// a sandboxed iframe without allow-scripts under the console's CSP
// (script-src 'self'), and the recorder leaves scripts out; here the
// events lose, besides, whatever could run or navigate if either of those
// failed: <script> (made an empty <noscript>), on* handler attributes,
// javascript: URLs, srcdoc, and <meta http-equiv> (a refresh navigates).
// Elements the recorder blocked (a same-size placeholder) are marked
// data-chatvisor-blocked, so the view can draw them (player.js).
import { EVENT_FULL_SNAPSHOT, walkNodes, tagOf, mutationOf } from '../shared/rrweb-nodes.js';

const URL_ATTRIBUTES = ['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster', 'background', 'ping'];
const SCRIPT_URL = /^[\s\u0000-\u001f]*(javascript|vbscript):/i;
export const BLOCKED_ATTRIBUTE = 'data-chatvisor-blocked';

function dangerous(tag, name, value) {
  const n = name.toLowerCase();
  return n.startsWith('on') || n === 'srcdoc' || (tag === 'meta' && n === 'http-equiv')
    || (URL_ATTRIBUTES.includes(n) && typeof value === 'string' && SCRIPT_URL.test(value));
}

// tag: '' when not known (an attribute change names only the node's id)
function cleanAttributes(tag, attributes) {
  if (!attributes || typeof attributes !== 'object') return;
  for (const name of Object.keys(attributes)) {
    if (dangerous(tag, name, attributes[name])) delete attributes[name];
  }
}

function cleanTree(root) {
  walkNodes(root, (node) => {
    const tag = tagOf(node);
    if (!tag) return;
    if (tag === 'script') {
      node.tagName = 'noscript';
      node.attributes = {};
      node.childNodes = [];
    }
    cleanAttributes(tag, node.attributes);
    if (node.attributes && 'rr_width' in node.attributes) node.attributes[BLOCKED_ATTRIBUTE] = '';
  });
}

// Cleans the event in place and returns it.
export function sanitizeEvent(event) {
  if (!event || typeof event !== 'object') return event;
  if (event.type === EVENT_FULL_SNAPSHOT && event.data) cleanTree(event.data.node);
  const m = mutationOf(event);
  if (m) {
    for (const add of m.adds || []) cleanTree(add.node);
    for (const change of m.attributes || []) cleanAttributes('', change.attributes);
  }
  return event;
}
