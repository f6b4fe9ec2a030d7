// What never leaves the visitor's browser while co-browsing, in two layers:
//
// 1. rrweb's own options (recordOptions): every input, textarea and select
//    value masked, [data-chatvisor-private] and the configured selectors
//    blocked (a same-size placeholder, nothing inside it recorded), the
//    configured text selectors masked, the widget itself not recorded.
// 2. guardEvent(), run on every event rrweb emits before it is queued: it
//    masks again every value an event can carry, whatever rrweb did. rrweb
//    has known leaks here (issue 1609: hidden inputs are not masked by
//    maskAllInputs; 1385 and 1488: maskInputFn is not applied everywhere),
//    and a value can arrive as an attribute mutation (a script or autofill
//    setting value="…", a show-password toggle changing the type) as well as
//    an input event.
//
// A value is replaced by MASK, the same for every value: the agent sees
// that something is filled in, not how long it is.
import {
  EVENT_FULL_SNAPSHOT, EVENT_INCREMENTAL, SOURCE_INPUT, NODE_ELEMENT, NODE_TEXT,
  walkNodes, tagOf, mutationOf,
} from '../shared/rrweb-nodes.js';

export const MASK = '********';

// elements the page marks as private: never recorded, with what is inside
export const PRIVATE_SELECTOR = '[data-chatvisor-private]';
// the widget (the chat, the consent prompt, the agent's pointer): the agent
// has the chat already, and must not see their own pointer come back
export const WIDGET_SELECTOR = 'chatvisor-widget';

const VALUE_TAGS = ['input', 'textarea', 'select'];
// input types whose value attribute is the page's own (a button's label, a
// checkbox's token), not something the visitor typed
const LABEL_TYPES = ['submit', 'button', 'reset', 'image', 'checkbox', 'radio'];
// every input type, so that rrweb masks each whatever its type (its
// maskAllInputs list leaves out hidden, for one)
const INPUT_TYPES = ['text', 'password', 'hidden', 'email', 'tel', 'url', 'search', 'number', 'range',
  'color', 'date', 'datetime-local', 'month', 'week', 'time', 'file'];

export function maskValue(value) {
  return typeof value === 'string' && value !== '' ? MASK : value;
}

// A configured selector list ("a, b"), checked by the browser: a list it
// cannot parse throws, so a typo in nginx.conf stops co-browsing instead of
// showing what it was meant to hide.
function selectorList(doc, list, what) {
  const s = String(list || '').trim();
  if (!s) return '';
  try {
    doc.createDocumentFragment().querySelector(s);
  } catch (e) {
    throw new Error(`co-browsing is off: ${what} "${s}" is not a CSS selector list`);
  }
  return s;
}

// rrweb record() options for the page's document; block and mask are the
// tag's data-cobrowse-block and data-cobrowse-mask.
export function recordOptions(doc, { block, mask }) {
  const maskInputOptions = { input: true, textarea: true, select: true };
  for (const t of INPUT_TYPES) maskInputOptions[t] = true;
  const blocked = [PRIVATE_SELECTOR, WIDGET_SELECTOR, selectorList(doc, block, 'data-cobrowse-block')];
  return {
    // maskAllInputs: true would replace maskInputOptions with rrweb's
    // shorter list (no hidden inputs): the full list is given instead
    maskAllInputs: false,
    maskInputOptions,
    maskInputFn: (text) => maskValue(text),
    blockSelector: blocked.filter(Boolean).join(', '),
    maskTextSelector: selectorList(doc, mask, 'data-cobrowse-mask') || null,
  };
}

// A show-password toggle turns type=password into text; rrweb marks such an
// input data-rr-is-password, and it stays a password here.
function effectiveType(type, wasPassword) {
  return wasPassword ? 'password' : String(type || 'text').toLowerCase();
}

function isLabelInput(tag, type) {
  return tag === 'input' && LABEL_TYPES.includes(type);
}

// An element's attributes as rrweb records them (a snapshot's, or the
// changed ones of a mutation): the value masked, an option's selected left
// out (it tells the select's value).
function guardAttributes(tag, type, attributes) {
  if (!attributes || typeof attributes !== 'object') return;
  if (VALUE_TAGS.includes(tag) && 'value' in attributes && !isLabelInput(tag, type)) {
    attributes.value = maskValue(attributes.value);
  }
  if (tag === 'option') delete attributes.selected;
}

function guardTree(root, parent) {
  walkNodes(root, (node, up) => {
    const tag = tagOf(node);
    const a = node.attributes;
    if (tag) guardAttributes(tag, effectiveType(a && a.type, a && 'data-rr-is-password' in a), a);
    if (node.type === NODE_TEXT && tagOf(up) === 'textarea') node.textContent = maskValue(node.textContent);
  }, parent);
}

// A live DOM element as a serialized-node lookalike, for its tag only.
function asSerialized(el) {
  return el && el.nodeType === 1 ? { type: NODE_ELEMENT, tagName: el.nodeName } : null;
}

function liveType(el) {
  return effectiveType(el.getAttribute('type'), el.hasAttribute('data-rr-is-password'));
}

// Masks in place every value the event carries and returns it. nodeOf(id)
// is the live DOM node that rrweb's mirror knows by that id.
export function guardEvent(event, nodeOf) {
  if (!event || typeof event !== 'object') return event;
  if (event.type === EVENT_FULL_SNAPSHOT && event.data) guardTree(event.data.node, null);
  const m = mutationOf(event);
  if (m) {
    for (const add of m.adds || []) guardTree(add.node, asSerialized(nodeOf(add.parentId)));
    for (const change of m.attributes || []) {
      const el = nodeOf(change.id);
      const attrs = change.attributes;
      if (el && el.nodeType === 1) {
        const type = attrs && 'type' in attrs && !el.hasAttribute('data-rr-is-password')
          ? effectiveType(attrs.type, false) : liveType(el);
        guardAttributes(el.nodeName.toLowerCase(), type, attrs);
      } else if (attrs && 'value' in attrs) {
        attrs.value = maskValue(attrs.value);    // not known: take no chances
      }
    }
    for (const t of m.texts || []) {
      const n = nodeOf(t.id);
      const up = n && n.parentNode;
      if (!n || (up && up.nodeName === 'TEXTAREA')) t.value = maskValue(t.value);
    }
  }
  if (event.type === EVENT_INCREMENTAL && event.data && event.data.source === SOURCE_INPUT) {
    const el = nodeOf(event.data.id);
    const label = el && el.nodeType === 1 && isLabelInput(el.nodeName.toLowerCase(), liveType(el));
    if (!label) event.data.text = maskValue(event.data.text);
  }
  return event;
}
