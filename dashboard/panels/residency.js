// Residency: the site, jurisdiction and policy; where telemetry went; the recording; the
// latest refusals.
import { el, labelsOf, row } from '../lib/dom.js';

export function renderResidency(stats) {
  const r = stats.residency;
  document.getElementById('policy').replaceChildren(...[['site', r.site], ['jurisdiction', r.jurisdiction], ['policy', `${r.policy_source} · sha256 ${r.policy_sha256.slice(0, 16)}…`], ['audit log', r.auditing ? 'on' : 'off (no --policy)']]
    .flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
  const sinks = document.getElementById('sinks');
  const labels = labelsOf(sinks);
  sinks.querySelector('tbody').replaceChildren(
    ...stats.links.map((l) => {
      const sent = Object.values(l.sent ?? {});
      return row(labels, [l.endpoint, sent.reduce((n, c) => n + c.frames, 0), sent.reduce((n, c) => n + c.bytes, 0)]);
    }),
    ...(stats.recording ? stats.recording.files.map((f) => row(labels, [`recording ${f.path}`, f.frames, f.bytes])) : []),
  );
  const rec = stats.recording;
  document.getElementById('recording').textContent = !rec ? 'off'
    : `${rec.state === 'error' ? `ERROR: ${rec.error}` : 'recording'}${rec.encrypted ? ', encrypted' : ', not encrypted'}; ${rec.files.map((f) => `${f.path} (${(f.bytes / 1e6).toFixed(2)} MB)`).join(', ') || 'no file yet'}${rec.dropped ? `; ${rec.dropped} frames dropped` : ''}`;
  document.getElementById('refusals').replaceChildren(...[...r.refusals].reverse().map((x) =>
    el('li', { class: 'refusal', textContent: `${x.at.slice(11, 19)} ${x.event}: ${x.details.reason ?? x.details.kind ?? ''} ${x.details.entry ?? x.details.client ?? x.details.link ?? ''} ${x.details.destination ?? ''}`.trim() })));
}
