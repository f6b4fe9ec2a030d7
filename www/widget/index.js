// Chatvisor widget: the live-chat launcher and panel that the nginx filter
// injects into HTML pages with
//   <script async src="PREFIX widget.js?v=HASH" data-chatvisor="1" ...>.
// Loaded twice, it draws one widget; it exposes only window.__chatvisor.
import { findOwnScript, readConfig } from './config.js';
import { resolveTexts } from './i18n.js';
import { supportsAdoptedSheets } from './styles.js';
import { mountWidget } from './ui.js';
import { createChat } from './chat.js';
import { startCobrowse } from './cobrowse.js';

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
    const start = () => {
      try {
        if (state.widget) return;
        const texts = resolveTexts(config.language, config.texts);
        const chat = createChat({ prefix: config.prefix, cobrowse: config.cobrowse });
        state.widget = mountWidget(doc, config, texts, chat);
        // co-browsing only where the tag says so; the recorder itself is
        // loaded later, after the visitor allows it
        if (config.cobrowse) startCobrowse({ win, config, chat, texts, container: state.widget.root });
      } catch (e) {
        console.error('[chatvisor]', e);
      }
    };
    if (doc.body) start();
    else doc.addEventListener('DOMContentLoaded', start, { once: true });
  } catch (e) {
    console.error('[chatvisor]', e);
  }
})(typeof window !== 'undefined' ? window : null, typeof document !== 'undefined' ? document : null);
