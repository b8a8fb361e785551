// "Invite a list": up to MAX_BATCH emails, pasted or read from a CSV; the server checks them
// (preview, nothing written) and the confirm button sends exactly the rows it checked.
// subscription.js wires it in; a list that does not fit can buy the seats it lacks (auto-grow).
import { $, ApiError, clearErrors, el, handleAuth, newKey, onSubmit, show, showError, status } from './api.js';

const MAX_BATCH = 500;

/** The rows of a CSV text (quoted fields with "" and line breaks inside; `,`, `;` or tab). */
function csvRows(text) {
  const src = text.replace(/^\uFEFF/, '');
  const firstLine = src.split(/\r?\n/, 1)[0] || '';
  const outside = firstLine.replace(/"[^"]*"/g, '');
  const count = (c) => outside.split(c).length - 1;
  const delim = [',', ';', '\t'].reduce((best, c) => (count(c) > count(best) ? c : best), ',');
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < src.length; i += 1) {
    const c = src[i];
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === delim) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i += 1;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows.map((r) => r.map((f) => f.trim())).filter((r) => r.some((f) => f !== ''));
}

/** A CSV's emails: its `email` column when the first row names one, else every row's first column. */
function csvEmails(text) {
  const rows = csvRows(text);
  if (!rows.length) return [];
  const col = rows[0].findIndex((h) => h.toLowerCase() === 'email');
  const body = col >= 0 ? rows.slice(1) : rows;
  const at = col >= 0 ? col : 0;
  return body.map((r) => r[at] || '').filter(Boolean);
}

/** The server's refused rows, each with its row number (from 1), email and reason. */
function refusedList(answer) {
  const refused = (answer.rows || []).filter((r) => r.status === 'refused');
  if (!refused.length) return null;
  return el('ul', { class: 'refused-rows' }, refused.map((r) => el('li', { 'data-row': r.index },
    `Row ${r.index + 1}, ${r.email || '(no email)'}: ${refusal(r.error)}`)));
}

/** Why a row was refused, in the page's own row numbers (the API's `index` starts at 0). */
function refusal(error) {
  if (!error) return 'refused';
  if (error.code === 'duplicate_row') return 'the same email as an earlier row';
  return error.message;
}

function tooMany(n) {
  return new ApiError(400, 'invalid_request', `This list has ${n} emails; at most ${MAX_BATCH} can be invited at once. Split it into smaller lists.`, 'seats');
}

/**
 * Wires the "Invite a list" section: `call` (the page's API call with the session), `base` (the
 * subscription's path), `refresh` (reloads the page), `product` (the product as last read, or null),
 * and the page's auto-grow helpers `growthOffered`, `offerGrowth`, `seatsText` and `peopleText`.
 */
export function initBatch({ call, base, refresh, product: currentProduct, growthOffered, offerGrowth, seatsText, peopleText }) {
  const batchForm = $('#batch-form');
  const batchBox = $('#batch-result');
  const batchText = $('#batch-emails');

  /** The emails of the textarea: one per line, or separated by commas, semicolons or spaces. */
  function batchEmails() {
    return batchText.value.split(/[\s,;]+/).filter(Boolean);
  }

  /** A preview no longer matches the list once it is edited: its confirm button goes. */
  function batchStale() {
    const confirm = batchBox.querySelector('form');
    if (!confirm || confirm.dataset.busy) return;
    confirm.remove();
    batchBox.append(el('p', { class: 'muted batch-stale' }, 'The list changed since it was checked: check it again before inviting.'));
  }

  batchText.addEventListener('input', batchStale);

  $('#batch-file').addEventListener('change', async () => {
    const input = $('#batch-file');
    const file = input.files && input.files[0];
    clearErrors(batchForm);
    if (!file) return;
    let text;
    try {
      if (file.size > 5 * 1024 * 1024) throw new Error('too large');
      text = await file.text();
    } catch {
      $('#batch-file-error').textContent = `${file.name} could not be read: choose a CSV or text file of at most 5 MB.`;
      input.value = '';
      return;
    }
    const emails = csvEmails(text);
    input.value = '';
    if (!emails.length) {
      $('#batch-file-error').textContent = `${file.name} holds no emails.`;
      return;
    }
    batchText.value = emails.join('\n');
    batchStale();
    if (emails.length > MAX_BATCH) showError(batchForm, tooMany(emails.length));
    else status(batchForm, `Loaded ${emails.length} ${emails.length === 1 ? 'email' : 'emails'} from ${file.name}. Check the list to see who will be invited.`);
  });

  function renderBatch(answer, preview, rows) {
    const n = preview ? answer.will_be_created : answer.created;
    const m = answer.refused;
    const headline = preview ? `${n} will be invited, ${m} are refused` : `${n} invited, ${m} refused`;
    const refused = refusedList(answer);
    batchBox.replaceChildren(el('p', { class: 'batch-headline' }, headline), ...(refused ? [refused] : []));
    show(batchBox, true);
    if (!preview || !n) return;
    batchConfirm(rows, `Invite ${peopleText(n)}`);
  }

  /** While a list is sent it is what was checked: no edits, no new check. */
  function lockBatch(locked) {
    batchText.readOnly = locked;
    $('#batch-preview').disabled = locked;
    $('#batch-file').disabled = locked;
  }

  /** Sends the list (`extra`: the auto-grow confirm) under `key`. */
  async function sendBatch(rows, key, extra = {}) {
    lockBatch(true);
    try {
      return await call('POST', `${base}/seats/batch`, { body: { seats: rows, ...extra }, idempotencyKey: key });
    } finally {
      lockBatch(false);
    }
  }

  async function batchSent(answer, rows) {
    batchText.value = '';
    renderBatch(answer, false, rows);
    await refresh();
  }

  /** The button that sends the checked list, `hint` above it. */
  function batchConfirm(rows, label, hint) {
    // One key per checked list: a retry of the confirm (a lost answer) is answered once.
    const key = newKey();
    const form = el('form', { novalidate: true },
      hint ? el('p', { class: 'hint' }, hint) : null,
      el('p', { class: 'form-error', role: 'alert' }),
      el('p', { class: 'status', role: 'status' }),
      el('div', { class: 'actions' },
        el('button', { type: 'submit', class: 'confirm', id: 'batch-confirm' }, label)));
    batchBox.append(form);
    onSubmit(form, async () => {
      let answer;
      try {
        answer = await sendBatch(rows, key);
      } catch (err) {
        if (handleAuth(err)) return;
        if (!growthOffered(err)) throw err;
        offerBatchGrowth(rows, err);
        return;
      }
      await batchSent(answer, rows);
    });
  }

  /** The list does not fit and the product grows when full: the price of the seats it lacks. */
  function offerBatchGrowth(rows, err) {
    const n = err.seatsNeeded || 1;
    const free = Math.max(0, err.preview.subscription.seats_available || 0);
    const people = peopleText(free + n);
    offerGrowth(batchBox, err, {
      question: free
        ? `Only ${free} ${free === 1 ? 'seat is' : 'seats are'} free. Buy ${seatsText(n)} to invite ${people}?`
        : `Every seat is taken. Buy ${seatsText(n)} to invite ${people}?`,
      label: `Buy ${n} ${n === 1 ? 'seat' : 'seats'} and invite ${people}`,
      confirmId: 'batch-grow-confirm',
      resend: (confirm, key) => sendBatch(rows, key, confirm),
      done: (answer) => batchSent(answer, rows),
      paymentNote: 'Nothing is assigned until it is paid. Once it is, the seats are added: send the list again then.',
    });
  }

  onSubmit(batchForm, async () => {
    batchBox.replaceChildren();
    show(batchBox, false);
    const emails = batchEmails();
    if (!emails.length) throw new ApiError(400, 'invalid_request', 'Paste at least one email, or load a CSV file.', 'seats');
    if (emails.length > MAX_BATCH) throw tooMany(emails.length);
    const rows = emails.map((email) => ({ email }));
    let answer;
    try {
      answer = await call('POST', `${base}/seats/batch/preview`, { body: { seats: rows } });
    } catch (err) {
      if (handleAuth(err)) return;
      if (!(err instanceof ApiError) || err.code !== 'no_seats_available') throw err;
      // The list does not fit the free seats: nothing would be assigned.
      const message = err.message.charAt(0).toUpperCase() + err.message.slice(1);
      batchBox.replaceChildren(el('p', { class: 'form-error', role: 'alert' }, message));
      show(batchBox, true);
      // A product that grows when full: sending the list answers the price of the seats missing
      // first (the check prices nothing), and nothing is charged before that is confirmed.
      const product = currentProduct();
      if (product && product.when_full === 'grow') {
        batchConfirm(rows, 'Invite this list', 'More seats can be bought for this list: sending it shows their price first, and nothing is charged until you confirm it.');
      }
      return;
    }
    renderBatch(answer, true, rows);
  });
}
