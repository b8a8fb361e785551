// The subscription page's suspension: a lapsed subscription keeps its seats suspended for 30 days
// (`suspended_until`), and its owner brings everyone back by buying the same product again — the
// public checkout, the same product, interval and seat count, in the owner's name (there is no
// other reactivation route). Also says where a restored subscription's seats went
// (`restored_into`) or came from (`restored_from`). subscription.js wires it in.
import { $, api, day, el, newKey, onSubmit, show, status } from './api.js';

const pageOf = (subId) => `/portal/subscription?id=${encodeURIComponent(subId)}`;
const link = (subId) => el('a', { href: pageOf(subId) }, `subscription ${subId}`);
const seatsText = (n) => `${n} ${n === 1 ? 'seat is' : 'seats are'}`;

/**
 * Wires the suspension banner: `id` (this subscription's), `me` (the session), `current` (the
 * subscription as last read) and `refresh` (reloads the page). `render` shows the banner and the
 * restore notes for the subscription just read.
 */
export function initSuspension({ id, me, current, refresh }) {
  const params = new URLSearchParams(location.search);
  // Back from the payment page of a reactivation: its completion may take a moment to arrive.
  const returning = params.has('reactivated');
  let looks = 0;
  let timer = null;
  let lastAttempt = { body: '', key: '' };

  const isOwner = (sub) => Boolean(me.customer) && sub.customer_id === me.customer.id;

  function render(sub) {
    const suspended = Boolean(sub.suspended_until);
    show($('#suspension-banner'), suspended);
    if (suspended) {
      $('#suspension-text').textContent = `This subscription lapsed. Its ${seatsText(sub.seats_assigned)} suspended until ${day(sub.suspended_until)}: reactivate to bring everyone back.`;
      // A purchase restores the seats only when the owner makes it: a co-manager is told so.
      const owner = isOwner(sub);
      show($('#reactivate-form'), owner);
      show($('#reactivate-owner-only'), !owner);
      $('#reactivate-hint').textContent = owner
        ? `You buy ${sub.seats} ${sub.seats === 1 ? 'seat' : 'seats'} of the same plan again; the people come back with their seats once it is paid.`
        : '';
    }
    const into = sub.restored_into;
    show($('#restored-into'), Boolean(into));
    if (into) $('#restored-into').replaceChildren('Its seats were restored into ', link(into), '.');
    const from = sub.restored_from;
    show($('#restored-from'), Boolean(from));
    if (from) $('#restored-from').replaceChildren('Restored from ', link(from), '.');
    awaitRestore(sub);
  }

  /** After paying, look again (a few times) until the purchase's completion moved the seats. */
  function awaitRestore(sub) {
    if (!returning) return;
    if (!sub.suspended_until || sub.restored_into) {
      $('#reactivate-status').textContent = '';
      if (sub.restored_into) history.replaceState(null, '', pageOf(id));
      return;
    }
    if (looks >= 15) {
      $('#reactivate-status').textContent = 'Your payment is still being confirmed. Reload this page in a minute.';
      return;
    }
    $('#reactivate-status').textContent = 'Your payment is being confirmed; everyone comes back once it is.';
    if (timer) return;
    looks += 1;
    timer = setTimeout(() => { timer = null; refresh(); }, 2000);
  }

  onSubmit($('#reactivate-form'), async () => {
    const sub = current();
    const here = `${location.origin}${pageOf(id)}`;
    const body = {
      product_id: sub.product_id,
      interval: sub.interval,
      seats: sub.seats,
      customer_email: me.customer.email,
      success_url: `${here}&reactivated=1`,
      cancel_url: here,
    };
    // The same attempt retried (a double click, a lost answer) creates one checkout.
    const text = JSON.stringify(body);
    if (lastAttempt.body !== text) lastAttempt = { body: text, key: newKey() };
    // The checkout is the public one, as on the product's checkout page (no session sent).
    const checkout = await api('POST', '/v1/checkouts', { body, idempotencyKey: lastAttempt.key });
    status($('#reactivate-form'), 'Taking you to the payment page…');
    location.assign(checkout.payment_url);
  });

  return { render };
}
