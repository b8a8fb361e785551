// The checkout: a product's price per seat, an interval, a seat count within the product's
// bounds, a live total, and the buyer's email; it creates the checkout and goes to its payment page.
// A product with a free trial says so under the total (free for its days, then the total); a
// checkout whose tax Stripe adds on the payment page (`automatic_tax`) says the total is before tax.
import { $, api, el, money, newKey, onSubmit, pageError, per, show } from './api.js';

const productId = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const form = $('#checkout');
const seats = $('#seats');
let product = null;
let lastAttempt = { body: '', key: '' };

function interval() {
  const checked = form.querySelector('input[name="interval"]:checked');
  return checked ? checked.value : null;
}

function seatCount() {
  const n = Number(seats.value);
  return Number.isInteger(n) ? n : NaN;
}

const daysText = (n) => `${n} ${n === 1 ? 'day' : 'days'}`;

/** "Free for 14 days, then $30.00 per month" (a product with a free trial), or nothing. */
function showTrial(days, amount, currency, iv) {
  show($('#trial-note'), Boolean(days));
  $('#trial-note').textContent = days ? `Free for ${daysText(days)}, then ${money(amount, currency)} per ${per[iv]}` : '';
}

function renderTotal() {
  const iv = interval();
  const price = iv && product.prices[iv];
  const n = seatCount();
  showTrial(null);
  if (!price) { $('#total').textContent = ''; return; }
  if (!(n >= product.min_seats && n <= product.max_seats)) {
    $('#total').textContent = `Choose between ${product.min_seats} and ${product.max_seats} seats`;
    $('#total-detail').textContent = '';
    return;
  }
  // Display of the price the server charges (seats × unit amount); the server computes it again.
  $('#total').textContent = `${money(price.unit_amount * n, product.currency)} per ${per[iv]}`;
  $('#total-detail').textContent = `${n} × ${money(price.unit_amount, product.currency)} per seat, billed ${iv === 'year' ? 'yearly' : 'monthly'}`;
  showTrial(product.trial_days, price.unit_amount * n, product.currency, iv);
}

function step(by) {
  const n = Number.isInteger(seatCount()) ? seatCount() : product.min_seats;
  seats.value = String(Math.min(product.max_seats, Math.max(product.min_seats, n + by)));
  renderTotal();
}

async function load() {
  try {
    product = await api('GET', `/v1/products/${encodeURIComponent(productId)}`);
  } catch (err) {
    $('#loading').textContent = '';
    if (err.status === 404) $('#page-error').textContent = 'This product does not exist. Check the link you followed.';
    else pageError(err);
    return;
  }
  document.title = `Checkout — ${product.name}`;
  $('#product-name').textContent = product.name;
  $('#product-description').textContent = product.description || '';
  for (const iv of ['month', 'year']) {
    const price = product.prices[iv];
    show($(`#${iv}-option`), Boolean(price));
    if (price) $(`#${iv}-label`).textContent = `${iv === 'month' ? 'Monthly' : 'Yearly'} — ${money(price.unit_amount, product.currency)} per seat per ${per[iv]}`;
  }
  const first = product.prices.month ? 'month' : 'year';
  form.querySelector(`input[value="${first}"]`).checked = true;
  seats.min = String(product.min_seats);
  seats.max = String(product.max_seats);
  seats.value = String(product.min_seats);
  $('#seats-hint').textContent = `${product.min_seats} to ${product.max_seats}; every seat costs the same.`;
  renderTotal();
  show($('#loading'), false);
  show(form, true);
}

$('#fewer').addEventListener('click', () => step(-1));
$('#more').addEventListener('click', () => step(1));
seats.addEventListener('input', renderTotal);
form.addEventListener('change', renderTotal);

onSubmit(form, async () => {
  const body = {
    product_id: productId,
    interval: interval(),
    seats: seatCount(),
    customer_email: $('#email').value.trim(),
    success_url: `${location.origin}/checkout/complete`,
    cancel_url: location.href,
  };
  if (!Number.isInteger(body.seats)) body.seats = seats.value === '' ? null : Number(seats.value);
  // The same attempt retried (a double click, a flaky network) creates one checkout.
  const text = JSON.stringify(body);
  if (lastAttempt.body !== text) lastAttempt = { body: text, key: newKey() };
  const checkout = await api('POST', '/v1/checkouts', { body, idempotencyKey: lastAttempt.key });
  sessionStorage.setItem('seats.checkout', checkout.id);
  // The server's word on the trial and the tax: `amount_due` is billed after the trial, before tax.
  if (checkout.trial_days) showTrial(checkout.trial_days, checkout.amount_due, checkout.currency, checkout.interval);
  show($('#tax-note'), Boolean(checkout.automatic_tax));
  const taxed = checkout.automatic_tax ? ' Tax is added there, from the billing address you give.' : '';
  form.append(el('p', { class: 'status', role: 'status' }, `Taking you to the payment page…${taxed}`));
  location.assign(checkout.payment_url);
});

load();
