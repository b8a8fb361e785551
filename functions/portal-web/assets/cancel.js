// The subscription page's cancellation: "Cancel subscription…" shows the server's preview (when it
// ends, the seats and benefits that stop then, a scheduled change that will not happen, nothing
// charged or refunded, until when buying the plan again restores the seats) with an optional reason
// and comment, and only its confirm button cancels — at the period's end, never at once. A
// subscription set to cancel shows a banner with "Resume subscription"; until then it can gain
// seats but not lose them or change its interval (the server answers 409), so subscription.js
// hides those controls (`ending`). subscription.js wires it in.
import { $, ApiError, day, el, money, newKey, onSubmit, per, plan, show } from './api.js';

/** Stripe's `cancellation_details.feedback` values, in words. */
export const reasons = {
  too_expensive: 'It is too expensive',
  unused: 'We do not use it enough',
  missing_features: 'Features we need are missing',
  switched_service: 'We switched to another service',
  too_complex: 'It is too complicated',
  low_quality: 'The quality was not good enough',
  customer_service: 'Customer service was not good enough',
  other: 'Another reason',
};

/** Statuses that still renew; a lapsed subscription's way back is suspension.js's reactivation. */
const RUNNING = ['active', 'past_due', 'trialing'];

/** Whether the subscription is set to end at its period's end and has not ended yet. */
export function ending(sub) {
  return Boolean(sub.cancel_at_period_end) && !sub.suspended_until && RUNNING.includes(sub.status);
}

const seatsText = (n) => `${n} ${n === 1 ? 'seat' : 'seats'}`;

/**
 * Wires the cancel section and the "set to cancel" banner: `call` (the API with the session),
 * `base` (this subscription's API path), `current` (the subscription as last read) and `refresh`
 * (reloads the page). `render` shows the section or the banner for the subscription just read.
 */
export function initCancel({ call, base, current, refresh }) {
  const section = $('#cancel-section');
  const box = $('#cancel-preview');
  const openForm = $('#cancel-open-form');
  const confirmForm = $('#cancel-confirm-form');
  // One key per preview shown and per body sent: a retry of the same request cancels once, and a
  // later cancellation (after a resume) is a new one.
  let attempt = { body: '', key: '' };
  // One key per cancellation resumed (its `canceled_at`).
  let resumeAttempt = { of: '', key: '' };
  $('#cancel-reason').append(...Object.entries(reasons).map(([value, label]) => el('option', { value }, label)));

  function closePreview() {
    show(box, false);
    show(openForm, true);
    $('#cancel-reason').value = '';
    $('#cancel-comment').value = '';
    for (const n of confirmForm.querySelectorAll('.field-error, .form-error, .status')) n.textContent = '';
    for (const n of confirmForm.querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
  }

  function render(sub) {
    const offer = RUNNING.includes(sub.status) && !sub.cancel_at_period_end && !sub.suspended_until;
    show(section, offer);
    if (!offer && !box.classList.contains('hidden')) closePreview();
    const banner = ending(sub);
    show($('#cancel-banner'), banner);
    if (banner) {
      $('#cancel-banner-text').textContent = `This subscription is set to cancel on ${day(sub.cancel_at || sub.current_period_end)}. Seats and benefits work until then.`;
    }
  }

  function scheduledText(sc, currency) {
    if (sc.type === 'seat_decrease') {
      return `The change to ${seatsText(sc.seats)} scheduled for ${day(sc.effective_at)} will not happen.`;
    }
    const price = typeof sc.unit_amount === 'number' && per[sc.interval]
      ? ` at ${money(sc.unit_amount, currency)} per seat per ${per[sc.interval]}` : '';
    const what = plan[sc.interval] ? `${plan[sc.interval].toLowerCase()} billing` : 'another billing interval';
    return `The switch to ${what}${price} scheduled for ${day(sc.effective_at)} will not happen.`;
  }

  function showPreview(q) {
    const sub = q.subscription || current();
    $('.cancel-at', box).textContent = `Your subscription ends on ${day(q.cancel_at)}.`;
    $('.seats-stop', box).textContent = `${seatsText(q.seats)} (${q.seats_assigned} assigned) stop then.`;
    const benefits = q.benefits || [];
    $('.benefits-stop', box).replaceChildren(...(benefits.length
      ? [el('p', {}, `${benefits.length === 1 ? 'This benefit stops' : 'These benefits stop'} then for everyone holding a seat:`),
        el('ul', {}, benefits.map((b) => el('li', { 'data-benefit': b.id }, b.name)))]
      : [el('p', { class: 'muted' }, 'This plan grants no benefits.')]));
    const sc = q.scheduled_change_dropped;
    const dropped = $('.scheduled-dropped', box);
    show(dropped, Boolean(sc));
    dropped.textContent = sc ? scheduledText(sc, sub.currency) : '';
    $('.restorable', box).textContent = `The seats are kept: if the owner buys the plan again before ${day(q.restorable_until)}, everyone gets their seat back.`;
    attempt = { body: '', key: '' };
    show(openForm, false);
    show(box, true);
    $('#cancel-keep').focus();
  }

  onSubmit(openForm, async () => {
    $('#cancel-status').textContent = '';
    showPreview(await call('POST', `${base}/cancel/preview`, { body: {} }));
  });

  $('#cancel-keep').addEventListener('click', () => {
    if (confirmForm.dataset.busy) return;
    closePreview();
    $('#cancel-open').focus();
  });

  onSubmit(confirmForm, async () => {
    const body = { at_period_end: true };
    const reason = $('#cancel-reason').value;
    if (reason) body.reason = reason;
    const comment = $('#cancel-comment').value.trim();
    if ([...comment].length > 500) throw new ApiError(400, 'invalid_request', 'Keep the comment to 500 characters.', 'comment');
    if (comment) body.comment = comment;
    const text = JSON.stringify(body);
    if (attempt.body !== text) attempt = { body: text, key: newKey() };
    const after = await call('POST', `${base}/cancel`, { body, idempotencyKey: attempt.key });
    closePreview();
    await refresh();
    $('#cancel-status').textContent = `Your subscription is set to cancel on ${day((after && after.cancel_at) || current().cancel_at)}. You can resume it until then.`;
    $('#cancel-banner').scrollIntoView({ block: 'nearest' });
  });

  onSubmit($('#resume-form'), async () => {
    const sub = current();
    const of = sub.canceled_at || sub.cancel_at || '';
    if (resumeAttempt.of !== of || !resumeAttempt.key) resumeAttempt = { of, key: newKey() };
    try {
      await call('POST', `${base}/resume`, { idempotencyKey: resumeAttempt.key });
    } catch (err) {
      // Not set to cancel (any more): resumed elsewhere; the page shows it as it is.
      if (!(err instanceof ApiError) || err.code !== 'invalid_state') throw err;
      await refresh();
      if (ending(current())) throw err;
      $('#cancel-status').textContent = `This subscription is not set to cancel: it renews on ${day(current().current_period_end)}.`;
      return;
    }
    await refresh();
    $('#cancel-status').textContent = `Your subscription is resumed: it renews on ${day(current().current_period_end)}.`;
  });

  return { render };
}
