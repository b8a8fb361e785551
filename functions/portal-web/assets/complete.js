// After payment: waits for the provider's event to complete the checkout, then tells the
// buyer where the sign-in link went.
import { $, api, pageError, show } from './api.js';

const id = new URLSearchParams(location.search).get('checkout_id') || sessionStorage.getItem('seats.checkout') || '';

async function poll(attempt = 0) {
  if (!id) { $('#headline').textContent = 'Nothing to confirm'; $('#detail').textContent = 'This page has no checkout to look at.'; return; }
  let checkout;
  try {
    checkout = await api('GET', `/v1/checkouts/${encodeURIComponent(id)}`);
  } catch (err) { pageError(err); return; }
  if (checkout.status === 'completed') {
    $('#headline').textContent = 'Thank you — your seats are ready';
    $('#detail').textContent = `We emailed a sign-in link to ${checkout.customer_email}. Open it to invite your team and manage your ${checkout.seats} seats.`;
    show($('#next'), true);
    return;
  }
  if (checkout.status === 'expired') { $('#headline').textContent = 'This checkout expired'; return; }
  if (attempt > 60) { $('#detail').textContent = 'Your payment is still being confirmed. We will email you as soon as it is done.'; return; }
  // The payment provider's event usually arrives within seconds.
  setTimeout(() => poll(attempt + 1), 1000);
}

poll();
