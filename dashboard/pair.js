// Pairing a tablet, for an admin: a form that makes a token (POST /v1/pair) and shows its
// QR code, the link, and the certificate authority the tablet must trust. Self-contained:
// it adds its own panel, and only when the server says the viewer is an admin.
import { authHeaders } from './lib/api.js';

const headers = authHeaders();

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function trustNote(info) {
  if (!info.authority_fingerprint) return [];
  return [el('p', { className: 'note' }, 'First, on the tablet: open ', el('a', { href: info.authority_url, textContent: info.authority_url }),
    ', install the certificate, and check its SHA-256 fingerprint: ', fingerprint(info.authority_fingerprint))];
}

/** The fingerprint, free to wrap after any colon on a narrow screen. */
function fingerprint(text) {
  const code = el('code', { id: 'pair-fingerprint' });
  text.split(':').forEach((byte, i) => code.append(...(i ? [':', el('wbr')] : []), byte));
  return code;
}

function qrImage(svg, label) {
  return el('img', { src: `data:image/svg+xml;utf8,${encodeURIComponent(svg)}`, alt: `QR code: ${label}`, width: 264, height: 264, className: 'pair-qr' });
}

async function start() {
  const res = await fetch('/v1/pair', { headers });
  if (!res.ok) return; // not an admin (or no pairing on this server): no panel
  const info = await res.json();
  const name = el('input', { id: 'pair-name', required: true, pattern: '[A-Za-z0-9._@-]{1,64}', placeholder: 'tablet-1' });
  const role = el('select', { id: 'pair-role' }, ...info.roles.map((r) => el('option', { value: r, textContent: r, selected: r === 'observer' })));
  const expires = el('input', { id: 'pair-expires', value: info.default_expiry, size: 5 });
  const result = el('div', { id: 'pair-result' });
  const form = el('form', { id: 'pair-form' }, el('label', {}, 'name ', name), ' ', el('label', {}, 'role ', role), ' ', el('label', {}, 'for ', expires), ' ', el('button', { type: 'submit', textContent: 'Pair' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const reply = await fetch('/v1/pair', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: name.value, role: role.value, expires: expires.value }) });
    const body = await reply.json();
    if (!reply.ok) return result.replaceChildren(el('p', { className: 'bad', textContent: body.error }));
    result.replaceChildren(
      el('p', { textContent: `"${body.name}" (${body.role}) until ${body.expires}: scan to open the dashboard` }),
      qrImage(body.qr_svg, body.url),
      ...(body.cockpit_qr_svg ? [el('p', { textContent: 'or Cockpit, on this server\'s socket:' }), qrImage(body.cockpit_qr_svg, body.cockpit_url)] : []),
    );
  });
  const panel = el('section', { id: 'pair-panel' }, el('h2', { textContent: 'Pair a tablet' }), ...trustNote(info), form, result,
    el('p', { className: 'note', textContent: `tokens made here are ${info.persistent ? 'kept in the config file' : 'kept until mavgate stops'}; revoke with mavgate token remove NAME` }));
  document.querySelector('main').append(panel);
}

start();
