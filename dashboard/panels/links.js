// The links (rates, loss, CRC errors, signing, why one is down or waiting, why its frames
// fail) and the clients (who is connected, who holds control), from /v1/stats.
import { el, labelsOf, row } from '../lib/dom.js';

let previous = null;

export function renderLinks(stats, diagnoses) {
  const seconds = previous ? Math.max(0.001, (stats.at - previous.at) / 1000) : 1;
  const before = new Map((previous?.links ?? []).map((l) => [l.id, l]));
  const table = document.getElementById('links');
  const labels = labelsOf(table);
  table.querySelector('tbody').replaceChildren(...stats.links.map((l) => {
    const b = before.get(l.id) ?? l;
    const s = l.signing;
    const signing = s ? `${s.signedAccepted} ok, ${s.unsignedDropped} unsigned, ${s.badSignature} bad, ${s.replayed} replayed, ${s.staleStream} stale, ${s.signedOut} signed out` : 'off';
    const diagnosis = diagnoses.get(l.id);
    const state = el('span', { class: `link-state ${l.state.status === 'up' ? 'ok' : 'bad'}`, textContent: `${l.state.status}${l.state.reason ? `: ${l.state.reason}` : ''}` });
    return row(labels, [
      l.endpoint, state, Math.round((l.framesIn - b.framesIn) / seconds), Math.round((l.framesOut - b.framesOut) / seconds),
      el('span', { class: `loss ${l.lossRate > 0.05 ? 'bad' : l.lossRate > 0.01 ? 'warn' : 'ok'}`, textContent: `${(l.lossRate * 100).toFixed(1)}%` }),
      l.crcErrors, signing,
      el('span', { class: diagnosis ? 'diagnosis warn' : 'diagnosis', textContent: diagnosis ? diagnosis.message : '—' }),
    ], { 'data-link': l.id });
  }));
  const clients = document.getElementById('clients');
  const clientLabels = labelsOf(clients);
  clients.querySelector('tbody').replaceChildren(...stats.clients.map((c) =>
    row(clientLabels, [`${c.id} ${c.kind} ${c.name}`, c.role, c.address, c.received, c.dropped, c.refused], { 'data-client': c.id })));
  document.getElementById('control').textContent = stats.control ? `control: ${stats.control.holder} (${stats.control.role})` : 'control: nobody';
  previous = stats;
}
