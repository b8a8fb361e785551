// The dashboard's billing settings: the grace days a subscription whose renewal payment failed
// keeps its seats and benefits before it lapses (0–60; 14 until the organization sets them), and
// Stripe Tax for the checkouts made from now on (their subscriptions keep it). Saved with
// PATCH /v1/organizations/{id}; there is no GET, so the same PATCH with nothing in it reads them.
// The API key does not name its organization: the id comes from what the key already lists (its
// benefits, products or subscriptions carry `organization_id`). Until one exists the section says
// so, and dashboard.js loads it again once a benefit or product is created.
import { $, ApiError, clearErrors, onSubmit, show, status } from './api.js';

/** The grace days of an organization that never set them (the server's default). */
const DEFAULT_GRACE_DAYS = 14;
const MAX_GRACE_DAYS = 60;

/** Wires the billing settings on the merchant's `call`: `load(orgId)` (never rejects) and `forget()`. */
export function settings(call) {
  const form = $('#settings-form');
  const error = $('#settings-error');
  let orgId = null;
  let loaded = false;
  // Each load starts a generation: an answer for an older one (a forgotten key) is dropped.
  let generation = 0;

  const path = () => `/v1/organizations/${encodeURIComponent(orgId)}`;

  function fill(org) {
    $('#grace-days').value = String(typeof org.grace_days === 'number' ? org.grace_days : DEFAULT_GRACE_DAYS);
    $('#automatic-tax').checked = Boolean(org.automatic_tax);
  }

  async function load(id) {
    if (id && id === orgId && loaded) return;
    generation += 1;
    const mine = generation;
    error.textContent = '';
    // Nothing is shown to save before the settings are read: a blank form would overwrite them.
    show(form, false);
    show($('#settings-unknown'), !id);
    orgId = id || null;
    loaded = false;
    if (!id) return;
    try {
      const org = await call('PATCH', path(), { body: {} });
      if (mine !== generation) return;
      fill(org);
      loaded = true;
      show(form, true);
    } catch (err) {
      if (mine !== generation) return;
      error.textContent = err instanceof ApiError ? `We could not read the billing settings: ${err.message}` : 'We could not read the billing settings. Please reload the page.';
    }
  }

  function forget() {
    generation += 1;
    orgId = null;
    loaded = false;
    form.reset();
    clearErrors(form);
    error.textContent = '';
    show(form, false);
    show($('#settings-unknown'), false);
  }

  onSubmit(form, async () => {
    if (!orgId || !loaded) throw new ApiError(409, 'invalid_state', 'The settings are not read yet. Please reload the page.');
    const raw = $('#grace-days').value.trim();
    if (!/^\d{1,2}$/.test(raw) || Number(raw) > MAX_GRACE_DAYS) {
      throw new ApiError(400, 'invalid_request', `Enter the grace days as a whole number from 0 to ${MAX_GRACE_DAYS}.`, 'grace_days');
    }
    const body = { grace_days: Number(raw), automatic_tax: $('#automatic-tax').checked };
    const org = await call('PATCH', path(), { body });
    fill(org);
    const days = typeof org.grace_days === 'number' ? org.grace_days : body.grace_days;
    status(form, `Saved. A failed renewal payment keeps seats working for ${days} ${days === 1 ? 'day' : 'days'}; Stripe Tax is ${org.automatic_tax ? 'on' : 'off'} for new checkouts.`);
  });

  return { load, forget };
}
