// What never leaves the visitor's browser while co-browsing, in real
// headless Chromium: the visitor fills in the test shop's checkout form
// (t/browser/cobrowse-site/form.html) while the agent watches, and every
// request body the visitor's browser sends is kept. None may contain a
// value of an input, textarea or select, a password (also once a
// show-password toggle made it a text field), a hidden input's value, a
// value set by a script, by the attribute, or as autofill sets it (value
// plus input and change events), a value the browser restores on going back,
// the content of a data-chatvisor-private element (also one added later)
// or of a chatvisor_cobrowse_block selector, or the text of a
// chatvisor_cobrowse_mask_text selector. The agent's view shows the masks
// and same-size placeholders. Prints TAP; t/65-cobrowse-browser.t runs it.
//
//   node t/browser/cobrowse-privacy.test.mjs BASE_URL LOGIN_URL
import { runInChromium } from './lib/chromium.mjs';
import { ok, is, note } from './lib/tap.mjs';
import {
  settings, shooter, until, recordRequests, openPage, viewDocument, viewShows, widgetSide,
  loginAgent, visitorWrites, openConversation, askToCobrowse, answerPrompt, waitForWidget, MASK,
} from './lib/cobrowse.mjs';

const env = settings();
const { WAIT_MS } = env;
const shot = shooter(env, 'cobrowse-privacy');
const CHUNK = /\/v1\/visitor\/cobrowse\/events\?/;

// what the visitor's browser must never send
const SECRETS = {
  typed: 'TYPED-NAME-1A9',
  email: 'typed.email.2b@example.org',
  password: 'TYPED-PASSWORD-3C7',
  shownPassword: 'SHOWN-PASSWORD-4D8',
  hidden: 'HIDDEN-TOKEN-7Q2',
  hiddenByScript: 'HIDDEN-SCRIPTED-8R3',
  prefilled: 'PREFILLED-VOUCHER-5K8',
  script: 'SCRIPTED-STREET-3J9',
  attribute: 'ATTR-CITY-8H1',
  autofill: 'AUTOFILL-PHONE-4D6',
  textarea: 'TYPED-NOTES-9F2',
  textareaMarkup: 'PRETEXT-GIFT-2M5',
  textareaTyped: 'GIFT-TYPED-6N3',
  restored: 'RESTORED-NAME-5P1',
  privateText: 'PRIVATE-ACCOUNT-3X1',
  privateInput: 'PRIVATE-PIN-6F0',
  privateTyped: 'PRIVATE-TYPED-2W5',
  privateChanged: 'PRIVATE-CHANGED-9K1',
  privateLater: 'PRIVATE-LATER-7G4',
  blocked: 'CARD-NUMBER-4111',
  maskedText: 'Marguerite Quintal',
};

// Where a secret shows up in what the visitor's browser sent.
function leaks(requests) {
  const found = [];
  for (const q of requests) {
    const text = (q.url + '\n' + q.body).toLowerCase();
    for (const [what, secret] of Object.entries(SECRETS)) {
      if (text.includes(secret.toLowerCase())) found.push(`${what} in ${q.method} ${q.url}`);
    }
    // the masked name, word by word (a mask keeps the spaces)
    if (/marguerite|quintal/.test(text)) found.push(`a word of the masked name in ${q.method} ${q.url}`);
  }
  return found;
}

// Sets #public to text and waits for the agent's view to show it: every
// event recorded before it has been sent and replayed.
async function sync(visitor, agent, text) {
  await visitor.evaluate((t) => { document.querySelector('#public').textContent = t; }, text);
  return viewShows(agent, env, '#public', text);
}

async function viewValues(agent) {
  return until(() => viewDocument(agent, () => {
    const v = (s) => {
      const el = document.querySelector(s);
      return el ? el.value : null;
    };
    return {
      name: v('#name'), email: v('#email'), pw: v('#pw'), pwType: (document.querySelector('#pw') || {}).type,
      token: v('#token'), prefilled: v('#prefilled'), scripted: v('#scripted'), attr: v('#attr'),
      autofill: v('#autofill'), notes: v('#notes'), pretext: v('#pretext'), size: v('#size'),
      customer: (document.querySelector('.customer-name') || {}).textContent,
      blocked: Array.from(document.querySelectorAll('[data-chatvisor-blocked]'), (el) => {
        const r = el.getBoundingClientRect();
        return { cls: el.className, width: Math.round(r.width), height: Math.round(r.height), text: el.textContent };
      }),
      html: document.documentElement.outerHTML,
    };
  }), WAIT_MS);
}

async function run(browser) {
  const A = await loginAgent(browser, env);
  const agent = A.page;
  const vctx = await browser.newContext({ viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 });
  const net = recordRequests(vctx);
  const V = await openPage(vctx, '/form.html', env);
  const visitor = V.page;
  const hello = `I cannot finish my order ${Date.now() % 100000}`;
  await visitorWrites(visitor, env, hello);
  await openConversation(agent, env, hello);
  await askToCobrowse(agent, env);
  await answerPrompt(visitor, env, 'allow');
  ok(await viewShows(agent, env, '#title', 'Checkout'), 'agent: the view shows the checkout page');

  // what the visitor does
  note('the visitor fills in the form');
  await visitor.click('#name');
  await visitor.keyboard.type(SECRETS.typed, { delay: 15 });
  await visitor.click('#email');
  await visitor.keyboard.type(SECRETS.email, { delay: 15 });
  await visitor.click('#pw');
  await visitor.keyboard.type(SECRETS.password, { delay: 15 });
  await visitor.click('#show-pw');   // type=password -> text
  is(await visitor.evaluate(() => document.querySelector('#pw').type), 'text', 'visitor: the show-password toggle made the field a text field');
  await visitor.click('#pw');
  await visitor.keyboard.press('End');
  await visitor.keyboard.type(SECRETS.shownPassword, { delay: 15 });
  await visitor.click('#notes');
  await visitor.keyboard.type(SECRETS.textarea, { delay: 15 });
  await visitor.click('#pretext');
  await visitor.keyboard.press('End');
  await visitor.keyboard.type(SECRETS.textareaTyped, { delay: 15 });
  await visitor.selectOption('#size', 'l');
  await visitor.click('#pin');
  await visitor.keyboard.type(SECRETS.privateTyped, { delay: 15 });
  await visitor.evaluate((s) => {
    // a script sets values: the property, the attribute, a hidden input
    document.querySelector('#scripted').value = s.script;
    document.querySelector('#attr').setAttribute('value', s.attribute);
    document.querySelector('#token').value = s.hiddenByScript;
    // as autofill does: the value, then input and change events
    const tel = document.querySelector('#autofill');
    tel.value = s.autofill;
    tel.dispatchEvent(new Event('input', { bubbles: true }));
    tel.dispatchEvent(new Event('change', { bubbles: true }));
    // private parts that change, or come later
    document.querySelector('#private p').textContent = 'Account ' + s.privateChanged;
    const later = document.createElement('div');
    later.setAttribute('data-chatvisor-private', '');
    later.textContent = s.privateLater;
    document.querySelector('#later').appendChild(later);
  }, SECRETS);
  await visitor.click('#title');    // blur: a change event for the last field
  ok(await sync(visitor, agent, 'Synced after typing'), 'agent: the view caught up with the visitor');

  const vs = await viewValues(agent);
  ok(vs, 'agent: the view\'s form can be read', vs);
  const masked = ['name', 'email', 'pw', 'token', 'prefilled', 'scripted', 'attr', 'autofill', 'notes', 'pretext'];
  for (const f of masked) is(vs && vs[f], MASK, `agent: #${f} shows the mask`);
  is(vs && vs.pwType, 'text', 'agent: (the password field is a text field in the view too)');
  ok(vs && vs.size !== 'l', 'agent: the select does not show the chosen option', vs && vs.size);
  ok(vs && /^[*\s]+$/.test(vs.customer) && vs.customer.trim() !== '', 'agent: the mask_text selector\'s text is masked', vs && vs.customer);
  const blocked = vs ? vs.blocked : [];
  const box = await visitor.evaluate(() => {
    const r = document.querySelector('#private').getBoundingClientRect();
    return { width: Math.round(r.width), height: Math.round(r.height) };
  });
  const placeholder = blocked.find((b) => /\bprivate\b/.test(b.cls));
  ok(placeholder && Math.abs(placeholder.width - box.width) <= 2 && Math.abs(placeholder.height - box.height) <= 2,
    `agent: data-chatvisor-private is a same-size placeholder (${box.width}x${box.height})`, { placeholder, box });
  ok(blocked.some((b) => /card-number/.test(b.cls)), 'agent: the chatvisor_cobrowse_block selector is a placeholder too', blocked);
  ok(blocked.length >= 3 && blocked.every((b) => b.text === ''), 'agent: placeholders are empty (the one added later too)', blocked);
  ok(vs && !/PRIVATE-|CARD-NUMBER|TYPED-|HIDDEN-|SCRIPTED-|ATTR-|AUTOFILL-|PREFILLED-|PRETEXT-|Marguerite/.test(vs.html),
    'agent: no secret anywhere in the view\'s document');
  await shot(visitor, '1-visitor-filled');
  await shot(agent, '1-agent-masked');

  // back to the form, the browser restores what was typed: values without
  // any event (or the whole page, from the back/forward cache)
  note('back: the browser restores the form');
  await visitor.fill('#name', SECRETS.restored);
  await visitor.click('a[href="/other.html"]');
  await visitor.waitForURL((u) => u.pathname === '/other.html', { timeout: WAIT_MS });
  ok(await viewShows(agent, env, '#title', 'Burr grinder'), 'agent: the view follows to another page');
  await visitor.goBack({ waitUntil: 'load' });
  await waitForWidget(visitor, env);
  is(await visitor.evaluate(() => document.querySelector('#name').value), SECRETS.restored, 'visitor: back on the form, the value is restored');
  ok(await until(async () => (await widgetSide(visitor)).banner, WAIT_MS), 'visitor: the session goes on');
  ok(await sync(visitor, agent, 'Synced after going back'), 'agent: the view shows the form again');
  is((await viewValues(agent) || {}).name, MASK, 'agent: the restored value shows the mask');
  await shot(agent, '2-agent-after-back');

  // every request the visitor's browser sent
  const chunks = net.matching(CHUNK);
  ok(chunks.length >= 3 && chunks.some((q) => q.body.includes('Synced after going back')),
    `the visitor's browser sent ${chunks.length} co-browsing chunks, the last changes in them`);
  ok(chunks.some((q) => q.body.includes(MASK)), 'the chunks carry the masks');
  const found = leaks(net.all);
  ok(found.length === 0, `no value and no private text in any of the ${net.all.length} requests the visitor's browser sent`, found);
  for (const [who, rec] of [['visitor', V.rec], ['agent', A.rec]]) ok(rec.errors.length === 0, `${who}: no errors`, rec.errors);
}

await runInChromium('co-browsing privacy test', env.DEADLINE_MS, run);
