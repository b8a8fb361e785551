// The subscription page's invoices and billing details: the subscription's invoices, newest first,
// ten at a time ("More invoices" appends the next page), each with its number, date, what it bills,
// total, tax, status and — when it has them — its page ("View", or "Pay" while it is open) and its
// PDF; and "Update card / billing details", which opens a session of Stripe's billing portal (card,
// address, tax ids; seats and cancellation stay on this page). Shown for every subscription the
// manager sees, a lapsed one too: its invoices stay readable. subscription.js wires it in.
import { $, ApiError, day, el, handleAuth, money, onSubmit, show, status } from './api.js';

/** Stripe's `billing_reason`, in words (another value shows as it is). */
const reasons = {
  subscription_create: 'Purchase',
  subscription_update: 'Change',
  subscription_cycle: 'Renewal',
};

/** Stripe's invoice statuses, in words. */
const statuses = {
  draft: 'Draft', open: 'Open', paid: 'Paid', uncollectible: 'Uncollectible', void: 'Void',
};

const PAGE = 10;

/** A link the server gave, only when it is a web address (never a script URL). */
export function webUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch { return null; }
}

function invoiceRow(inv) {
  const number = inv.number || '—';
  const named = inv.number ? `invoice ${inv.number}` : 'this invoice';
  const open = inv.status === 'open';
  const period = inv.period_start && inv.period_end
    ? el('span', { class: 'hint' }, `${day(inv.period_start)} – ${day(inv.period_end)}`) : null;
  const links = el('td', { class: 'links' });
  const page = webUrl(inv.hosted_invoice_url);
  if (page) {
    links.append(el('a', {
      href: page, target: '_blank', rel: 'noopener', class: open ? 'pay' : 'view', 'data-action': open ? 'pay' : 'view',
      'aria-label': `${open ? 'Pay' : 'View'} ${named} (opens in a new tab)`,
    }, open ? 'Pay' : 'View'));
  }
  const pdf = webUrl(inv.invoice_pdf);
  if (pdf) {
    links.append(el('a', {
      href: pdf, target: '_blank', rel: 'noopener', class: 'pdf', 'data-action': 'pdf', 'aria-label': `PDF of ${named} (opens in a new tab)`,
    }, 'PDF'));
  }
  return el('tr', {
    'data-invoice': inv.id, 'data-status': inv.status, 'data-reason': inv.billing_reason || '', class: open ? 'invoice-open' : false,
  },
  el('td', {}, number),
  el('td', {}, day(inv.created)),
  el('td', {}, inv.billing_reason ? (reasons[inv.billing_reason] || inv.billing_reason) : '—', period),
  el('td', { class: 'num' }, money(inv.total, inv.currency)),
  el('td', { class: 'num' }, inv.tax ? money(inv.tax, inv.currency) : '—'),
  el('td', {}, el('span', { class: `badge ${inv.status}` }, statuses[inv.status] || inv.status)),
  links);
}

/**
 * Wires the invoices section: `call` (the API with the session), `base` (this subscription's API
 * path) and `id` (this subscription's id). `load` reads the list again from its first invoice
 * (as many as are shown, at least a page) and never rejects: a failure is said in the section.
 */
export function initInvoices({ call, base, id }) {
  const table = $('#invoices');
  const body = $('#invoices tbody');
  const more = $('#invoices-more');
  const error = $('#invoices-error');
  let cursor = null;
  // Each reload from the top starts a generation: an answer of an older one is dropped.
  let generation = 0;

  function fail(err) {
    if (handleAuth(err)) return;
    error.textContent = err instanceof ApiError ? err.message : 'We could not read the invoices. Please reload the page.';
  }

  function place(page, append) {
    if (!append) body.replaceChildren();
    body.append(...(page.data || []).map(invoiceRow));
    cursor = page.has_more && page.next_cursor ? page.next_cursor : null;
    show(more, Boolean(cursor));
    const none = body.children.length === 0;
    show(table, !none);
    show($('#no-invoices'), none);
  }

  async function load() {
    generation += 1;
    const mine = generation;
    // Reloaded after a change: as many as were shown (up to 100), so "More" pages stay open.
    const limit = Math.min(100, Math.max(PAGE, body.children.length));
    try {
      const page = await call('GET', `${base}/invoices?limit=${limit}`);
      if (mine !== generation) return;
      error.textContent = '';
      place(page, false);
    } catch (err) {
      if (mine === generation) fail(err);
    }
  }

  more.addEventListener('click', async () => {
    if (more.disabled || !cursor) return;
    // The page after the last invoice shown: dropped if a reload changed the last one meanwhile.
    const from = cursor;
    more.disabled = true;
    error.textContent = '';
    try {
      const page = await call('GET', `${base}/invoices?limit=${PAGE}&cursor=${encodeURIComponent(from)}`);
      if (cursor === from) place(page, true);
    } catch (err) {
      if (cursor === from) fail(err);
    } finally {
      more.disabled = false;
    }
  });

  // Card, address and tax ids: Stripe's billing portal, a new session each time (no key: it
  // changes nothing here). Without one (offline, or no Stripe customer) the server says why.
  const form = $('#billing-details-form');
  onSubmit(form, async () => {
    let session;
    try {
      session = await call('POST', '/v1/portal/billing-session', { body: { subscription_id: id } });
    } catch (err) {
      if (handleAuth(err)) return;
      throw err;
    }
    const url = webUrl(session && session.url);
    if (!url) throw new ApiError(502, 'unavailable', 'The billing page could not be opened. Please try again.');
    status(form, 'Taking you to Stripe\'s secure page…');
    window.location.assign(url);
  });
  // Back from Stripe's page with the browser's back button (the page kept in memory): not "taking you" any more.
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) status(form, ''); });

  return { load };
}
