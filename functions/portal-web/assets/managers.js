// The subscription page's billing managers: the owner and up to `max_managers` co-managers, the
// ownership offer standing, a form to add one, removal with confirmation and the hand-over of
// ownership (subscription.js wires it in).
import { $, ApiError, clearErrors, day, el, handleAuth, moment, newKey, onSubmit, show, showError, status } from './api.js';

/**
 * Wires the "Billing managers" section: `call` (the page's API call with the session), `base` (the
 * subscription's path), `me` (the session), `names` (customer id → email, shared with the history)
 * and `refresh` (reloads the page). `load` reads the managers (a failure is said in the section).
 */
export function initManagers({ call, base, me, names, refresh }) {
  // Billing managers: the owner and up to `max_managers` co-managers. Any of them adds one; only
  // the owner removes one or hands ownership over (the server refuses the others: 403).
  // `managers`: the last answer of GET …/managers.
  let managers = null;
  let managersLoadFailed = false;
  let removingManager = false;

  /** Whether a person of the managers answer is the signed-in customer. */
  function isMe(person) {
    if (!person) return false;
    if (me.customer.id && person.customer_id) return person.customer_id === me.customer.id;
    return (person.email || '').toLowerCase() === (me.customer.email || '').toLowerCase();
  }

  const iAmOwner = () => Boolean(managers) && isMe(managers.owner);

  function managerItem(person) {
    const owner = person.role === 'owner';
    return el('li', { 'data-customer-id': person.customer_id, 'data-email': person.email, 'data-role': person.role },
      el('span', { class: 'manager-email' }, person.email),
      owner ? el('span', { class: 'badge owner' }, 'Owner') : el('span', { class: 'muted' }, `added ${day(person.added_at)}`),
      isMe(person) ? el('span', { class: 'muted you' }, '(you)') : null,
      !owner && iAmOwner()
        ? el('button', {
          type: 'button',
          class: 'link manager-remove',
          'data-customer-id': person.customer_id,
          'aria-label': `Remove ${person.email} as a billing manager`,
          onclick: () => askRemoveManager(person),
        }, 'Remove')
        : null);
  }

  /** "N of 5", and the add form off once the subscription has as many co-managers as it may. */
  function applyManagerLimit() {
    if (!managers) return;
    const n = managers.managers.length;
    const max = managers.max_managers;
    const full = n >= max;
    $('#manager-count').textContent = `${n} of ${max} co-managers`;
    $('#manager-fields').disabled = full;
    $('#manager-email').disabled = full;
    if (!$('#manager-form').dataset.busy) $('#manager-add').disabled = full;
    $('#manager-limit').textContent = full
      ? `This subscription has ${max} billing managers besides its owner, the most it can have. ${iAmOwner() ? 'Remove one to add another.' : 'Its owner can remove one to make room.'}`
      : '';
    show($('#manager-limit'), full);
  }

  function renderManagers() {
    const m = managers;
    names.set(m.owner.customer_id, m.owner.email);
    for (const p of m.managers) names.set(p.customer_id, p.email);
    $('#managers-list').replaceChildren(managerItem(m.owner), ...m.managers.map(managerItem));
    applyManagerLimit();
    const offer = m.ownership_offer;
    const box = $('#ownership-offer');
    show(box, Boolean(offer));
    if (offer) {
      box.replaceChildren(`Ownership offered to ${offer.email} until ${moment(offer.expires_at)}. `,
        isMe(offer)
          ? el('span', {}, 'That is you: ', el('a', { href: '/portal' }, 'accept it on the portal home'), '.')
          : 'It changes hands only when they accept.');
    }
    show($('#owner-form'), iAmOwner());
  }

  async function loadManagers() {
    let answer;
    try {
      answer = await call('GET', `${base}/managers`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      // The rest of the page works without them: the failure is said in their section.
      managersLoadFailed = true;
      showError($('#managers-box'), err);
      return;
    }
    if (managersLoadFailed) {
      managersLoadFailed = false;
      $('#manager-action-error').textContent = '';
    }
    managers = answer;
    renderManagers();
  }

  function askRemoveManager(person) {
    if (removingManager) return;
    const dialog = $('#manager-remove-dialog');
    $('#manager-remove-text').textContent = `${person.email} can no longer manage this subscription: it leaves their portal at once. Seats, and a seat they may hold, stay as they are. You can add them again later.`;
    dialog.returnValue = '';
    dialog.onclose = async () => {
      if (dialog.returnValue !== 'remove' || removingManager) return;
      removingManager = true;
      const box = $('#managers-box');
      clearErrors(box);
      for (const b of document.querySelectorAll('.manager-remove')) b.disabled = true;
      try {
        await call('DELETE', `${base}/managers/${encodeURIComponent(person.customer_id)}`);
        await refresh();
        $('#manager-action-status').textContent = `${person.email} is no longer a billing manager.`;
      } catch (err) {
        if (!handleAuth(err)) showError(box, err);
      } finally {
        removingManager = false;
        for (const b of document.querySelectorAll('.manager-remove')) b.disabled = false;
      }
    };
    dialog.showModal();
    $('#keep-manager').focus();
  }

  // One Idempotency-Key per intended change (a form and the email it names): sending the same
  // again after a lost answer is answered once; another email is another change.
  const keys = new Map();
  function keyFor(slot, what) {
    const k = keys.get(slot);
    if (k && k.what === what) return k.key;
    const key = newKey();
    keys.set(slot, { what, key });
    return key;
  }

  onSubmit($('#manager-form'), async () => {
    const email = $('#manager-email').value.trim();
    try {
      try {
        await call('POST', `${base}/managers`, { body: { email }, idempotencyKey: keyFor('manager', email) });
      } catch (err) {
        if (handleAuth(err)) return;
        throw err;
      }
      keys.delete('manager');
      $('#manager-email').value = '';
      clearErrors($('#managers-box'));
      await refresh();
      status($('#manager-form'), `Added ${email}; they were emailed a sign-in link.`);
    } finally {
      // Once the form's buttons are given back: the last co-manager allowed closes the form.
      setTimeout(applyManagerLimit, 0);
    }
  });

  onSubmit($('#owner-form'), async () => {
    const email = $('#owner-email').value.trim();
    try {
      await call('POST', `${base}/owner`, { body: { email }, idempotencyKey: keyFor('owner', email) });
    } catch (err) {
      if (handleAuth(err)) return;
      throw err;
    }
    keys.delete('owner');
    $('#owner-email').value = '';
    await refresh();
    status($('#owner-form'), `Ownership offered to ${email}. They were emailed a sign-in link; you stay the owner until they accept.`);
  });

  return { load: loadManagers };
}
