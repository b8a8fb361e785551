// The dashboard's webhooks: the organization's endpoints (status, test event, secret rotation,
// disable/enable, delete), a form to add one (its signing secret shown once), and one
// endpoint's deliveries with their failures and a retry. Looks again while a delivery is pending.
import { $, clearErrors, el, moment, newKey, onSubmit, show, showError, status } from './api.js';

export const EVENT_TYPES = [
  'subscription.created', 'subscription.updated', 'subscription.canceled', 'subscription.past_due',
  'seat.assigned', 'seat.claimed', 'seat.revoked', 'seat.invitation_sent', 'seat.expired',
  'seat.suspended', 'seat.restored', 'benefit.granted', 'benefit.revoked', 'checkout.completed',
];

const BASE = '/v1/webhook-endpoints';
const path = (e, rest = '') => `${BASE}/${encodeURIComponent(e.id)}${rest}`;

function eventsSummary(events) {
  if (events.includes('*')) return 'All events';
  if (events.length <= 3) return events.join(', ');
  return `${events.slice(0, 2).join(', ')} and ${events.length - 2} more`;
}

function endpointBadge(e) {
  if (e.disabled) return el('span', { class: 'badge disabled' }, `disabled${e.disabled_reason ? ` (${e.disabled_reason})` : ''}`);
  if (e.failing_since) return el('span', { class: 'badge failing' }, `failing since ${moment(e.failing_since)}`);
  return el('span', { class: 'badge active' }, 'active');
}

function lastAnswer(d) {
  const parts = [d.last_response_code ? `HTTP ${d.last_response_code}` : null, d.last_error].filter(Boolean);
  return parts.length ? parts.join(' · ') : '—';
}

/** Wires the section to `call` (the dashboard's API call with the merchant key). */
export function webhooks(call) {
  let endpoints = [];
  let current = null; // the endpoint whose deliveries are shown
  let look = 0; // every load of the deliveries counts; an older one's answer is dropped
  let shown = '';
  let timer = null;

  const actions = $('#endpoint-actions');
  const panel = $('#deliveries-filter');

  function showSecret(e, secret, rotated) {
    $('#secret-for').textContent = e.url;
    $('#secret-note').textContent = rotated
      ? `A new secret for ${e.url}. The previous one keeps signing beside it until ${moment(e.previous_secret_expires_at)}, so your server can switch over.`
      : `Your server checks every request to ${e.url} with it (the webhook-signature header, Standard Webhooks).`;
    $('#secret-value').value = secret;
    $('#secret-status').textContent = '';
    show($('#secret-box'), true);
    $('#secret-value').focus();
    $('#secret-value').select();
  }

  function hideSecret() {
    $('#secret-value').value = '';
    show($('#secret-box'), false);
  }

  /** Runs a row button's work: one at a time, errors in words above the table. */
  async function act(button, work) {
    clearErrors(actions);
    button.disabled = true;
    try {
      await work();
    } catch (err) {
      showError(actions, err);
    } finally {
      button.disabled = false;
    }
  }

  function endpointRow(e) {
    const label = e.disabled ? 'Enable' : 'Disable';
    const rotating = e.previous_secret_expires_at && new Date(e.previous_secret_expires_at) > new Date();
    return el('tr', { 'data-endpoint': e.id, 'data-url': e.url },
      el('td', {}, el('span', { class: 'key' }, e.url),
        e.description ? el('span', { class: 'hint' }, e.description) : null,
        rotating ? el('span', { class: 'hint' }, `Previous secret signs too until ${moment(e.previous_secret_expires_at)}`) : null),
      el('td', { title: e.events.join(', ') }, eventsSummary(e.events)),
      el('td', {}, endpointBadge(e)),
      el('td', {},
        el('button', { type: 'button', class: 'link', 'data-action': 'deliveries', 'aria-label': `Deliveries to ${e.url}`, onclick: () => openDeliveries(e, true) }, 'Deliveries'),
        el('button', { type: 'button', class: 'link', 'data-action': 'test', 'aria-label': `Send test event to ${e.url}`, onclick: (ev) => act(ev.currentTarget, () => sendTest(e)) }, 'Send test event'),
        el('button', { type: 'button', class: 'link', 'data-action': 'rotate', 'aria-label': `Rotate secret of ${e.url}`, onclick: (ev) => act(ev.currentTarget, () => rotate(e)) }, 'Rotate secret'),
        el('button', { type: 'button', class: 'link', 'data-action': 'toggle', 'aria-label': `${label} ${e.url}`, onclick: (ev) => act(ev.currentTarget, () => toggle(e)) }, label),
        el('button', { type: 'button', class: 'link', 'data-action': 'delete', 'aria-label': `Delete ${e.url}`, onclick: (ev) => act(ev.currentTarget, () => remove(e)) }, 'Delete')));
  }

  async function load() {
    endpoints = (await call('GET', BASE)).data;
    $('#endpoints tbody').replaceChildren(...endpoints.map(endpointRow));
    show($('#no-endpoints'), endpoints.length === 0);
    if (current) {
      current = endpoints.find((e) => e.id === current.id) || null;
      if (!current) closeDeliveries();
    }
  }

  async function sendTest(e) {
    await call('POST', path(e, '/test'));
    $('#endpoint-action-status').textContent = `Test event sent to ${e.url}. Its delivery shows below.`;
    $('#delivery-filter').value = '';
    await openDeliveries(e, false);
  }

  async function rotate(e) {
    if (!confirm(`Rotate the signing secret of ${e.url}? The current secret keeps signing for 24 hours beside the new one.`)) return;
    const r = await call('POST', path(e, '/rotate-secret'));
    await load();
    showSecret(r, r.secret, true);
  }

  async function toggle(e) {
    await call('PATCH', path(e), { body: { disabled: !e.disabled } });
    await load();
    $('#endpoint-action-status').textContent = e.disabled
      ? `${e.url} is enabled again. Retry its failed deliveries below if it should get them.`
      : `${e.url} is disabled: nothing is sent to it until you enable it.`;
  }

  async function remove(e) {
    if (!confirm(`Delete the endpoint ${e.url}? It gets no more events.`)) return;
    await call('DELETE', path(e));
    await load();
    $('#endpoint-action-status').textContent = `${e.url} is deleted.`;
  }

  function closeDeliveries() {
    clearTimeout(timer);
    look += 1;
    current = null;
    shown = '';
    show($('#deliveries-panel'), false);
  }

  async function openDeliveries(e, focus) {
    const other = !current || current.id !== e.id;
    current = e;
    if (other) {
      shown = '';
      $('#deliveries-url').textContent = e.url;
      $('#deliveries tbody').replaceChildren();
      show($('#failed-count'), false);
    }
    clearErrors(panel);
    show($('#deliveries-panel'), true);
    if (focus) $('#deliveries-h').focus();
    await refreshDeliveries();
  }

  function deliveryRow(d) {
    const retry = d.status === 'failed' || d.status === 'pending'
      ? el('button', { type: 'button', class: 'link', 'data-action': 'retry', 'aria-label': `Retry the ${d.event_type} delivery`, onclick: (ev) => retryDelivery(ev.currentTarget, d) }, 'Retry')
      : null;
    return el('tr', { 'data-delivery': d.id, 'data-status': d.status, 'data-event-type': d.event_type },
      el('td', {}, el('span', { class: 'key' }, d.event_type)),
      el('td', {}, el('span', { class: `badge ${d.status}` }, d.status)),
      el('td', { class: 'num' }, String(d.attempts)),
      el('td', {}, lastAnswer(d)),
      el('td', {}, d.status === 'pending' ? moment(d.next_attempt_at) : '—'),
      el('td', {}, moment(d.created_at)),
      el('td', {}, retry));
  }

  /** The shown endpoint's deliveries and its failure count; again every 2 s while one is pending. */
  async function loadDeliveries(again) {
    clearTimeout(timer);
    if (!current) return;
    const mine = ++look;
    const filter = $('#delivery-filter').value;
    const q = new URLSearchParams({ limit: '50' });
    if (filter) q.set('status', filter);
    const [list, failed] = await Promise.all([
      call('GET', path(current, `/deliveries?${q}`)),
      call('GET', path(current, '/deliveries?status=failed&limit=100')),
    ]);
    if (mine !== look) return;
    const n = failed.data.length;
    $('#failed-count').textContent = `${n === 100 ? '100+' : n} failed`;
    show($('#failed-count'), n > 0);
    // Re-rendered only on change, so a reader (or a click) never loses the row under it.
    const now = JSON.stringify(list.data);
    if (now !== shown) {
      $('#deliveries tbody').replaceChildren(...list.data.map(deliveryRow));
      shown = now;
    }
    show($('#no-deliveries'), list.data.length === 0);
    if (list.data.some((d) => d.status === 'pending') && again < 30) {
      timer = setTimeout(() => loadDeliveries(again + 1).catch((err) => showError(panel, err)), 2000);
    }
  }

  async function refreshDeliveries() {
    try { await loadDeliveries(0); } catch (err) { showError(panel, err); }
  }

  async function retryDelivery(button, d) {
    clearErrors(panel);
    button.disabled = true;
    try {
      await call('POST', path(current, `/deliveries/${encodeURIComponent(d.id)}/retry`));
      $('#delivery-action-status').textContent = `The ${d.event_type} delivery is being sent again.`;
      await loadDeliveries(0);
    } catch (err) {
      showError(panel, err);
    } finally {
      button.disabled = false;
    }
  }

  // The event choices: "All events" (["*"], also types added later) or some of them.
  const allEvents = el('input', { type: 'checkbox', id: 'all-events', value: '*', checked: true });
  const choices = EVENT_TYPES.map((t) => el('input', { type: 'checkbox', name: 'events', value: t }));
  const syncChoices = () => choices.forEach((c) => { c.disabled = allEvents.checked; });
  $('#endpoint-events').append(el('label', {}, allEvents, 'All events (also types added later)'),
    ...choices.map((c) => el('label', {}, c, el('span', { class: 'key' }, c.value))));
  allEvents.addEventListener('change', syncChoices);
  syncChoices();

  onSubmit($('#endpoint-form'), async () => {
    const form = $('#endpoint-form');
    const body = {
      url: $('#endpoint-url').value.trim(),
      events: allEvents.checked ? ['*'] : choices.filter((c) => c.checked).map((c) => c.value),
    };
    const description = $('#endpoint-description').value.trim();
    if (description) body.description = description;
    const e = await call('POST', BASE, { body, idempotencyKey: newKey() });
    form.reset();
    syncChoices();
    status(form, `Added ${e.url}.`);
    await load();
    showSecret(e, e.secret, false);
  });

  $('#copy-secret').addEventListener('click', async () => {
    const input = $('#secret-value');
    const out = $('#secret-status');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      if (!document.execCommand('copy')) { out.textContent = 'Select the secret and copy it with your keyboard.'; return; }
    }
    out.textContent = 'Copied to the clipboard.';
  });
  $('#hide-secret').addEventListener('click', hideSecret);
  $('#delivery-filter').addEventListener('change', refreshDeliveries);
  $('#refresh-deliveries').addEventListener('click', refreshDeliveries);

  /** When the key is forgotten: nothing of this organization stays on the page. */
  function forget() {
    closeDeliveries();
    hideSecret();
    endpoints = [];
    $('#endpoints tbody').replaceChildren();
    clearErrors(actions);
  }

  return { load, forget };
}
