// What the visitor sees of co-browsing, drawn in the widget's shadow root
// (so the page's CSS cannot reach it, and the recorder leaves it out):
//
//   ui.ask(name)          the consent prompt: "<name> wants to see this
//                         page", Allow / Decline
//   ui.busy(on)           its buttons disabled while the answer is sent
//   ui.viewing(name)      the banner: "<name> is viewing this page", Stop
//   ui.pointer(p, name)   the agent's pointer at p = {x, y} (document
//                         coordinates), labelled with their name
//   ui.click(p)           a short highlight where the agent clicked
//   ui.hide()             none of it
//
// Texts go in as text; positions through the CSSOM (el.style), which a page
// CSP without 'unsafe-inline' allows.
import { element as h } from '../shared/dom.js';
import { format } from './i18n.js';

const CLICK_SHOW_MS = 700;
const POINTER_ARROW = 'M4 2v15l4-4 3 6.2 2.6-1.3-3-6H16z';

function arrow(doc) {
  const SVG = 'http://www.w3.org/2000/svg';
  const svg = doc.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 20 20');
  svg.setAttribute('class', 'cb-arrow');
  const path = doc.createElementNS(SVG, 'path');
  path.setAttribute('d', POINTER_ARROW);
  svg.appendChild(path);
  return svg;
}

export function createCobrowseUi(doc, container, texts, { onAllow, onDecline, onStop }) {
  const win = doc.defaultView;

  const askTitle = h(doc, 'p', { class: 'cb-title', id: 'cv-cb-title' });
  const allow = h(doc, 'button', { type: 'button', class: 'cb-btn cb-allow', onclick: () => onAllow() }, [texts.cobrowseAllow]);
  const decline = h(doc, 'button', { type: 'button', class: 'cb-btn cb-decline', onclick: () => onDecline() }, [texts.cobrowseDecline]);
  const prompt = h(doc, 'div', {
    class: 'cb-card cb-prompt', role: 'alertdialog', 'aria-labelledby': 'cv-cb-title', 'aria-describedby': 'cv-cb-text', hidden: true,
  }, [askTitle, h(doc, 'p', { class: 'cb-text', id: 'cv-cb-text' }, [texts.cobrowseDetail]),
    h(doc, 'div', { class: 'cb-buttons' }, [decline, allow])]);

  const bannerText = h(doc, 'span', { class: 'cb-banner-text' });
  const stop = h(doc, 'button', { type: 'button', class: 'cb-btn cb-stop', onclick: () => onStop() }, [texts.cobrowseStop]);
  const banner = h(doc, 'div', { class: 'cb-card cb-banner', role: 'status', hidden: true },
    [h(doc, 'span', { class: 'cb-live', 'aria-hidden': 'true' }), bannerText, stop]);

  const pointerName = h(doc, 'span', { class: 'cb-name' });
  const pointerEl = h(doc, 'div', { class: 'cb-pointer', 'aria-hidden': 'true', hidden: true }, [arrow(doc), pointerName]);

  const layer = h(doc, 'div', { class: 'cb-layer' }, [prompt, banner, pointerEl]);
  container.appendChild(layer);

  let at = null;    // the pointer's document coordinates
  function place(el, p) {
    el.style.transform = `translate(${Math.round(p.x - win.scrollX)}px, ${Math.round(p.y - win.scrollY)}px)`;
  }
  win.addEventListener('scroll', () => { if (at) place(pointerEl, at); }, { passive: true });

  function hidePointer() {
    at = null;
    pointerEl.hidden = true;
  }

  return {
    ask(name) {
      askTitle.textContent = format(texts.cobrowseAsk, { name });
      banner.hidden = true;
      prompt.hidden = false;
      allow.disabled = false;
      decline.disabled = false;
    },
    busy(on) {
      allow.disabled = on;
      decline.disabled = on;
    },
    viewing(name) {
      prompt.hidden = true;
      bannerText.textContent = format(texts.cobrowseViewing, { name });
      banner.hidden = false;
    },
    pointer(p, name) {
      at = { x: Number(p.x) || 0, y: Number(p.y) || 0 };
      pointerName.textContent = name;
      place(pointerEl, at);
      pointerEl.hidden = false;
    },
    click(p) {
      // left/top: its animation scales it with transform
      const ring = h(doc, 'div', { class: 'cb-click', 'aria-hidden': 'true' });
      ring.style.left = `${Math.round((Number(p.x) || 0) - win.scrollX)}px`;
      ring.style.top = `${Math.round((Number(p.y) || 0) - win.scrollY)}px`;
      layer.appendChild(ring);
      win.setTimeout(() => ring.remove(), CLICK_SHOW_MS);
    },
    hide() {
      prompt.hidden = true;
      banner.hidden = true;
      hidePointer();
    },
  };
}
