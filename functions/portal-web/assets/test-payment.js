// The offline gateway's payment page: shows what is being paid, and its button asks the server
// to complete the checkout with a signed event (the secret never reaches the browser).
import { $, api, money, onSubmit, pageError, plan, show, status } from './api.js';

const checkoutId = new URLSearchParams(location.search).get('checkout_id') || '';
const form = $('#pay-form');

function safeUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch { return null; }
}

async function load() {
  const invoiceId = new URLSearchParams(location.search).get('invoice_id');
  if (!checkoutId && invoiceId) {
    // OFFLINE_PAYMENT_OUTCOME=decline: the invoice of a change waiting for its payment. Offline
    // there is no card to retry; playing Stripe, a signed customer.subscription.updated with
    // the new quantity applies it (README: "Against a Stripe stand-in").
    $('#page-error').textContent = `Invoice ${invoiceId} is waiting for its payment. The offline gateway declines every change on purpose; the change applies when Stripe (or whoever plays it) reports it paid.`;
    return;
  }
  if (!checkoutId) { $('#page-error').textContent = 'This link has no checkout in it.'; return; }
  let checkout;
  try {
    checkout = await api('GET', `/v1/checkouts/${encodeURIComponent(checkoutId)}`);
  } catch (err) {
    if (err.status === 404) $('#page-error').textContent = 'This checkout does not exist.';
    else pageError(err);
    return;
  }
  let name = 'your seats';
  try { name = (await api('GET', `/v1/products/${encodeURIComponent(checkout.product_id)}`)).name; } catch { /* the name is decoration */ }
  $('#what').textContent = name;
  $('#seats').textContent = String(checkout.seats);
  $('#interval').textContent = plan[checkout.interval];
  $('#email').textContent = checkout.customer_email;
  $('#amount').textContent = money(checkout.amount_due, checkout.currency);
  $('#pay').textContent = `Pay ${money(checkout.amount_due, checkout.currency)}`;
  const cancel = safeUrl(checkout.cancel_url);
  if (cancel) $('#cancel').href = cancel;
  form.dataset.success = safeUrl(checkout.success_url) || '/portal';
  if (checkout.status !== 'open') {
    $('#page-error').textContent = checkout.status === 'completed'
      ? 'This checkout is already paid.'
      : 'This checkout has expired. Start a new one from the product page.';
    return;
  }
  show(form, true);
}

onSubmit(form, async () => {
  await api('POST', '/checkout/test-payment', { body: { checkout_id: checkoutId } });
  status(form, 'Payment received. Taking you back…');
  sessionStorage.setItem('seats.checkout', checkoutId);
  const next = new URL(form.dataset.success, location.href);
  if (next.origin === location.origin && !next.searchParams.has('checkout_id')) next.searchParams.set('checkout_id', checkoutId);
  location.assign(next.href);
});

load();
