// The portal's front door: sign in with the emailed code (a link fills it in; signing in takes
// a click, so a mail scanner opening the link spends nothing), then the subscriptions the
// billing manager owns or co-manages, and the offers of ownership made to them (Accept).
import { $, api, day, el, moment, onSubmit, pageError, plan, session, show, status } from './api.js';

const params = new URLSearchParams(location.search);
const productNames = new Map();

async function productName(id) {
  if (!productNames.has(id)) {
    productNames.set(id, api('GET', `/v1/products/${encodeURIComponent(id)}`).then((p) => p.name, () => id));
  }
  return productNames.get(id);
}

function signedOut() {
  show($('#signed-in'), false);
  show($('#nav'), false);
  show($('#signed-out'), true);
  if (params.get('code')) $('#code').value = params.get('code');
  if (params.get('org')) $('#organization_slug').value = params.get('org');
}

async function loadSubscriptions(s) {
  const list = await api('GET', '/v1/portal/subscriptions', { token: s.token });
  const rows = [];
  for (const sub of list.data) {
    rows.push(el('tr', {},
      el('td', {}, await productName(sub.product_id)),
      el('td', {}, `${sub.seats_assigned} of ${sub.seats}`),
      el('td', {}, plan[sub.interval]),
      el('td', {}, el('span', { class: `badge ${sub.status}` }, sub.status.replace('_', ' ')),
        // Lapsed: its seats wait for a reactivation (Manage seats has the button).
        sub.suspended_until ? el('span', { class: 'hint' }, `Seats suspended until ${day(sub.suspended_until)}`) : null),
      el('td', {}, day(sub.current_period_end)),
      el('td', {}, el('a', { href: `/portal/subscription?id=${encodeURIComponent(sub.id)}` }, 'Manage seats')),
    ));
  }
  $('#subscriptions tbody').replaceChildren(...rows);
  show($('#subscriptions'), list.data.length > 0);
  show($('#empty'), list.data.length === 0);
}

/** The session is over: forget it and show the sign-in forms. */
function sessionEnded() {
  session.clear();
  signedOut();
}

/** One offer of ownership made to the signed-in customer, with its Accept button. */
function offerBanner(s, offer) {
  const id = offer.subscription_id;
  const form = el('form', { class: 'notice offer', 'data-subscription-id': id, novalidate: true },
    el('p', {}, el('strong', {}, `You were offered ownership of subscription ${id}.`),
      ` The offer stands until ${moment(offer.expires_at)}. Once you accept, you own it: you manage its seats and billing, and its current owner no longer does.`),
    el('p', { class: 'form-error', role: 'alert' }),
    el('div', { class: 'actions' },
      el('button', { type: 'submit', class: 'offer-accept', 'data-subscription-id': id, 'aria-label': `Accept ownership of subscription ${id}` }, 'Accept')));
  onSubmit(form, async () => {
    try {
      await api('POST', `/v1/subscriptions/${encodeURIComponent(id)}/owner/accept`, { token: s.token });
    } catch (err) {
      if (err.status === 401) { sessionEnded(); return; }
      throw err;
    }
    $('#offer-status').textContent = `You now own subscription ${id}; it is in the list below.`;
    try {
      await Promise.all([loadOffers(s), loadSubscriptions(s)]);
    } catch (err) {
      if (err.status === 401) { sessionEnded(); return; }
      pageError(err);
    }
  });
  return form;
}

/** Offers of ownership made to the caller; the list of subscriptions works without them. */
async function loadOffers(s) {
  let offers;
  try {
    offers = await api('GET', '/v1/portal/ownership-offers', { token: s.token });
  } catch (err) {
    if (err.status === 401) throw err;
    pageError(err);
    return;
  }
  const box = $('#ownership-offers');
  box.replaceChildren(...offers.data.map((offer) => offerBanner(s, offer)));
  show(box, offers.data.length > 0);
}

async function signedIn(s) {
  show($('#signed-out'), false);
  show($('#nav'), true);
  $('#who').textContent = s.customer.email;
  $('#offer-status').textContent = '';
  try {
    await Promise.all([loadSubscriptions(s), loadOffers(s)]);
  } catch (err) {
    if (err.status === 401) { sessionEnded(); return; }
    pageError(err);
    return;
  }
  show($('#signed-in'), true);
}

onSubmit($('#code-form'), async () => {
  const s = await api('POST', '/v1/portal/sessions', { body: { code: $('#code').value.trim() } });
  session.set(s);
  // The code is spent: take it out of the address bar and the history.
  history.replaceState(null, '', '/portal');
  await signedIn(s);
});

onSubmit($('#request-form'), async () => {
  await api('POST', '/v1/portal/sign-in', {
    body: { organization_slug: $('#organization_slug').value.trim(), email: $('#request-email').value.trim() },
  });
  status($('#request-form'), 'If that email has an account, a sign-in code is on its way. Enter it above.');
  $('#code').focus();
});

// Sign-out ends the session on the server too: a copied or stolen token stops working.
$('#sign-out').addEventListener('click', async () => {
  const s = session.get();
  session.clear();
  signedOut();
  if (s && s.token) {
    try { await api('POST', '/v1/portal/sessions/current/revoke', { token: s.token }); } catch { /* signed out here already */ }
  }
});

const existing = session.get();
if (existing && existing.token && !params.get('code')) signedIn(existing);
else signedOut();
