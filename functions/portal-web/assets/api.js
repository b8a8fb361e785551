// What every page shares: calling the /v1 API, showing its errors in words next to their
// cause, formatting money and dates, and building DOM nodes from text (no markup is
// ever made from data, so nothing a user typed can run as script).

/** An error answer of the API: `{error: {code, message, field?}}`, or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, field, paymentUrl, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
    // 402 payment_required: where the invoice of the change can be paid.
    this.paymentUrl = paymentUrl || null;
    // 402 seat_increase_required (auto-grow): how many seats are missing, and the seat change's
    // preview of that many more (its lines, amount due now, proration_date).
    this.seatsNeeded = extra.seats_needed || null;
    this.preview = extra.preview || null;
  }
}

/** One HTTP exchange that gives up after `ms` (a lost request must not leave a page waiting). */
async function exchange(path, init, ms) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await fetch(path, { ...init, signal: abort.signal });
  } finally {
    clearTimeout(timer);
  }
}

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Calls the API; resolves with the JSON body, rejects with an ApiError. A read (GET) that gets
 * no answer in time, a 503, or a 5xx not from the API is asked once more (reads change nothing);
 * a write is sent once —
 * the person decides whether to retry, and charges carry an Idempotency-Key.
 */
export async function api(method, path, { body, token, idempotencyKey } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
  const read = method === 'GET';
  let resp;
  for (let attempt = 1; ; attempt += 1) {
    const last = !read || attempt === 2;
    try {
      resp = await exchange(path, init, read ? 8000 : 30000);
    } catch (err) {
      if (!last) continue;
      throw new ApiError(0, 'network', err && err.name === 'AbortError'
        ? 'The server took too long to answer. Please try again.'
        : 'We could not reach the server. Check your connection and try again.');
    }
    if (resp.status === 503 && !last) {
      await pause(1000 * Math.min(2, Number(resp.headers.get('Retry-After')) || 1));
      continue;
    }
    // A 5xx that is not the API's JSON came from something in between (a gateway, a proxy):
    // a read is asked once more.
    if (resp.status >= 500 && !last && !(resp.headers.get('Content-Type') || '').startsWith('application/json')) {
      await pause(300);
      continue;
    }
    break;
  }
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (resp.ok) return data;
  const e = data && data.error;
  if (e && e.message) throw new ApiError(resp.status, e.code, e.message, e.field, e.payment_url, e);
  throw new ApiError(resp.status, 'unavailable', 'Something went wrong on our side. Please try again in a moment.');
}

/** A key for one intended change: retries of it are answered once (Idempotency-Key). */
/** Every item of a paged list (`next_cursor`), at most `maxPages` pages of 1,000. */
export async function allPages(fetchPage, path, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await fetchPage(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.data);
    if (!page.has_more || !page.next_cursor) return { items, complete: true };
    cursor = page.next_cursor;
  }
  return { items, complete: false };
}

export function newKey() {
  return crypto.randomUUID();
}

/** The signed-in customer's portal session (billing manager or seat holder), per tab. */
export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem('seats.session')); } catch { return null; }
  },
  set(s) { sessionStorage.setItem('seats.session', JSON.stringify(s)); },
  clear() { sessionStorage.removeItem('seats.session'); },
  token() { const s = this.get(); return s && s.token; },
};

/** Builds an element: el('p', {class: 'x'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function show(node, visible = true) {
  node.classList.toggle('hidden', !visible);
}

/** Digits after the point in a currency's minor unit (2 for eur, 0 for jpy), from Intl. */
function minorDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch { return 2; }
}

/** An amount in minor units as money ("€10.00"). Display only: the server does the arithmetic. */
export function money(amount, currency) {
  const digits = minorDigits(currency);
  const cur = (currency || 'usd').toUpperCase();
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: cur }).format(amount / 10 ** digits);
  } catch {
    return `${(amount / 10 ** digits).toFixed(digits)} ${cur}`;
  }
}

/** "12.50" in the currency's major unit → 1250 minor units, exactly (no floating point). */
export function toMinor(text, currency) {
  const digits = minorDigits(currency);
  const m = /^\s*(\d{1,9})(?:[.,](\d*))?\s*$/.exec(text || '');
  if (!m || (m[2] || '').length > digits) return null;
  const frac = (m[2] || '').padEnd(digits, '0');
  return Number(m[1]) * 10 ** digits + Number(frac || '0');
}

const dateFormat = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
const timeFormat = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short',
});
export function day(iso) { return iso ? dateFormat.format(new Date(iso)) : '—'; }
export function moment(iso) { return iso ? timeFormat.format(new Date(iso)) : '—'; }

export const per = { month: 'month', year: 'year' };
export const plan = { month: 'Monthly', year: 'Yearly' };

/** Clears a form's error messages and marks. */
export function clearErrors(form) {
  for (const n of form.querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
  for (const n of form.querySelectorAll('.field-error, .form-error')) n.textContent = '';
  const status = form.querySelector('.status');
  if (status) status.textContent = '';
}

/**
 * Shows an error in words where it belongs: next to the control its `field` names (matched by
 * the control's `data-field`, or its name), else at the top of the form. The form keeps its input.
 */
export function showError(form, err) {
  const raw = err instanceof ApiError ? err.message : 'Something went wrong. Please try again.';
  const message = raw.charAt(0).toUpperCase() + raw.slice(1);
  const field = err instanceof ApiError && err.field ? err.field.replace(/^\$\.?/, '').split(/[.[]/)[0] : null;
  const control = field
    && (form.querySelector(`[data-field="${CSS.escape(err.field)}"]`)
      || form.querySelector(`[data-field="${CSS.escape(field)}"]`)
      || form.querySelector(`[name="${CSS.escape(field)}"]`));
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    const slot = form.querySelector(`#${control.getAttribute('aria-describedby')?.split(' ').find((id) => id.endsWith('-error'))}`);
    if (slot) {
      slot.textContent = message;
      control.focus();
      return;
    }
  }
  const top = form.querySelector('.form-error');
  if (top) top.textContent = message;
  else alert(message);
}

/** Runs `work` for a submitted form: one at a time, errors shown in the form. */
export function onSubmit(form, work) {
  // Editing a field the API complained about takes its complaint away.
  form.addEventListener('input', (ev) => {
    const control = ev.target;
    if (!control.hasAttribute || !control.hasAttribute('aria-invalid')) return;
    control.removeAttribute('aria-invalid');
    const slotId = control.getAttribute('aria-describedby')?.split(' ').find((id) => id.endsWith('-error'));
    const slot = slotId && document.getElementById(slotId);
    if (slot) slot.textContent = '';
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = '1';
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    clearErrors(form);
    try {
      await work(ev.submitter);
    } catch (err) {
      showError(form, err);
    } finally {
      delete form.dataset.busy;
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

/** Sets a form's success line (announced to screen readers by role=status). */
export function status(form, text) {
  const s = form.querySelector('.status');
  if (s) s.textContent = text;
}

/** A page-level error (a failed load), shown in the page's alert region. */
export function pageError(err) {
  const box = $('#page-error');
  if (box) box.textContent = err instanceof ApiError ? err.message : 'Something went wrong. Please reload the page.';
}

export const seatStatus = {
  pending: 'Invited', claimed: 'Claimed', revoked: 'Revoked', expired: 'Expired', suspended: 'Suspended',
};

/** The session's customer, or a sign-in prompt in place of `main` when there is none. */
export function requireSession() {
  const s = session.get();
  if (s && s.token) return s;
  const main = $('main');
  main.replaceChildren(
    el('h1', {}, 'Please sign in'),
    el('p', {}, 'Your session has ended or you have not signed in yet. ', el('a', { href: '/portal' }, 'Sign in to the portal'), '.'),
  );
  return null;
}

/** When the API says the session is no longer valid: forget it and ask to sign in again. */
export function handleAuth(err) {
  if (err instanceof ApiError && err.status === 401) {
    session.clear();
    requireSession();
    return true;
  }
  return false;
}
