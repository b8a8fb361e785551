// An invitation: who invited you to what. Opening the link changes nothing (mail scanners open
// links too); the button claims the seat, signs the holder in and shows their benefits.
import { $, api, moment, onSubmit, pageError, session, show } from './api.js';

const token = new URLSearchParams(location.search).get('token') || '';
const form = $('#claim-form');
const gone = 'This invitation link no longer works: it was used, replaced by a newer one, revoked, or it expired. Ask the person who invited you to send it again.';

async function load() {
  show($('#loading'), false);
  if (!token) { $('#page-error').textContent = 'This link has no invitation in it. Open the link from your invitation email.'; return; }
  let inv;
  try {
    inv = await api('GET', `/v1/claims/${encodeURIComponent(token)}`);
  } catch (err) {
    if (err.status === 404) $('#page-error').textContent = gone;
    else pageError(err);
    return;
  }
  document.title = `Claim your seat — ${inv.product_name}`;
  $('#product').textContent = inv.product_name;
  $('#invitation').textContent = `${inv.organization_name} invited ${inv.email} to a seat of ${inv.product_name}.`;
  $('#expires').textContent = `The invitation is valid until ${moment(inv.expires_at)}.`;
  show(form, true);
  $('#claim').focus();
}

onSubmit(form, async () => {
  let claimed;
  try {
    claimed = await api('POST', '/v1/claims', { body: { token } });
  } catch (err) {
    if (err.status === 404) err.message = gone;
    throw err;
  }
  session.set({ token: claimed.session.token, expires_at: claimed.session.expires_at, customer: { id: claimed.seat.customer_id, email: claimed.seat.email } });
  // The token is spent: leave the claim page out of the history.
  location.replace('/portal/benefits?claimed=1');
});

load();
