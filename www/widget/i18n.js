// Built-in texts of the widget. The five operator texts (title, greeting,
// placeholder, offline, launcher) can be overridden by the injected tag's
// data-text-* attributes; the rest are UI labels.
import DEFAULTS from '../shared/defaults.json';

export const TEXTS = {
  en: {
    title: 'Chat with us',
    greeting: 'Hi there! How can we help you today?',
    placeholder: 'Type your message…',
    offline: 'We are offline right now. Leave a message and we will get back to you.',
    launcher: 'Open chat',
    close: 'Close chat',
    send: 'Send',
    composer: 'Type your message',
    messages: 'Messages',
    sending: 'Sending…',
    joined: '{name} joined the chat',
    left: '{name} left the chat',
    closed: 'This conversation has been closed. Send a message to start a new one.',
    typing: '{name} is typing…',
    agent: 'Support',
    failed: 'Not sent.',
    retry: 'Retry',
    unread: '{n} unread',
    cobrowseAsk: '{name} wants to see this page',
    cobrowseDetail: 'They see the page as you do, but not what you type into fields.',
    cobrowseAllow: 'Allow',
    cobrowseDecline: 'Decline',
    cobrowseViewing: '{name} is viewing this page',
    cobrowseStop: 'Stop',
    contactAsk: 'Leave your email so we can get back to you.',
    contactRequired: 'Please leave your email to start the chat.',
    contactName: 'Your name',
    contactEmail: 'Your email',
    contactSave: 'Save',
    contactSkip: 'Skip',
    contactInvalid: 'Please enter a valid email address.',
    contactThanks: 'Thanks! We will reply to {email}.',
  },
  es: {
    title: 'Chatea con nosotros',
    greeting: '¡Hola! ¿En qué podemos ayudarte hoy?',
    placeholder: 'Escribe tu mensaje…',
    offline: 'Ahora no estamos conectados. Déjanos un mensaje y te responderemos.',
    launcher: 'Abrir chat',
    close: 'Cerrar chat',
    send: 'Enviar',
    composer: 'Escribe tu mensaje',
    messages: 'Mensajes',
    sending: 'Enviando…',
    joined: '{name} se ha unido al chat',
    left: '{name} ha salido del chat',
    closed: 'Esta conversación se ha cerrado. Escribe un mensaje para empezar otra.',
    typing: '{name} está escribiendo…',
    agent: 'Soporte',
    failed: 'No enviado.',
    retry: 'Reintentar',
    unread: '{n} sin leer',
    cobrowseAsk: '{name} quiere ver esta página',
    cobrowseDetail: 'Verá la página como tú, pero no lo que escribas en los campos.',
    cobrowseAllow: 'Permitir',
    cobrowseDecline: 'Rechazar',
    cobrowseViewing: '{name} está viendo esta página',
    cobrowseStop: 'Detener',
    contactAsk: 'Déjanos tu correo para que podamos responderte.',
    contactRequired: 'Déjanos tu correo para empezar el chat.',
    contactName: 'Tu nombre',
    contactEmail: 'Tu correo electrónico',
    contactSave: 'Guardar',
    contactSkip: 'Omitir',
    contactInvalid: 'Introduce un correo electrónico válido.',
    contactThanks: '¡Gracias! Te responderemos a {email}.',
  },
  de: {
    title: 'Chatten Sie mit uns',
    greeting: 'Hallo! Wie können wir Ihnen heute helfen?',
    placeholder: 'Nachricht eingeben…',
    offline: 'Wir sind gerade nicht erreichbar. Hinterlassen Sie eine Nachricht, wir melden uns.',
    launcher: 'Chat öffnen',
    close: 'Chat schließen',
    send: 'Senden',
    composer: 'Nachricht eingeben',
    messages: 'Nachrichten',
    sending: 'Wird gesendet…',
    joined: '{name} ist dem Chat beigetreten',
    left: '{name} hat den Chat verlassen',
    closed: 'Diese Unterhaltung wurde beendet. Schreiben Sie eine Nachricht, um eine neue zu beginnen.',
    typing: '{name} schreibt…',
    agent: 'Support',
    failed: 'Nicht gesendet.',
    retry: 'Erneut versuchen',
    unread: '{n} ungelesen',
    cobrowseAsk: '{name} möchte diese Seite sehen',
    cobrowseDetail: 'Die Seite wird so gezeigt, wie Sie sie sehen, aber ohne das, was Sie in Felder eingeben.',
    cobrowseAllow: 'Erlauben',
    cobrowseDecline: 'Ablehnen',
    cobrowseViewing: '{name} sieht sich diese Seite an',
    cobrowseStop: 'Beenden',
    contactAsk: 'Hinterlassen Sie Ihre E-Mail-Adresse, damit wir Ihnen antworten können.',
    contactRequired: 'Bitte geben Sie Ihre E-Mail-Adresse an, um den Chat zu beginnen.',
    contactName: 'Ihr Name',
    contactEmail: 'Ihre E-Mail-Adresse',
    contactSave: 'Speichern',
    contactSkip: 'Überspringen',
    contactInvalid: 'Bitte geben Sie eine gültige E-Mail-Adresse ein.',
    contactThanks: 'Danke! Wir antworten an {email}.',
  },
  fr: {
    title: 'Discutez avec nous',
    greeting: 'Bonjour ! Comment pouvons-nous vous aider ?',
    placeholder: 'Écrivez votre message…',
    offline: 'Nous sommes hors ligne pour le moment. Laissez-nous un message, nous vous répondrons.',
    launcher: 'Ouvrir le chat',
    close: 'Fermer le chat',
    send: 'Envoyer',
    composer: 'Écrivez votre message',
    messages: 'Messages',
    sending: 'Envoi…',
    joined: '{name} a rejoint la conversation',
    left: '{name} a quitté la conversation',
    closed: 'Cette conversation est terminée. Envoyez un message pour en commencer une nouvelle.',
    typing: '{name} écrit…',
    agent: 'Support',
    failed: 'Non envoyé.',
    retry: 'Réessayer',
    unread: '{n} non lus',
    cobrowseAsk: '{name} souhaite voir cette page',
    cobrowseDetail: 'La page lui est montrée telle que vous la voyez, sans ce que vous saisissez dans les champs.',
    cobrowseAllow: 'Autoriser',
    cobrowseDecline: 'Refuser',
    cobrowseViewing: '{name} voit cette page',
    cobrowseStop: 'Arrêter',
    contactAsk: 'Laissez-nous votre e-mail pour que nous puissions vous répondre.',
    contactRequired: 'Veuillez indiquer votre e-mail pour commencer la conversation.',
    contactName: 'Votre nom',
    contactEmail: 'Votre e-mail',
    contactSave: 'Enregistrer',
    contactSkip: 'Passer',
    contactInvalid: 'Veuillez saisir une adresse e-mail valide.',
    contactThanks: 'Merci ! Nous vous répondrons à {email}.',
  },
};

// Keys an operator may set with chatvisor_widget_text / data-text-KEY.
export const CONFIGURABLE = ['title', 'greeting', 'placeholder', 'offline', 'launcher'];

// "es-MX" -> "es", "DE" -> "de"; unknown -> the default language ("en").
export function pickLanguage(tag) {
  const base = String(tag || '').trim().toLowerCase().split(/[-_]/)[0];
  return Object.prototype.hasOwnProperty.call(TEXTS, base) ? base : DEFAULTS.language;
}

// "{name} joined" with the values put in (as plain text: callers use
// textContent).
export function format(text, values) {
  return String(text).replace(/\{(\w+)\}/g, (m, k) => (values && values[k] != null ? String(values[k]) : m));
}

// Built-in texts of the language with the configured ones laid over them.
export function resolveTexts(language, overrides) {
  const texts = Object.assign({}, TEXTS.en, TEXTS[pickLanguage(language)]);
  for (const key of CONFIGURABLE) {
    const v = overrides && overrides[key];
    if (typeof v === 'string' && v.trim() !== '') texts[key] = v;
  }
  return texts;
}
