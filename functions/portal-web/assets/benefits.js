// A seat holder's benefits: license keys to copy (and their activations to manage), files to
// download. Grants are made moments
// after the claim (by the worker), so the page looks again while any is pending.
import { $, api, day, el, handleAuth, pageError, requireSession, show } from './api.js';

const me = requireSession();

async function copy(input, out) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    // Without clipboard permission, fall back to selecting the text and the copy command.
    input.select();
    if (!document.execCommand('copy')) { out.textContent = 'Select the key and copy it with your keyboard.'; return; }
  }
  out.textContent = 'Copied to the clipboard.';
}

async function download(grant, out, link) {
  out.textContent = '';
  try {
    const d = await api('GET', `/v1/portal/benefits/${encodeURIComponent(grant.id)}/download`, { token: me.token });
    link.href = d.url;
    show(link, true);
    out.textContent = 'Your download is starting. If it does not, use the link.';
    location.assign(d.url);
  } catch (err) {
    if (!handleAuth(err)) out.textContent = err.message;
  }
}

// The machines a license key is activated on (the merchant's software activates it); the
// holder removes one they no longer use, which frees it for another.
function activations(g, box) {
  const list = el('ul', { class: 'activations' });
  const out = el('p', { class: 'status activation-status', role: 'status' });
  const path = `/v1/portal/benefits/${encodeURIComponent(g.id)}/activations`;
  async function refresh() {
    try {
      const r = await api('GET', path, { token: me.token });
      const items = r.data.map((a) => el('li', { 'data-activation': a.id }, `${a.label}, since ${day(a.created_at)} `,
        el('button', { type: 'button', class: 'remove-activation', onclick: () => remove(a) }, `Remove ${a.label}`)));
      list.replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'Not activated anywhere yet.')]));
    } catch (err) {
      if (!handleAuth(err)) out.textContent = err.message;
    }
  }
  async function remove(a) {
    try {
      await api('DELETE', `${path}/${encodeURIComponent(a.id)}`, { token: me.token });
      out.textContent = `${a.label} removed.`;
      await refresh();
    } catch (err) {
      if (!handleAuth(err)) out.textContent = err.message;
    }
  }
  box.append(el('h3', {}, 'Activations'), list, out);
  refresh();
}

function card(g) {
  const box = el('section', { class: 'card grant', 'data-grant': g.id, 'data-type': g.benefit.type });
  const title = el('h2', {}, g.benefit.name, ' ', el('span', { class: `badge ${g.status}` }, g.status));
  box.append(title);
  if (g.status === 'pending') { box.append(el('p', { class: 'muted' }, 'Being prepared…')); return box; }
  if (g.status === 'revoked') { box.append(el('p', { class: 'muted' }, `Access ended ${day(g.revoked_at)}.`)); return box; }
  const out = el('p', { class: 'status', role: 'status' });
  if (g.benefit.type === 'license_key') {
    const id = `key-${g.id}`;
    const input = el('input', { id, class: 'key license-key', readonly: true, value: g.license_key || '' });
    box.append(el('label', { for: id }, 'License key'), input,
      el('div', { class: 'actions' }, el('button', { type: 'button', class: 'copy', onclick: () => copy(input, out) }, 'Copy license key')), out);
    activations(g, box);
  } else {
    const link = el('a', { class: 'download-link hidden', href: '#', rel: 'noopener' }, `Download ${g.benefit.name}`);
    box.append(el('p', { class: 'muted' }, 'A file for you to download. The link works for a few minutes.'),
      el('div', { class: 'actions' }, el('button', { type: 'button', class: 'download', onclick: () => download(g, out, link) }, 'Download file'), link), out);
  }
  return box;
}

const justClaimed = new URLSearchParams(location.search).has('claimed');
let shown = '';
let unchanged = 0;

// Right after a claim the worker grants the product's benefits one by one within moments:
// look again until none is pending and the list has stayed the same for two looks.
async function load(attempt = 0) {
  let list;
  try {
    list = await api('GET', '/v1/portal/benefits', { token: me.token });
  } catch (err) {
    if (!handleAuth(err)) pageError(err);
    return;
  }
  const now = JSON.stringify(list.data);
  // Re-render only on change, so a reader (or a click) never loses the element under it.
  if (now !== shown) {
    $('#grants').replaceChildren(...list.data.map(card));
    shown = now;
    unchanged = 0;
  } else {
    unchanged += 1;
  }
  const pending = list.data.some((g) => g.status === 'pending');
  const settling = justClaimed && (list.data.length === 0 || unchanged < 2);
  const again = (pending || settling) && attempt < 30;
  show($('#preparing'), again);
  show($('#none'), !again && list.data.length === 0);
  if (again) setTimeout(() => load(attempt + 1), 1000);
}

if (me) {
  $('#who').textContent = me.customer ? me.customer.email : '';
  show($('#welcome'), justClaimed);
  load();
}
