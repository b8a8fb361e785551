// The portal's front door: sign in with the emailed code (a link fills it in; signing in takes
// a click, so a mail scanner opening the link spends nothing), then the subscriptions the
// billing manager manages.
import { $, api, day, el, onSubmit, pageError, plan, session, show, status } from './api.js';

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

async function signedIn(s) {
  show($('#signed-out'), false);
  show($('#nav'), true);
  $('#who').textContent = s.customer.email;
  let list;
  try {
    list = await api('GET', '/v1/portal/subscriptions', { token: s.token });
  } catch (err) {
    if (err.status === 401) { session.clear(); signedOut(); return; }
    pageError(err);
    return;
  }
  const body = $('#subscriptions tbody');
  body.replaceChildren();
  for (const sub of list.data) {
    body.append(el('tr', {},
      el('td', {}, await productName(sub.product_id)),
      el('td', {}, `${sub.seats_assigned} of ${sub.seats}`),
      el('td', {}, plan[sub.interval]),
      el('td', {}, el('span', { class: `badge ${sub.status}` }, sub.status.replace('_', ' '))),
      el('td', {}, day(sub.current_period_end)),
      el('td', {}, el('a', { href: `/portal/subscription?id=${encodeURIComponent(sub.id)}` }, 'Manage seats')),
    ));
  }
  show($('#subscriptions'), list.data.length > 0);
  show($('#empty'), list.data.length === 0);
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
