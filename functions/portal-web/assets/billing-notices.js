// The subscription page's billing notices. A renewal whose payment failed (`payment_failed`, the
// status then usually past due): the dunning banner says what is due and until when seats and
// benefits keep working, with "Pay now" (Stripe's page for the invoice, or — without one — the open
// invoice's "Pay" in the invoices below) and the way to a new card (invoices.js's "Update card /
// billing details"); not shown once the subscription lapsed (the suspension banner takes over).
// The free trial (`trialing` until `trial_end`): its badge by the plan, the billing interval that
// waits for the first payment (the server answers 409 until then: no preview button), and more
// seats that cost nothing now. subscription.js wires it in.
import { $, day, money, show } from './api.js';
import { webUrl } from './invoices.js';

/** Whether the subscription is in its free trial (and says until when). */
export function trialing(sub) {
  return sub.status === 'trialing' && Boolean(sub.trial_end);
}

const timesText = (n) => `${n} ${n === 1 ? 'time' : 'times'}`;

/**
 * Wires the dunning banner and the trial notes. `render(sub, lapsed)` shows them for the
 * subscription just read (`lapsed`: nothing can be bought on it any more).
 */
export function initBillingNotices() {
  const banner = $('#payment-failed-banner');
  const pay = $('#pay-invoice');

  // No payment page of its own: the open invoice's "Pay" below (the section, while it is read).
  pay.addEventListener('click', (ev) => {
    if (pay.dataset.direct) return;
    ev.preventDefault();
    const open = $('#invoices tr.invoice-open a.pay');
    if (open) {
      open.scrollIntoView({ block: 'center' });
      open.focus();
    } else {
      $('#invoices-section').scrollIntoView({ block: 'start' });
    }
  });

  // A declined or expired card: Stripe's billing page, as the invoices section's button opens it
  // (its answer, or its error, shows next to that button).
  $('#payment-failed-details').addEventListener('click', () => {
    $('#billing-details-form').scrollIntoView({ block: 'nearest' });
    $('#billing-details').click();
  });

  function renderDunning(sub, lapsed) {
    const pf = sub.payment_failed;
    const dunning = Boolean(pf) && !lapsed && !sub.suspended_until;
    show(banner, dunning);
    if (!dunning) return;
    // An alert: its words are set only when they change (a reload of the page does not repeat them).
    const text = `Payment failed: ${money(pf.amount_due, sub.currency)} is due. Seats and benefits keep working until ${day(pf.access_until)}.`;
    if ($('#payment-failed-text').textContent !== text) $('#payment-failed-text').textContent = text;
    const attempts = pf.attempts > 1 ? `The payment was tried ${timesText(pf.attempts)} since ${day(pf.failed_at)}.` : `The payment failed on ${day(pf.failed_at)}.`;
    const detail = `${attempts} If it is still unpaid then, the subscription lapses and every seat is suspended.`;
    if ($('#payment-failed-detail').textContent !== detail) $('#payment-failed-detail').textContent = detail;
    const url = webUrl(pf.payment_url);
    pay.href = url || '#invoices-section';
    if (url) pay.dataset.direct = '1';
    else delete pay.dataset.direct;
  }

  function renderTrial(sub, lapsed) {
    const trial = trialing(sub) && !lapsed;
    show($('#trial-note'), trial);
    show($('#trial-badge'), trial);
    show($('#interval-trial-note'), trial);
    show($('#resize-trial-note'), trial);
    // The interval waits for the first payment: no preview to ask for (an open one goes).
    show($('#preview-interval'), !trial);
    if (trial && !$('#interval-preview').classList.contains('hidden')) {
      $('#interval-preview').replaceChildren();
      show($('#interval-preview'), false);
    }
    if (!trial) return;
    const end = day(sub.trial_end);
    $('#trial-badge').textContent = `Free trial until ${end}`;
    $('#trial-text').textContent = `Seats work as usual; the first invoice comes on ${end}.`;
    $('#interval-trial-note').textContent = `During the free trial the billing interval stays as it is: you can change it after the trial ends on ${end}, once the first invoice is paid.`;
    $('#resize-trial-note').textContent = `During the free trial more seats cost nothing now: they are billed from the first invoice on ${end}.`;
  }

  function render(sub, lapsed) {
    renderDunning(sub, lapsed);
    renderTrial(sub, lapsed);
  }

  return { render };
}
