// Launcher and chat panel, rendered into a shadow root so the page's CSS
// cannot reach it. Every text from the settings goes in with textContent.
import { createSheet } from './styles.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function h(doc, tag, attrs, children) {
  const el = doc.createElement(tag);
  for (const k in attrs || {}) {
    if (attrs[k] !== false && attrs[k] != null) el.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
  }
  for (const c of children || []) el.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
  return el;
}

// paths: 24x24 viewBox; `stroke` draws outlines instead of filling
function icon(doc, cls, d, stroke) {
  const svg = doc.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = doc.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  if (stroke) {
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', '2.2');
    path.setAttribute('stroke-linecap', 'round');
    path.setAttribute('stroke-linejoin', 'round');
  } else {
    path.setAttribute('fill', 'currentColor');
  }
  svg.appendChild(path);
  return svg;
}

const ICON_CHAT = 'M12 3C6.48 3 2 6.92 2 11.75c0 2.47 1.18 4.7 3.08 6.29-.2 1.33-.83 2.58-1.85 3.56 '
  + '2.06.12 3.94-.55 5.34-1.66 1.1.3 2.25.46 3.43.46 5.52 0 10-3.92 10-8.75S17.52 3 12 3z';
const ICON_DOWN = 'M6 9.5l6 6 6-6';
const ICON_CLOSE = 'M6.5 6.5l11 11M17.5 6.5l-11 11';
const ICON_SEND = 'M3.4 20.4l17.45-7.48a1 1 0 000-1.84L3.4 3.6a.99.99 0 00-1.39.91L2 9.12c0 .5.37.93.87.99L17 '
  + '12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z';

export function mountWidget(doc, config, texts, chat) {
  const win = doc.defaultView;
  const host = doc.createElement('chatvisor-widget');
  const shadow = host.attachShadow({ mode: 'open' });
  shadow.adoptedStyleSheets = [createSheet(config.color)];

  const launcher = h(doc, 'button', {
    type: 'button', class: 'launcher', part: 'launcher',
    'aria-label': texts.launcher, title: texts.launcher,
    'aria-expanded': 'false', 'aria-controls': 'cv-panel', 'aria-haspopup': 'dialog',
  }, [icon(doc, 'icon icon-chat', ICON_CHAT), icon(doc, 'icon icon-close', ICON_DOWN, true)]);

  const title = h(doc, 'h2', { class: 'title', id: 'cv-title' });
  title.textContent = texts.title;
  const closeBtn = h(doc, 'button', { type: 'button', class: 'close', 'aria-label': texts.close, title: texts.close },
    [icon(doc, 'icon', ICON_CLOSE, true)]);
  const header = h(doc, 'div', { class: 'header' },
    [h(doc, 'div', { class: 'avatar', 'aria-hidden': 'true' }, [icon(doc, '', ICON_CHAT)]), title, closeBtn]);

  const log = h(doc, 'div', {
    class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': texts.messages, tabindex: '0',
  });

  const input = h(doc, 'textarea', {
    class: 'input', rows: '1', 'aria-label': texts.composer, placeholder: texts.placeholder,
    autocomplete: 'off', maxlength: '4000',
  });
  const sendBtn = h(doc, 'button', { type: 'submit', class: 'send', 'aria-label': texts.send, title: texts.send, disabled: true },
    [icon(doc, 'icon', ICON_SEND)]);
  const composer = h(doc, 'form', { class: 'composer', novalidate: true }, [input, sendBtn]);

  const panel = h(doc, 'div', {
    class: 'panel', id: 'cv-panel', role: 'dialog', 'aria-label': texts.title, hidden: true,
  }, [header, log, composer]);

  const root = h(doc, 'div', {
    class: 'root' + (config.position === 'left' ? ' left' : ''), lang: config.language, dir: 'ltr',
  }, [launcher, panel]);
  shadow.appendChild(root);

  function addMessage(message) {
    const type = message.author && message.author.type === 'customer' ? 'customer' : 'agent';
    const bubble = h(doc, 'div', { class: 'bubble' });
    bubble.textContent = message.text;
    const item = h(doc, 'div', { class: 'msg ' + type + (message.pending ? ' pending' : '') }, [bubble]);
    if (message.pending) {
      const meta = h(doc, 'div', { class: 'meta' });
      meta.textContent = texts.sending;
      item.appendChild(meta);
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  // the greeting is the first bubble of every conversation
  addMessage({ author: { type: 'system' }, text: texts.greeting });
  chat.subscribe((event) => {
    if (event && event.type === 'message' && event.message) addMessage(event.message);
  });

  let open = false;
  function setOpen(next, focusLauncher) {
    if (next === open) return;
    open = next;
    panel.hidden = !open;
    root.classList.toggle('open', open);
    launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      log.scrollTop = log.scrollHeight;
      input.focus({ preventScroll: true });
    } else if (focusLauncher) {
      launcher.focus({ preventScroll: true });
    }
  }

  launcher.addEventListener('click', () => setOpen(!open, false));
  closeBtn.addEventListener('click', () => setOpen(false, true));
  root.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && open && !e.isComposing) {
      e.preventDefault();
      setOpen(false, true);
    }
  });

  const updateSend = () => { sendBtn.disabled = input.value.trim() === ''; };
  function submit() {
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    updateSend();
    chat.send(text).catch((err) => console.error('[chatvisor]', err));
    input.focus({ preventScroll: true });
  }
  input.addEventListener('input', updateSend);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });

  // chatvisor_show_after: the launcher appears after that long on the page
  if (config.showAfterMs > 0) {
    launcher.hidden = true;
    win.setTimeout(() => { launcher.hidden = false; }, config.showAfterMs);
  }

  doc.body.appendChild(host);

  // Pages that re-render <body> (some SPA frameworks) may drop the host:
  // put it back, and follow a replaced <body>.
  if (typeof win.MutationObserver === 'function') {
    let watched = doc.body;
    const mo = new win.MutationObserver(() => {
      const body = doc.body;
      if (!body) return;
      if (body !== watched) {
        watched = body;
        mo.observe(body, { childList: true });
      }
      if (!host.isConnected) body.appendChild(host);
    });
    mo.observe(doc.documentElement, { childList: true });
    mo.observe(watched, { childList: true });
  }

  return {
    host,
    shadowRoot: shadow,
    open: () => setOpen(true, false),
    close: () => setOpen(false, false),
    isOpen: () => open,
  };
}
