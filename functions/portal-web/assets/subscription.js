// One subscription, for its billing manager: seats used and available, the people holding or
// invited to seats (filter, resend — expired invitations too —, revoke with confirmation),
// invitations one at a time or a list at once (checked by the server before it is sent), seat-count and
// interval changes that always show the server's preview before the confirm button (so does an
// invitation past the count on a product that grows when full: the seats it lacks are bought only
// on its confirm button), the
// scheduled change with its cancel button, the billing managers (managers.js: the owner and
// co-managers: add, remove with confirmation, hand ownership over), and the history. The list
// (paste or CSV, checked, then confirmed) is batch.js. A lapsed subscription's suspended seats and
// its owner's "Reactivate" (a checkout of the same plan) are suspension.js. Cancelling at the
// period's end (its preview first) and resuming before it are cancel.js; while set to cancel, the
// seat count can only grow and the interval cannot change (the server refuses both). The invoices
// (newest first, page by page) and "Update card / billing details" (Stripe's billing portal) are
// invoices.js; they show for a lapsed subscription too. A renewal's failed payment (the dunning
// banner with "Pay now") and the free trial (its badge; the interval waits for the first payment)
// are billing-notices.js. Previews show the tax inside "Due now" when there is some.
import {
  $, ApiError, allPages, api, clearErrors, day, el, handleAuth, moment, money, newKey, onSubmit, pageError, per, plan,
  requireSession, seatStatus, show, showError, status,
} from './api.js';
import { initBatch } from './batch.js';
import { initBillingNotices, trialing } from './billing-notices.js';
import { ending, initCancel, reasons } from './cancel.js';
import { initInvoices } from './invoices.js';
import { initManagers } from './managers.js';
import { initSuspension } from './suspension.js';

const id = new URLSearchParams(location.search).get('id') || '';
const me = requireSession();
const token = me && me.token;
const base = `/v1/subscriptions/${encodeURIComponent(id)}`;
let sub = null;
let product = null;
let cursor = null;
// The emails of the customers the managers answer and the history name.
const names = new Map();

const call = (method, path, opts = {}) => api(method, path, { token, ...opts });

function renderSummary() {
  $('#title').textContent = product ? product.name : 'Subscription';
  document.title = `Manage seats — ${$('#title').textContent}`;
  $('#used').textContent = String(sub.seats_assigned);
  // Lapsed: nothing can be assigned or bought on it (a reactivation is a new purchase).
  const lapsed = ['canceled', 'unpaid', 'incomplete_expired', 'paused'].includes(sub.status);
  $('#available').textContent = String(lapsed ? 0 : sub.seats_available);
  for (const h of ['invite-h', 'batch-h', 'resize-h']) {
    show(document.querySelector(`section[aria-labelledby="${h}"]`), !lapsed);
  }
  $('#total').textContent = String(sub.seats);
  // Set to cancel: it ends instead of renewing; until then seats can be added, not removed.
  const ends = ending(sub);
  const renews = sub.status === 'canceled' ? `Ended ${day(sub.current_period_end)}`
    : ends ? `Ends on ${day(sub.cancel_at || sub.current_period_end)}`
      : trialing(sub) ? `First invoice on ${day(sub.trial_end)}` : `Renews on ${day(sub.current_period_end)}`;
  $('#plan').textContent = `${plan[sub.interval]} · ${money(sub.unit_amount, sub.currency)} per seat per ${per[sub.interval]} · ${renews} · Status: ${sub.status.replace('_', ' ')}`;
  // Lapsed: the seats wait for a reactivation (the banner); restored: where they went or came from.
  suspension.render(sub);
  // The cancel section, or the "set to cancel" banner with its resume button.
  cancellation.render(sub);
  show($('#resize-cancel-note'), ends);
  // A change sent to the payment provider and not paid yet: nothing of it is here before it is.
  const pc = sub.pending_change;
  show($('#pending'), Boolean(pc));
  if (pc) {
    const what = pc.seats ? `${pc.seats} seats` : `${plan[pc.interval].toLowerCase()} billing`;
    $('#pending-text').textContent = `The change to ${what} (${money(pc.amount_due, sub.currency)}) applies once its invoice is paid; it expires on ${day(pc.expires_at)}. Until then you keep ${sub.seats} seats.`;
    $('#pending-pay').href = pc.payment_url;
  }
  const sc = sub.scheduled_change;
  show($('#scheduled'), Boolean(sc));
  if (sc) {
    $('#scheduled-text').textContent = sc.type === 'seat_decrease'
      ? `Scheduled: ${sc.seats} seats from ${day(sc.effective_at)} (the renewal bills ${sc.seats} seats).`
      : `Scheduled: ${plan[sc.interval].toLowerCase()} billing from ${day(sc.effective_at)} at ${money(sc.unit_amount, sub.currency)} per seat per ${per[sc.interval]}.`;
  }
  if (!$('#new-seats').value) $('#new-seats').value = String(sub.seats);
  if (product) {
    $('#new-seats').min = String(ends ? Math.max(product.min_seats, sub.seats) : product.min_seats);
    $('#new-seats').max = String(product.max_seats);
  }
  // Offer the other interval when the product has a price for it.
  const other = sub.interval === 'month' ? 'year' : 'month';
  const canSwitch = product && product.prices[other] && !(sc && sc.type === 'interval_change');
  show($('#interval-card'), Boolean(canSwitch) && !lapsed && !ends);
  if (canSwitch) {
    $('#target-interval').value = other;
    $('#interval-text').textContent = other === 'year'
      ? `Switch to yearly billing at ${money(product.prices.year.unit_amount, sub.currency)} per seat per year. It starts now: unused monthly time is credited.`
      : `Switch to monthly billing at ${money(product.prices.month.unit_amount, sub.currency)} per seat per month, from the next renewal.`;
    $('#preview-interval').textContent = other === 'year' ? 'Preview the switch to annual billing' : 'Preview the switch to monthly billing';
  }
  // A renewal's failed payment (the dunning banner) and the free trial (its badge and notes).
  notices.render(sub, lapsed);
}

/**
 * When an invitation's link stops working (pending) or stopped (expired), or since when a seat is
 * suspended; nothing for the others.
 */
function expiryHint(seat) {
  if (seat.status === 'suspended') {
    return el('span', { class: 'hint' }, `The subscription lapsed${seat.suspended_at ? ` on ${day(seat.suspended_at)}` : ''}`);
  }
  if (!seat.invitation_expires_at) return null;
  if (seat.status === 'pending') return el('span', { class: 'hint' }, `Link valid until ${day(seat.invitation_expires_at)}`);
  if (seat.status === 'expired') return el('span', { class: 'hint' }, `Ran out on ${day(seat.invitation_expires_at)}`);
  return null;
}

function seatRow(seat) {
  const actions = el('td', {});
  // An expired invitation holds no seat: sending it again takes a free one (or says none is). A
  // suspended seat is neither re-sent nor transferred (a reactivation brings it back); it can be revoked.
  if (seat.status === 'pending' || seat.status === 'expired') {
    const label = seat.status === 'expired' ? `Invite ${seat.email} again (the invitation expired)` : `Resend the invitation to ${seat.email}`;
    actions.append(el('button', { type: 'button', class: 'link', 'data-action': 'resend', 'aria-label': label, onclick: () => resend(seat) }, 'Resend'));
  }
  if (seat.status !== 'revoked') {
    actions.append(el('button', { type: 'button', class: 'link', 'data-action': 'revoke', 'aria-label': `Revoke the seat of ${seat.email}`, onclick: () => askRevoke(seat) }, 'Revoke'));
  }
  return el('tr', { 'data-seat': seat.id, 'data-email': seat.email, 'data-status': seat.status },
    el('td', {}, seat.email),
    el('td', {}, el('span', { class: `badge ${seat.status}` }, seatStatus[seat.status] || seat.status), expiryHint(seat)),
    el('td', {}, day(seat.invited_at)),
    el('td', {}, seat.claimed_at ? day(seat.claimed_at) : '—'),
    actions);
}

async function loadSeats(more = false) {
  const q = new URLSearchParams({ limit: '50' });
  const filter = $('#status-filter').value;
  if (filter) q.set('status', filter);
  if (more && cursor) q.set('cursor', cursor);
  const page = await call('GET', `${base}/seats?${q}`);
  const body = $('#seats tbody');
  if (!more) body.replaceChildren();
  body.append(...page.seats.map(seatRow));
  cursor = page.next_cursor || null;
  show($('#more-seats'), Boolean(cursor));
  show($('#no-seats'), body.children.length === 0);
}

const describe = {
  'subscription.created': (d) => (d.restored_from
    ? `Subscription started; it takes the suspended seats of subscription ${d.restored_from}`
    : 'Subscription started'),
  'subscription.updated': (d) => {
    // The status as {from, to} (a billing update), or as it is.
    const st = d.status && typeof d.status === 'object' ? d.status.to : d.status;
    return `Billing updated${st ? ` (status ${String(st).replace('_', ' ')})` : ''}`;
  },
  'subscription.payment_failed': (d) => {
    const dn = d.dunning || {};
    const due = typeof dn.amount_due === 'number' ? ` (${money(dn.amount_due, sub.currency)} due)` : '';
    return `A renewal payment failed${due}${dn.access_until ? `; seats keep working until ${day(dn.access_until)}` : ''}`;
  },
  'subscription.payment_recovered': () => 'The failed renewal payment was paid; nothing is due any more',
  'subscription.renewed': () => 'Renewed for a new period',
  'subscription.lapsed': (d) => `Subscription lapsed; every seat is suspended${d.suspended_until ? ` until ${day(d.suspended_until)}` : ''}`,
  'subscription.reactivated': () => 'Subscription reactivated by the payment provider; the suspended seats come back',
  'subscription.suspension_ended': () => 'Nobody reactivated the subscription in time; the suspended seats were revoked',
  'seat.suspended': (d) => `Seat of ${d.email || 'a person'} suspended (the subscription lapsed)`,
  'seat.restored': (d) => `Seat of ${d.email || 'a person'} restored${d.status === 'pending' ? ' (a new invitation was sent)' : ''}${d.restored_from && d.restored_from.subscription_id !== sub.id ? ` from subscription ${d.restored_from.subscription_id}` : ''}`,
  'seat.assigned': (d) => `Seat assigned to ${d.email}${d.claim === 'immediate' ? ' and claimed at once' : ''}`,
  'seat.invitation_sent': (d) => `Invitation sent${d.email ? ` to ${d.email}` : ''}`,
  'seat.invitation_renewed': (d) => (d.was === 'expired'
    ? 'Expired invitation sent again (it holds a seat again)'
    : 'Invitation sent again (the old link stopped working)'),
  'seat.expired': (d) => `Invitation to ${d.email || 'a person'} expired unclaimed; its seat is free again`,
  'seat.claimed': (d) => `Seat claimed${d.email ? ` by ${d.email}` : ''}`,
  'seat.revoked': (d) => `Seat of ${d.email || 'a person'} revoked`,
  'benefit.granted': () => 'Benefit granted to a seat holder',
  'benefit.revoked': () => 'Benefit revoked from a former seat holder',
  'subscription.seats_increased': (d) => `Seats increased from ${d.seats?.from} to ${d.seats?.to}`,
  'subscription.seat_decrease_scheduled': (d) => `Seats to go from ${d.seats?.from} to ${d.seats?.to} at the renewal`,
  'subscription.interval_changed': (d) => `Switched to ${d.interval?.to === 'year' ? 'yearly' : 'monthly'} billing`,
  'subscription.interval_change_scheduled': (d) => `Switch to ${d.interval?.to === 'year' ? 'yearly' : 'monthly'} billing at the renewal`,
  'subscription.scheduled_change_canceled': () => 'Scheduled change canceled',
  'subscription.change_payment_required': (d) => `Payment needed for ${d.seats ? `${d.seats.to} seats` : `${d.interval?.to === 'year' ? 'yearly' : 'monthly'} billing`} (${money(d.amount_due, sub.currency)}); nothing changes until it is paid`,
  'subscription.pending_change_expired': () => 'A change waiting for its payment expired unpaid; nothing was charged',
  'subscription.manager_added': (d) => `Billing manager ${d.email || 'a person'} added`,
  'subscription.manager_removed': (d) => `Billing manager ${names.get(d.customer_id) || 'a person'} removed`,
  'subscription.ownership_offered': (d) => `Ownership offered to ${d.email || 'a person'}${d.expires_at ? ` until ${day(d.expires_at)}` : ''}`,
  'subscription.owner_changed': (d) => `Ownership handed over${names.get(d.to) ? ` to ${names.get(d.to)}` : ''}`,
  'subscription.cancellation_scheduled': (d) => `Set to cancel${d.cancel_at ? ` on ${day(d.cancel_at)}` : ' at the period\'s end'}${reasons[d.reason] ? ` (reason: ${reasons[d.reason].toLowerCase()})` : ''}`,
  'subscription.resumed': () => 'Cancellation withdrawn; the subscription renews again',
};

/** The events whose amount was charged (a change that waits for its payment charged nothing). */
const charges = new Set(['subscription.seats_increased', 'subscription.interval_changed']);

function actorName(actor) {
  if (!actor) return '';
  if (actor === `customer:${me.customer.id}`) return 'you';
  if (actor.startsWith('customer:') && names.has(actor.slice('customer:'.length))) return names.get(actor.slice('customer:'.length));
  if (actor.startsWith('customer:')) return 'a seat holder';
  if (actor.startsWith('organization:')) return 'the seller';
  if (actor.startsWith('stripe:')) return 'the payment provider';
  return 'the system';
}

async function loadTrail() {
  // The trail comes in pages, oldest first: read them all (a very long one up to 20,000 events).
  const events = await allPages((path) => call('GET', path), `${base}/events`);
  // Managers added and offers made name their customer: a removed manager keeps a name here.
  for (const e of events.items) {
    const d = e.data || {};
    if (d.customer_id && d.email && !names.has(d.customer_id)) names.set(d.customer_id, d.email);
  }
  $('#trail').replaceChildren(...events.items.slice().reverse().map((e) => {
    const d = e.data || {};
    const text = (describe[e.type] || (() => e.type))(d);
    const charged = charges.has(e.type) && typeof d.amount_due_now === 'number' && d.amount_due_now !== 0
      ? ` — ${money(d.amount_due_now, sub.currency)} charged` : '';
    return el('li', { 'data-type': e.type }, el('span', { class: 'muted' }, moment(e.created_at)), ' ', `${text}${charged}`,
      el('span', { class: 'muted' }, ` · by ${actorName(e.actor)}`));
  }));
}

async function loadAll() {
  sub = await call('GET', base);
  if (!product) {
    try { product = await api('GET', `/v1/products/${encodeURIComponent(sub.product_id)}`); } catch { product = null; }
  }
  renderSummary();
  // The history names managers by their email: it is read once they are known.
  // The invoices never fail the page: their section says what went wrong.
  await Promise.all([loadSeats(), billingManagers.load().then(loadTrail), invoices.load()]);
}

async function refresh() {
  try { await loadAll(); } catch (err) { if (!handleAuth(err)) pageError(err); }
}

async function resend(seat) {
  const box = $('#seats-filter');
  clearErrors(box);
  try {
    const after = await call('POST', `${base}/seats/${encodeURIComponent(seat.id)}/resend`);
    $('#seat-action-status').textContent = seat.status === 'expired'
      ? `Invitation sent again to ${seat.email}; it holds a seat again${after && after.invitation_expires_at ? ` until ${day(after.invitation_expires_at)}` : ''}.`
      : `Invitation sent again to ${seat.email}. The previous link no longer works.`;
    await refresh();
  } catch (err) { if (!handleAuth(err)) showError(box, err); }
}

function askRevoke(seat) {
  const dialog = $('#revoke-dialog');
  $('#revoke-text').textContent = seat.status === 'claimed'
    ? `${seat.email} loses the seat and its benefits (license keys, downloads) now. The seat becomes free for someone else.`
    : seat.status === 'suspended'
      ? `The suspended seat of ${seat.email} is revoked for good: it does not come back when the subscription is reactivated.`
      : seat.status === 'expired'
        ? `The expired invitation to ${seat.email} is withdrawn for good: it can no longer be sent again. It holds no seat, so the free seats stay as they are.`
        : `The invitation to ${seat.email} stops working and the seat becomes free for someone else.`;
  dialog.returnValue = '';
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'revoke') return;
    const box = $('#seats-filter');
    clearErrors(box);
    try {
      await call('DELETE', `${base}/seats/${encodeURIComponent(seat.id)}`);
      $('#seat-action-status').textContent = `The seat of ${seat.email} is revoked.`;
      await refresh();
    } catch (err) { if (!handleAuth(err)) showError(box, err); }
  };
  dialog.showModal();
  $('#keep-seat').focus();
}

/**
 * The money of a change, as the server computed it, with the button that applies it. `opts`:
 * `title` and `question` (above the lines), `confirmId` (the confirm button's id), `paymentNote`
 * (said after a declined payment) and `done` (run with the answer instead of "The change is
 * applied.").
 */
function renderPreview(box, q, interval, confirmLabel, apply, opts = {}) {
  const cur = q.subscription.currency;
  const when = q.effective === 'now' ? 'Takes effect now.' : `Takes effect on ${day(q.effective_at)}, at the renewal.`;
  const rows = q.lines.map((l) => el('tr', {},
    el('td', {}, l.description, el('span', { class: 'hint' }, `${day(l.period_start)} – ${day(l.period_end)}`)),
    el('td', { class: 'num' }, String(l.quantity)),
    el('td', { class: 'num' }, money(l.amount, cur))));
  const form = el('form', { novalidate: true },
    el('p', { class: 'form-error', role: 'alert' }),
    el('p', { class: 'status', role: 'status' }),
    el('div', { class: 'actions' },
      el('button', { type: 'submit', class: 'confirm', id: opts.confirmId }, confirmLabel),
      el('button', { type: 'button', class: 'secondary', onclick: () => { box.replaceChildren(); show(box, false); } }, 'Not now')));
  box.replaceChildren(
    el('h3', {}, opts.title || 'Preview'),
    ...(opts.question ? [el('p', { class: 'grow-question' }, opts.question)] : []),
    el('p', {}, when),
    q.lines.length
      ? el('div', { class: 'table-wrap' }, el('table', { class: 'lines' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Line'), el('th', { scope: 'col', class: 'num' }, 'Seats'), el('th', { scope: 'col', class: 'num' }, 'Amount'))),
        el('tbody', {}, rows)))
      : el('p', { class: 'muted' }, 'Nothing is charged now.'),
    el('p', { class: 'total' }, 'Due now: ', el('span', { class: 'amount-due' }, money(q.amount_due_now, cur))),
    // Stripe Tax: the tax is part of the amount due now; the renewal's amount is before tax.
    ...(q.tax > 0 ? [el('p', { class: 'tax' }, 'Tax: ', el('span', { class: 'tax-amount' }, money(q.tax, cur)),
      el('span', { class: 'muted' }, ' (included in the amount due now)'))] : []),
    el('p', {}, 'Next renewal: ', el('span', { class: 'next-renewal' }, money(q.next_renewal_amount, cur)), ` per ${per[interval]}${q.tax > 0 ? ', before tax' : ''}`),
    form);
  show(box, true);
  onSubmit(form, async () => {
    let answer;
    try {
      answer = await apply();
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'payment_required') throw err;
      // Pay first: the card was declined or needs authentication; nothing changed yet.
      box.replaceChildren(
        el('h3', {}, 'Payment needed'),
        el('p', { role: 'alert' }, `${err.message} Due: ${money(q.amount_due_now, cur)}. ${opts.paymentNote || 'Nothing changes until it is paid.'}`),
        el('p', {}, el('a', { class: 'button', href: err.paymentUrl || '#', rel: 'noopener' }, 'Pay the invoice')));
      await refresh();
      return;
    }
    if (opts.done) {
      await opts.done(answer);
      return;
    }
    status(form, 'Done.');
    box.replaceChildren(el('p', { class: 'status', role: 'status' }, 'The change is applied.'));
    await refresh();
  });
  form.querySelector('button.confirm').focus();
}

// Auto-grow: on a full subscription whose product grows when full, an invitation (or a list)
// answers 402 seat_increase_required with the preview of the seats it lacks. The page shows that
// preview and a confirm button that sends the same request again with confirm_charge and the
// preview's proration_date, under one Idempotency-Key per preview: the amount charged is the one
// shown, and a double click charges once.
const growBox = $('#grow-preview');
let growFor = null;

/** Whether an error is the offer to buy the seats missing (with its preview). */
const growthOffered = (err) => err instanceof ApiError && err.code === 'seat_increase_required' && Boolean(err.preview);

const seatsText = (n) => `${n} more ${n === 1 ? 'seat' : 'seats'}`;
const peopleText = (n) => `${n} ${n === 1 ? 'person' : 'people'}`;

function hideGrowth() {
  growBox.replaceChildren();
  show(growBox, false);
  growFor = null;
}

/** The price of the seats missing, and the button that buys them and sends `resend` again. */
function offerGrowth(box, err, { question, label, confirmId, resend, done, paymentNote }) {
  const q = err.preview;
  const key = newKey();
  const confirm = { confirm_charge: true, proration_date: q.proration_date };
  renderPreview(box, q, q.subscription.interval || sub.interval, `${label} (${money(q.amount_due_now, q.subscription.currency)})`,
    () => resend(confirm, key), { title: 'Buy more seats', question, confirmId, done, paymentNote });
}

/** The invitation went out: the form takes the next address once the counts are up to date. */
async function invited(email) {
  $('#invite-email').value = '';
  await refresh();
  status($('#invite-form'), `Invitation sent to ${email}.`);
}

onSubmit($('#invite-form'), async () => {
  const email = $('#invite-email').value.trim();
  const buying = growBox.querySelector('form');
  if (buying && buying.dataset.busy) throw new ApiError(409, 'invalid_state', 'The seat purchase below is still being sent: wait for its answer.');
  hideGrowth();
  try {
    await call('POST', `${base}/seats`, { body: { email } });
  } catch (err) {
    if (!growthOffered(err)) throw err;
    const n = err.seatsNeeded || 1;
    growFor = email;
    offerGrowth(growBox, err, {
      question: `Every seat is taken. Buy ${seatsText(n)} to invite ${email}?`,
      label: n === 1 ? 'Buy the seat and invite' : `Buy ${n} seats and invite`,
      confirmId: 'grow-confirm',
      resend: (confirm, key) => call('POST', `${base}/seats`, { body: { email, ...confirm }, idempotencyKey: key }),
      done: async () => {
        hideGrowth();
        await invited(email);
      },
      paymentNote: `Nothing is assigned until it is paid. Once it is, the ${n === 1 ? 'seat is' : 'seats are'} added: invite ${email} again then.`,
    });
    return;
  }
  await invited(email);
});

// The offer is for the address it was priced for: another one takes it away.
$('#invite-email').addEventListener('input', () => {
  const pending = growBox.querySelector('form');
  if (growFor !== null && $('#invite-email').value.trim() !== growFor && !(pending && pending.dataset.busy)) hideGrowth();
});

// "Invite a list" (batch.js): the product is read when the list is sent (it is loaded later).
initBatch({ call, base, refresh, product: () => product, growthOffered, offerGrowth, seatsText, peopleText });

// "Assign me": the billing manager's own seat, claimed at once.
onSubmit($('#assign-me-form'), async () => {
  await call('POST', `${base}/seats`, { body: { email: me.customer.email, claim: 'immediate' } });
  await refresh();
  status($('#assign-me-form'), 'You have a seat; your benefits are on the Benefits page.');
});

// "Billing managers" (managers.js); loadAll reads them through `billingManagers.load`.
const billingManagers = initManagers({ call, base, me, names, refresh });

// The suspension banner and its "Reactivate" (suspension.js); renderSummary renders it.
const suspension = initSuspension({ id, me, current: () => sub, refresh });

// "Cancel subscription" and the "set to cancel" banner (cancel.js); renderSummary renders them.
const cancellation = initCancel({ call, base, current: () => sub, refresh });

// "Invoices" and "Update card / billing details" (invoices.js); loadAll reads them through `invoices.load`.
const invoices = initInvoices({ call, base, id });

// The dunning banner and the trial notes (billing-notices.js); renderSummary renders them.
const notices = initBillingNotices();

onSubmit($('#cancel-form'), async () => {
  await call('DELETE', `${base}/scheduled-change`);
  await refresh();
});

onSubmit($('#resize-form'), async () => {
  const raw = $('#new-seats').value.trim();
  const seats = /^\d+$/.test(raw) ? Number(raw) : null;
  if (seats === null) throw new ApiError(400, 'invalid_request', 'Enter a whole number of seats.', 'seats');
  if (ending(sub) && seats < sub.seats) {
    throw new ApiError(409, 'invalid_state', 'This subscription is set to cancel: resume it before lowering the seat count.', 'seats');
  }
  // Preview and apply price the same instant, so the charge is the amount shown.
  const prorationDate = Math.floor(Date.now() / 1000);
  const body = { seats, proration_date: prorationDate };
  const q = await call('POST', `${base}/seat-changes/preview`, { body });
  const key = newKey();
  // Nothing due now (more seats during the free trial): nothing to pay on confirming.
  const label = seats > sub.seats ? (q.amount_due_now > 0 ? `Confirm and pay ${money(q.amount_due_now, sub.currency)}` : 'Confirm the increase')
    : seats < sub.seats ? 'Confirm the decrease' : 'Confirm';
  renderPreview($('#resize-preview'), q, sub.interval, label, () => call('POST', `${base}/seat-changes`, { body, idempotencyKey: key }));
});

onSubmit($('#interval-form'), async () => {
  const interval = $('#target-interval').value;
  const body = { interval, proration_date: Math.floor(Date.now() / 1000) };
  const q = await call('POST', `${base}/interval-change/preview`, { body });
  const key = newKey();
  const label = interval === 'year' ? `Switch to annual and pay ${money(q.amount_due_now, sub.currency)}` : 'Switch to monthly at the renewal';
  renderPreview($('#interval-preview'), q, interval, label, () => call('POST', `${base}/interval-change`, { body, idempotencyKey: key }));
});

$('#status-filter').addEventListener('change', () => loadSeats().catch((err) => { if (!handleAuth(err)) pageError(err); }));
$('#more-seats').addEventListener('click', () => loadSeats(true).catch((err) => { if (!handleAuth(err)) pageError(err); }));

if (me) {
  if (!id) { $('#page-error').textContent = 'This link names no subscription. Pick one from the portal.'; } else {
    loadAll().then(() => show($('#content'), true), (err) => {
      if (handleAuth(err)) return;
      if (err.status === 404) $('#page-error').textContent = 'There is no such subscription among the ones you manage.';
      else pageError(err);
    });
  }
}
