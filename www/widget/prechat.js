// The offline notice and the pre-chat form (chatvisor_prechat,
// docs/directives.md):
//
//   GET PREFIX v1/visitor/availability   {agents_available}, on each opening
//   PUT PREFIX v1/visitor/contact        {email, name?} -> {email, firstname}
//
// When no agent is available the panel says so (the `offline` text) and
// asks how to get back to the visitor, on opening (so the email is known
// before the first message's webhooks when the visitor answers first), or
// right after a message sent while it was still unknown. With data-prechat
// ("email" or "name,email") it asks on opening whatever the agents; with
// data-prechat-required the composer stays locked until a valid email is
// saved, else the visitor may skip. What the visitor did (gave or skipped)
// is remembered per browser, so the form is not asked again on every page
// (a skip does not answer a required form).
//
//   const prechat = createPrechat({ win, doc, config, texts, input });
//   prechat.banner, prechat.thanks, prechat.form   elements for the panel
//   prechat.opened()                the panel was opened
//   prechat.mayDeliver()            false while a required form is unanswered
//   prechat.sent()                  the visitor sent a message
import { request, HttpError } from '../shared/http.js';
import { element } from '../shared/dom.js';
import { format } from './i18n.js';

const h = element;
const STORE_KEY = 'chatvisor:contact';   // 'given' | 'skipped'
const NAME_MAX = 128;
const EMAIL_MAX = 254;

// The server's rule (engine/cv_customers.c, cv_email_valid): one "@", a
// local part of 1 to 64 characters, a domain with a dot inside it, no blank,
// control character or <>()[]\,;:" anywhere.
const PART = '[^\\s\\x00-\\x1f\\x7f@<>()\\[\\]\\\\,;:"';
const EMAIL_RE = new RegExp('^' + PART + ']{1,64}@' + PART + '.]+(\\.' + PART + '.]+)+$');

export function validEmail(value) {
  return typeof value === 'string' && value.length <= EMAIL_MAX && EMAIL_RE.test(value);
}

// "name,email" -> ['name', 'email']; anything else the tag may say -> []
export function parsePrechat(value) {
  const v = String(value || '').trim().toLowerCase();
  if (v === 'email') return ['email'];
  if (v === 'name,email' || v === 'email,name') return ['name', 'email'];
  return [];
}

export function createPrechat({ win, doc, config, texts, input }) {
  const fields = config.prechat || [];
  const configured = fields.indexOf('email') >= 0;
  const required = configured && !!config.prechatRequired;
  const base = config.prefix;

  const remembered = () => {
    try { return win.localStorage.getItem(STORE_KEY) || ''; } catch (e) { return ''; }
  };
  const remember = (what) => {
    try { win.localStorage.setItem(STORE_KEY, what); } catch (e) { /* private mode */ }
  };
  let done = remembered();    // 'given' | 'skipped' | ''
  let offline = false;
  let asking = false;

  const banner = h(doc, 'div', { class: 'offline', role: 'status', hidden: true });
  banner.textContent = texts.offline;

  const ask = h(doc, 'p', { class: 'prechat-ask' });
  ask.textContent = required ? texts.contactRequired : texts.contactAsk;
  const nameInput = fields.indexOf('name') >= 0
    ? h(doc, 'input', {
      class: 'prechat-name', type: 'text', name: 'name', autocomplete: 'name', maxlength: String(NAME_MAX),
      placeholder: texts.contactName, 'aria-label': texts.contactName,
    })
    : null;
  const emailInput = h(doc, 'input', {
    class: 'prechat-email', type: 'email', name: 'email', autocomplete: 'email', maxlength: String(EMAIL_MAX),
    placeholder: texts.contactEmail, 'aria-label': texts.contactEmail, required: true,
  });
  const error = h(doc, 'p', { class: 'prechat-error', role: 'alert', hidden: true });
  const save = h(doc, 'button', { type: 'submit', class: 'prechat-save' });
  save.textContent = texts.contactSave;
  const skip = required ? null : h(doc, 'button', { type: 'button', class: 'prechat-skip' });
  if (skip) skip.textContent = texts.contactSkip;
  const form = h(doc, 'form', { class: 'prechat', novalidate: true, hidden: true, 'aria-label': texts.contactAsk }, [
    ask, nameInput, emailInput, error, h(doc, 'div', { class: 'prechat-actions' }, [save, skip]),
  ]);
  const thanks = h(doc, 'p', { class: 'prechat-thanks', role: 'status', hidden: true });

  // a required form locks the composer until it is answered
  const locked = () => required && done !== 'given';
  function lock() {
    if (!input) return;
    input.disabled = locked();
  }

  // a skip elsewhere does not answer a required form
  const answered = () => done === 'given' || (done === 'skipped' && !required);

  function show() {
    if (answered() || asking) return;
    asking = true;
    form.hidden = false;
    lock();
    // a form that may be skipped leaves the visitor in the message box
    if (required) (nameInput || emailInput).focus({ preventScroll: true });
  }

  function finish(what) {
    done = what;
    remember(what);
    asking = false;
    form.hidden = true;
    lock();
    if (input && !input.disabled) input.focus({ preventScroll: true });
  }

  function fail(text) {
    error.textContent = text;
    error.hidden = false;
  }

  let saving = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (saving) return;
    const email = emailInput.value.trim();
    const name = nameInput ? nameInput.value.trim() : '';
    if (!validEmail(email)) {
      fail(texts.contactInvalid);
      emailInput.focus({ preventScroll: true });
      return;
    }
    error.hidden = true;
    saving = true;
    save.disabled = true;
    try {
      const body = { email };
      if (name) body.name = name.slice(0, NAME_MAX);
      await request(base + 'v1/visitor/contact', { method: 'PUT', body });
      thanks.textContent = format(texts.contactThanks, { email });
      thanks.hidden = false;
      finish('given');
    } catch (err) {
      fail(err instanceof HttpError && err.status === 400 ? texts.contactInvalid : texts.failed);
    } finally {
      saving = false;
      save.disabled = false;
    }
  });
  if (skip) skip.addEventListener('click', () => finish('skipped'));

  async function checkAvailability() {
    try {
      const data = await request(base + 'v1/visitor/availability');
      offline = !(data && data.agents_available);
    } catch (e) {
      return;    // unknown: say nothing rather than something wrong
    }
    banner.hidden = !offline;
    if (offline) show();
  }

  lock();

  return {
    banner,
    form,
    thanks,
    opened() {
      if (configured) show();
      checkAvailability();
    },
    mayDeliver() {
      if (locked()) {
        show();
        return false;
      }
      return true;
    },
    sent() {
      if (offline) show();
    },
  };
}
