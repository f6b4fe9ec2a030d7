// Building DOM without markup, for the widget and the console: text always
// goes in as text nodes (never through innerHTML), attributes as strings.

const SVG_NS = 'http://www.w3.org/2000/svg';

// element(doc, 'div', {class: 'x', hidden: true, onclick: fn}, ['text', child, null]):
// an attribute that is false or null is left out, true is an empty one, a
// function under on* is an event listener; null and false children are
// skipped.
export function element(doc, tag, attrs, children) {
  const el = doc.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v === false || v == null) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children || []) {
    if (c == null || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? el.ownerDocument.createTextNode(String(c)) : c);
  }
  return el;
}

// An icon: one path in a 24x24 viewBox, hidden from assistive technology.
// With a strokeWidth it is drawn as an outline (round caps and joins),
// without one filled, in the current color.
export function svgIcon(doc, cls, d, strokeWidth) {
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = doc.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  if (strokeWidth) {
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', strokeWidth);
    path.setAttribute('stroke-linecap', 'round');
    path.setAttribute('stroke-linejoin', 'round');
  } else {
    path.setAttribute('fill', 'currentColor');
  }
  svg.appendChild(path);
  return svg;
}

// A reply box's keys: Enter sends (Shift+Enter is a new line, and an Enter
// that ends an IME composition is not sending), and so does the form's
// submit; submit() reads the input itself.
export function sendOnEnter(form, input, submit) {
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
}
