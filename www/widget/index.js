// Chatvisor widget: the live-chat launcher and panel that the nginx filter
// injects into HTML pages with
//   <script async src="PREFIX widget.js?v=HASH" data-chatvisor="1" ...>.
// Loaded twice, it draws one widget; it exposes window.__chatvisor and the
// page's API, window.Chatvisor (api.js).
import { findOwnScript, readConfig } from './config.js';
import { resolveTexts } from './i18n.js';
import { supportsAdoptedSheets } from './styles.js';
import { mountWidget } from './ui.js';
import { createChat } from './chat.js';
import { startCobrowse } from './cobrowse.js';
import { createApi } from './api.js';

(function main(win, doc) {
  if (!win || !doc || win.__chatvisor) return;
  const state = { version: 1, widget: null };
  win.__chatvisor = state;
  try {
    // currentScript is only set now, during the synchronous top level
    const config = readConfig(findOwnScript(doc), win.location);
    state.config = config;
    if (!supportsAdoptedSheets()) {
      // no way to style it without inline styles, which a CSP may forbid
      console.warn('[chatvisor] this browser lacks constructable stylesheets; widget disabled');
      return;
    }
    const texts = resolveTexts(config.language, config.texts);
    const { api, start: startApi } = createApi(win, config);
    state.api = api;
    // a new chat each time: the API draws the widget again when identify()
    // makes the visitor another customer
    const mount = (hooks) => {
      const chat = createChat({ prefix: config.prefix, cobrowse: config.cobrowse });
      const widget = mountWidget(doc, config, texts, chat, hooks);
      widget.chat = chat;
      state.widget = widget;
      // co-browsing only where the tag says so; the recorder itself is
      // loaded later, after the visitor allows it
      if (config.cobrowse) {
        const cobrowse = startCobrowse({ win, config, chat, texts, container: widget.root });
        const destroy = widget.destroy;
        widget.destroy = () => { cobrowse.end(); destroy(); };
      }
      return widget;
    };
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      startApi(mount, config.identify).catch((e) => console.error('[chatvisor]', e));
    };
    if (doc.body) start();
    else doc.addEventListener('DOMContentLoaded', start, { once: true });
  } catch (e) {
    console.error('[chatvisor]', e);
  }
})(typeof window !== 'undefined' ? window : null, typeof document !== 'undefined' ? document : null);
