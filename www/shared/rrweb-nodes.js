// The parts of rrweb's event format that our own checks read (the
// recorder's privacy guard, the console's sanitizer): the numbers rrweb
// gives event types, incremental sources and serialized nodes, and a walk
// over the serialized nodes an event carries. Both bundles already contain
// rrweb; this file keeps our code from depending on its internals.

export const EVENT_FULL_SNAPSHOT = 2;
export const EVENT_INCREMENTAL = 3;
export const EVENT_META = 4;

export const SOURCE_MUTATION = 0;
export const SOURCE_INPUT = 5;

export const NODE_ELEMENT = 2;
export const NODE_TEXT = 3;

// visit(node, parent) for a serialized node and every node under it, parent
// first; `parent` is the serialized parent (for the first node, the one
// given).
export function walkNodes(node, visit, parent) {
  if (!node || typeof node !== 'object') return;
  visit(node, parent || null);
  if (Array.isArray(node.childNodes)) {
    for (const child of node.childNodes) walkNodes(child, visit, node);
  }
}

// An element node's tag in lower case, '' for other nodes.
export function tagOf(node) {
  return node && node.type === NODE_ELEMENT && typeof node.tagName === 'string' ? node.tagName.toLowerCase() : '';
}

// The mutation record of an incremental event, or null.
export function mutationOf(event) {
  return event && event.type === EVENT_INCREMENTAL && event.data && event.data.source === SOURCE_MUTATION
    ? event.data : null;
}
