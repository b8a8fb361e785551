// The merchant's dashboard, on the organization's API key (kept in sessionStorage, so it
// leaves with the tab): products, subscriptions, forms to create benefits (uploading the
// file to its presigned URL) and products (with an optional free trial), the billing settings
// (settings.js: grace days and Stripe Tax) and the webhook endpoints (webhooks.js).
import { $, ApiError, allPages, api, day, el, money, newKey, onSubmit, per, plan, show, status, toMinor } from './api.js';
import { settings } from './settings.js';
import { webhooks } from './webhooks.js';

const KEY = 'seats.merchant_key';
let apiKey = sessionStorage.getItem(KEY);
let benefits = [];
const products = new Map();
const call = (method, path, opts = {}) => api(method, path, { token: apiKey, ...opts });
const hooks = webhooks(call);
const billingSettings = settings(call);
// The key's organization, as what it lists names it (the key itself does not say).
let orgId = null;

function learnOrganization(items) {
  if (!orgId) orgId = items.find((x) => x.organization_id)?.organization_id || null;
}

function prices(p) {
  return ['month', 'year'].filter((iv) => p.prices[iv])
    .map((iv) => `${money(p.prices[iv].unit_amount, p.currency)} / ${per[iv]}`).join(' · ');
}

async function loadProducts() {
  const list = await call('GET', '/v1/products');
  products.clear();
  list.data.forEach((p) => products.set(p.id, p));
  learnOrganization(list.data);
  $('#products tbody').replaceChildren(...list.data.map((p) => el('tr', { 'data-product': p.id },
    el('td', {}, el('strong', {}, p.name), p.description ? el('span', { class: 'hint' }, p.description) : null),
    el('td', {}, prices(p), p.trial_days ? el('span', { class: 'hint' }, `${p.trial_days}-day free trial`) : null),
    el('td', {}, `${p.min_seats}–${p.max_seats}`, p.when_full === 'grow' ? el('span', { class: 'hint' }, 'offers more seats when full') : null),
    el('td', {}, p.benefit_ids.map((id) => benefits.find((b) => b.id === id)?.name || id).join(', ') || '—'),
    el('td', {}, el('a', { href: `/checkout/${encodeURIComponent(p.id)}` }, 'Open checkout')))));
  show($('#no-products'), list.data.length === 0);
}

async function loadSubscriptions() {
  const list = { data: (await allPages((path) => call('GET', path), '/v1/subscriptions')).items };
  learnOrganization(list.data);
  $('#subscriptions tbody').replaceChildren(...list.data.map((s) => el('tr', { 'data-subscription': s.id },
    el('td', { class: 'key' }, s.id),
    el('td', {}, products.get(s.product_id)?.name || s.product_id),
    el('td', {}, el('span', { class: `badge ${s.status}` }, s.status.replace('_', ' '))),
    el('td', {}, `${s.seats_assigned} of ${s.seats}`),
    el('td', {}, `${plan[s.interval]}, ${money(s.unit_amount, s.currency)} per seat`),
    el('td', {}, day(s.current_period_end)))));
  show($('#no-subs'), list.data.length === 0);
}

async function loadBenefits() {
  benefits = (await call('GET', '/v1/benefits')).data;
  learnOrganization(benefits);
  const label = { license_key: 'license key', file_download: 'file' };
  $('#benefits').replaceChildren(...benefits.map((b) => el('li', { 'data-benefit': b.id }, `${b.name} (${label[b.type] || b.type})`)));
  const box = $('#benefit-choices');
  const chosen = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  box.replaceChildren(el('legend', {}, 'Benefits of every claimed seat'),
    ...benefits.map((b) => el('label', {}, el('input', { type: 'checkbox', name: 'benefit_ids', value: b.id, checked: chosen.has(b.id) }), b.name)));
}

async function open() {
  orgId = null;
  await loadBenefits();
  await loadProducts();
  await loadSubscriptions();
  await hooks.load();
  await billingSettings.load(orgId);
  show($('#key-form'), false);
  show($('#nav'), true);
  show($('#dashboard'), true);
}

function closed(message) {
  hooks.forget();
  billingSettings.forget();
  orgId = null;
  show($('#dashboard'), false);
  show($('#nav'), false);
  show($('#key-form'), true);
  if (message) $('#key-form .form-error').textContent = message;
}

onSubmit($('#key-form'), async () => {
  const key = $('#api-key').value.trim();
  if (!key) throw new ApiError(400, 'invalid_request', 'Enter your API key.', 'api_key');
  apiKey = key;
  try {
    await open();
  } catch (err) {
    apiKey = null;
    if (err.status === 401) throw new ApiError(401, 'unauthorized', 'This API key is not valid. Check it and try again.', 'api_key');
    throw err;
  }
  sessionStorage.setItem(KEY, key);
  $('#api-key').value = '';
});

$('#forget-key').addEventListener('click', () => { sessionStorage.removeItem(KEY); apiKey = null; closed(); });

$('#benefit-type').addEventListener('change', () => {
  const file = $('#benefit-type').value === 'file_download';
  show($('#file-field'), file);
  show($('#prefix-field'), !file);
});

onSubmit($('#benefit-form'), async () => {
  const type = $('#benefit-type').value;
  const body = { type, name: $('#benefit-name').value.trim() };
  const file = $('#benefit-file').files[0];
  if (type === 'file_download') {
    if (!file) throw new ApiError(400, 'invalid_request', 'Choose the file to upload.', 'filename');
    body.filename = file.name;
    body.content_type = file.type || 'application/octet-stream';
  } else if ($('#benefit-prefix').value.trim()) {
    body.prefix = $('#benefit-prefix').value.trim();
  }
  const form = $('#benefit-form');
  const benefit = await call('POST', '/v1/benefits', { body, idempotencyKey: newKey() });
  if (benefit.upload_url) {
    status(form, `Uploading ${file.name}…`);
    let put;
    try {
      put = await fetch(benefit.upload_url, { method: 'PUT', headers: { 'Content-Type': body.content_type }, body: file });
    } catch { put = null; }
    if (!put || !put.ok) {
      await loadBenefits();
      throw new ApiError(0, 'upload_failed', `The benefit "${benefit.name}" exists, but the file upload failed. Create it again to retry.`, 'filename');
    }
  }
  status(form, `Created ${benefit.name}${benefit.upload_url ? ' and uploaded the file' : ''}.`);
  form.reset();
  show($('#file-field'), false);
  show($('#prefix-field'), true);
  await loadBenefits();
  // The first benefit names the organization: its settings can show now.
  await billingSettings.load(orgId);
});

onSubmit($('#product-form'), async () => {
  const currency = $('#product-currency').value;
  const pricesIn = {};
  for (const iv of ['month', 'year']) {
    const raw = $(`#price-${iv}`).value.trim();
    if (!raw) continue;
    const minor = toMinor(raw, currency);
    if (minor === null) throw new ApiError(400, 'invalid_request', `Enter the ${iv === 'month' ? 'monthly' : 'yearly'} price as a number, like 10.00.`, `prices.${iv}.unit_amount`);
    pricesIn[iv] = { unit_amount: minor };
  }
  const int = (sel) => ($(sel).value.trim() === '' ? undefined : Number($(sel).value));
  const body = {
    name: $('#product-name').value.trim(),
    currency,
    prices: pricesIn,
    min_seats: int('#min-seats'),
    max_seats: int('#max-seats'),
    benefit_ids: [...document.querySelectorAll('#benefit-choices input:checked')].map((i) => i.value),
    // block: a full subscription refuses new seats; grow: it offers to buy them (charged first).
    when_full: $('#product-when-full').value,
  };
  const description = $('#product-description').value.trim();
  if (description) body.description = description;
  // A free trial (days) first: the server takes 1 to 730.
  const trial = $('#trial-days').value.trim();
  if (trial) {
    if (!/^\d+$/.test(trial)) throw new ApiError(400, 'invalid_request', 'Enter the free trial as a whole number of days, from 1 to 730.', 'trial_days');
    body.trial_days = Number(trial);
  }
  const p = await call('POST', '/v1/products', { body, idempotencyKey: newKey() });
  const form = $('#product-form');
  form.reset();
  status(form, `Created ${p.name}${p.trial_days ? ` with a ${p.trial_days}-day free trial` : ''}. Its checkout page: ${location.origin}/checkout/${p.id}`);
  await loadProducts();
  await billingSettings.load(orgId);
});

if (apiKey) open().catch((err) => { if (err.status === 401) { sessionStorage.removeItem(KEY); apiKey = null; } closed(err.message); });
else closed();
