// The right-hand panel: the open conversation's customer (name, email,
// labels, ids, the page they wrote from) and the conversation's facts.
import { h, append, clear } from './dom.js';
import { initials, colorClass, fullTime, safeHttpUrl, conversationName } from './util.js';

function field(label, value, cls) {
  if (value == null || value === '') return null;
  return h('div', { class: 'field' + (cls ? ' ' + cls : '') }, [
    h('dt', {}, [label]),
    h('dd', {}, [typeof value === 'string' ? value : value]),
  ]);
}

export function createDetails({ me }) {
  const body = h('div', { class: 'details-body' });

  function render(c) {
    const cu = c.customer || {};
    const name = conversationName(c);
    clear(body);
    const labels = Array.isArray(cu.labels) ? cu.labels.filter((l) => typeof l === 'string' || typeof l === 'number') : [];
    const pageUrl = c.page_url || cu.page_url;
    const href = safeHttpUrl(pageUrl);
    const fullName = [cu.firstname, cu.lastname].filter((x) => typeof x === 'string' && x).join(' ');
    append(body, [
      h('div', { class: 'details-head' }, [
        h('span', { class: 'avatar large ' + colorClass(c.customer_id), 'aria-hidden': 'true' }, [initials(name)]),
        h('h3', { class: 'details-name' }, [name]),
        typeof cu.email === 'string' && cu.email ? h('div', { class: 'details-email' }, [cu.email]) : null,
      ]),
      labels.length ? h('ul', { class: 'chips', 'aria-label': 'Labels' }, labels.map((l) => h('li', { class: 'chip' }, [String(l)]))) : null,
      h('dl', { class: 'fields' }, [
        field('Name', fullName || null),
        field('Email', typeof cu.email === 'string' ? cu.email : null),
        field('External ID', cu.id != null && cu.id !== '' ? String(cu.id) : null, 'mono'),
        field('Customer ID', c.customer_id || cu.customer_id, 'mono'),
        field('Page', href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'page-link' }, [pageUrl])
          : (pageUrl ? String(pageUrl) : null), 'wrap'),
        field('Customer since', fullTime(cu.created_at) || null),
        field('Conversation', c.id, 'mono'),
        field('Started', fullTime(c.created_at) || null),
        field('Status', c.status === 'open' ? 'Open' : 'Closed'),
        field('Assigned to', c.assigned_agent_id ? (c.assigned_agent_id === me.id ? 'You' : c.assigned_agent_id) : 'Nobody'),
      ]),
    ]);
  }

  return {
    el: h('aside', { class: 'details', 'aria-label': 'Customer details' }, [body]),
    render,
  };
}
