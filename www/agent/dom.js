// DOM helpers of the console. Text always goes in as text nodes
// (textContent), never as markup.
import { element, append, svgIcon } from '../shared/dom.js';

// h('div', {class: 'x', onclick: fn}, ['text', child, null])
export function h(tag, attrs, children) {
  return element(document, tag, attrs, children);
}

export { append };

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function text(el, value) {
  el.textContent = value == null ? '' : String(value);
  return el;
}

// 24x24 outline icons
export const ICONS = {
  send: 'M4 12l16-8-6 16-2.5-6.5L4 12z',
  back: 'M15 5l-7 7 7 7',
  info: 'M12 8h.01M11 12h1v5h1M12 21a9 9 0 100-18 9 9 0 000 18z',
  bell: 'M6 16V11a6 6 0 1112 0v5l2 2H4l2-2zM10 20a2 2 0 004 0',
  bellOff: 'M6 16V11a6 6 0 019.5-4.9M18 11v5l2 2H8M10 20a2 2 0 004 0M3 3l18 18',
  volume: 'M4 9v6h4l5 4V5L8 9H4zM16 9a4 4 0 010 6M18.5 6.5a8 8 0 010 11',
  mute: 'M4 9v6h4l5 4V5L8 9H4zM16 9l5 6M21 9l-5 6',
  logout: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  check: 'M5 12.5l4.5 4.5L19 7',
  inbox: 'M4 13l2.5-8h11L20 13v6H4v-6zM4 13h5l1 2h4l1-2h5',
  chat: 'M4 5h16v11H9l-5 4V5z',
  user: 'M12 12a4 4 0 100-8 4 4 0 000 8zM4 21a8 8 0 0116 0',
  link: 'M10 14a4 4 0 006 0l3-3a4 4 0 00-6-6l-1 1M14 10a4 4 0 00-6 0l-3 3a4 4 0 006 6l1-1',
  screen: 'M3 5h18v11H3V5zM9 20h6M12 16v4',
  close: 'M6.5 6.5l11 11M17.5 6.5l-11 11',
};

export function icon(name, cls) {
  return svgIcon(document, 'icon' + (cls ? ' ' + cls : ''), ICONS[name] || '', '1.8');
}
