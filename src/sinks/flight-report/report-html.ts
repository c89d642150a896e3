/**
 * The post-flight report as one HTML file that needs nothing else: uPlot (its script and
 * style) inlined, the data as JSON in the page, the track as SVG, and a
 * Content-Security-Policy that forbids every request, so it opens the same from a USB
 * stick on an offline laptop and nothing it shows can leak. A print stylesheet lays it
 * out on paper.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Analysis } from './flight-analysis.js';
import { SEVERITY_NAMES } from './timeline.js';
import { trackSvg } from './track.js';

export interface RecordingFacts {
  file: string;
  bytes: number;
  sha256: string;
  encrypted: boolean;
  /** From the recording's sidecar, when it has one. */
  sidecar: { site?: string; jurisdiction?: string; policy_sha256?: string; gateway_version?: string; sha256?: string; simulated?: boolean } | null;
  generatedAt: string;
  generator: string;
}

const SIMULATED_BANNER = 'SIMULATED: this recording is of mavgate\'s built-in simulated vehicle (its sidecar says so), not a real flight. Nothing here happened to an aircraft.';

/** What the page forbids: any request at all. Only its own inline script and style run. */
export const REPORT_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

let uplot: { js: string; css: string } | null = null;
function uplotAssets(): { js: string; css: string } {
  if (!uplot) {
    const require = createRequire(import.meta.url);
    uplot = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    };
  }
  return uplot;
}

function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function utc(t: number): string {
  return new Date(t * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function duration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return `${h > 0 ? `${h}:${String(m).padStart(2, '0')}` : m}:${String(sec).padStart(2, '0')}`;
}

function num(v: number | null, digits: number, unit: string): string {
  return v === null ? '—' : `${v.toFixed(digits)} ${unit}`;
}

function place(p: { lat: number; lon: number } | null): string {
  return p ? `${p.lat.toFixed(6)}, ${p.lon.toFixed(6)}` : '—';
}

/** A row of the summary; `figure` names it for tools (and tests), `value` is the exact number. */
function row(label: string, shown: string, figure?: string, value?: number | null): string {
  const data = figure ? ` data-figure="${figure}"${value === null || value === undefined ? '' : ` data-value="${value}"`}` : '';
  return `<tr${data}><th>${esc(label)}</th><td>${esc(shown)}</td></tr>`;
}

function integrity(facts: RecordingFacts): { text: string; ok: boolean | null } {
  if (!facts.sidecar) return { text: 'no sidecar beside the recording: nothing to check against', ok: null };
  if (!facts.sidecar.sha256) return { text: 'the sidecar has no SHA-256 (the recording was not closed cleanly)', ok: null };
  return facts.sidecar.sha256 === facts.sha256
    ? { text: 'matches its sidecar', ok: true }
    : { text: `DOES NOT MATCH its sidecar (${facts.sidecar.sha256}): the file changed after it was closed`, ok: false };
}

const PAGE_SCRIPT = `(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const palette = ['#1565c0', '#c62828', '#2e7d32', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037', '#9e9d24', '#ad1457', '#455a64'];
  const plots = [];
  let syncing = false;
  const zoomed = (u, key) => {
    if (key !== 'x' || syncing) return;
    syncing = true;
    for (const p of plots) if (p !== u) p.setScale('x', { min: u.scales.x.min, max: u.scales.x.max });
    syncing = false;
  };
  for (const chart of data.charts) {
    const el = document.getElementById('plot-' + chart.id);
    const right = chart.series.some((s) => s.axis === 'right');
    const plot = new uPlot({
      width: el.clientWidth || 900,
      height: 220,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      cursor: { sync: { key: 'flight' }, drag: { x: true, y: false } },
      scales: { x: { time: true } },
      axes: [{ values: (u, splits) => splits.map((s) => new Date(s * 1000).toISOString().slice(11, 19)) }, { scale: 'left', label: chart.left }].concat(right ? [{ scale: 'right', side: 1, label: chart.right, grid: { show: false } }] : []),
      series: [{ label: 'time (UTC)' }].concat(chart.series.map((s, i) => ({ label: s.label, scale: s.axis, stroke: palette[i % palette.length], width: 1.5, spanGaps: true, points: { show: false } }))),
      hooks: { setScale: [zoomed] },
    }, uPlot.join(chart.series.map((s) => [s.t, s.v])), el);
    plots.push(plot);
    el.dataset.points = String(chart.series.reduce((n, s) => n + s.t.length, 0));
  }
  addEventListener('resize', () => { for (const p of plots) p.setSize({ width: p.root.parentElement.clientWidth, height: 220 }); });
  document.body.dataset.plots = String(plots.length);
})();`;

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px 24px; color: #1b1b1b; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; }
.meta { color: #555; margin: 0 0 16px; }
.summary { display: grid; grid-template-columns: 1fr 1fr; gap: 0 32px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px 3px 0; vertical-align: top; border-bottom: 1px solid #eee; }
th { font-weight: 600; white-space: nowrap; }
.bad { color: #b71c1c; font-weight: 700; } .good { color: #1b5e20; }
.simulated { background: #b71c1c; color: #fff; font-weight: 700; padding: .6em 1em; border-radius: 4px; }
.plot { margin: 6px 0 18px; } .plot h3 { font-size: 14px; margin: 0 0 2px; }
#track svg { width: 100%; height: auto; border: 1px solid #ccc; }
#track .ground { fill: #fafaf7; } #track text { font-size: 12px; fill: #222; }
#track .north path { fill: #222; } #track .scale path { fill: none; stroke: #222; stroke-width: 2; }
#track .home rect { fill: #fff; stroke: #222; stroke-width: 2; } #track .takeoff path { fill: #2e7d32; } #track .landing path { fill: #c62828; }
#colour-speed:checked ~ svg .by-altitude, #colour-altitude:checked ~ svg .by-speed { display: none; }
label.controls { margin: 0 14px 0 2px; }
#timeline td.t { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.sev-0 td, tr.sev-1 td, tr.sev-2 td, tr.sev-3 td { color: #b71c1c; } tr.sev-4 td { color: #9a5b00; }
#show-status:not(:checked) ~ table tr.status, #show-command:not(:checked) ~ table tr.command, #show-mode:not(:checked) ~ table tr.mode { display: none; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .controls, .u-legend .u-marker { display: none; }
  .plot, #track, .summary { break-inside: avoid; }
  h2 { break-after: avoid; }
  #timeline tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}`;

export function reportHtml(analysis: Analysis, facts: RecordingFacts): string {
  const { css, js } = uplotAssets();
  const v = analysis.vehicle;
  const t = analysis.totals;
  const b = analysis.battery;
  const check = integrity(facts);
  // The sidecar's label, not the file name's: a renamed recording of the simulator is still one.
  const simulated = facts.sidecar?.simulated === true;
  const over = t.over === 'flights' ? 'over the flights (armed periods)' : 'over the whole recording (the vehicle never armed)';
  const summary = [
    row('vehicle', v ? `system ${v.sysid}/${v.compid}, ${v.type.toLowerCase().replace(/_/g, ' ')}` : 'no vehicle heartbeat in the recording'),
    row('autopilot', v ? v.autopilot : '—'),
    row('firmware', v?.firmware ?? 'not in the recording'),
    row('recorded', analysis.span ? `${utc(analysis.span.start)} to ${utc(analysis.span.end)} (${duration(analysis.span.end - analysis.span.start)})` : 'no frames'),
    row('flights', `${analysis.flights.length}`, 'flights', analysis.flights.length),
    row('flight time', `${duration(t.flightTimeS)} (armed to disarmed)`, 'flight-time-s', t.flightTimeS),
    row('distance', `${num(t.distanceM / 1000, 2, 'km')}`, 'distance-m', t.distanceM),
    row('max altitude above home', num(t.maxAltM, 1, 'm'), 'max-altitude-m', t.maxAltM),
    row('max ground speed', num(t.maxSpeed, 1, 'm/s'), 'max-speed', t.maxSpeed),
    row('battery', b.startPct !== null && b.endPct !== null ? `${b.startPct}% → ${b.endPct}% (${b.startPct - b.endPct} % used)${b.usedMah !== null ? `, ${b.usedMah} mAh` : ''}${b.minVoltage !== null ? `, lowest ${b.minVoltage.toFixed(2)} V` : ''}` : b.usedMah !== null ? `${b.usedMah} mAh used` : 'not reported', 'battery-used-pct', b.startPct !== null && b.endPct !== null ? b.startPct - b.endPct : null),
    row('home', analysis.home ? `${place(analysis.home)}${analysis.home.altM !== null ? `, ${analysis.home.altM.toFixed(1)} m` : ''} (${analysis.home.source})` : '—'),
  ].join('');
  const where = [
    row('file', facts.file),
    row('size', `${facts.bytes} bytes${facts.encrypted ? ', encrypted at rest' : ''}`),
    row('SHA-256', facts.sha256),
    `<tr data-figure="integrity" data-value="${check.ok === null ? 'unknown' : check.ok}"><th>integrity</th><td class="${check.ok === false ? 'bad' : check.ok ? 'good' : ''}">${esc(check.text)}</td></tr>`,
    row('site', facts.sidecar?.site ?? '—'),
    row('jurisdiction', facts.sidecar?.jurisdiction ?? '—'),
    row('policy SHA-256', facts.sidecar?.policy_sha256 ?? '—'),
    row('recorded by', facts.sidecar?.gateway_version ? `mavgate ${facts.sidecar.gateway_version}` : '—'),
    `<tr data-figure="simulated" data-value="${simulated}"><th>source</th><td${simulated ? ' class="bad"' : ''}>${simulated ? 'SIMULATED: mavgate\'s built-in simulated vehicle' : (facts.sidecar ? 'not labelled simulated by its sidecar' : 'unknown: no sidecar')}</td></tr>`,
  ].join('');
  const flights = analysis.flights.length === 0 ? '<p>The vehicle was not armed in this recording.</p>' : `<table><thead><tr><th>#</th><th>armed</th><th>disarmed</th><th>time</th><th>distance</th><th>max altitude</th><th>max speed</th><th>take-off</th><th>landing</th></tr></thead><tbody>${analysis.flights.map((f, i) => `<tr data-flight="${i + 1}"><td>${i + 1}</td><td>${utc(f.start)}</td><td>${f.armedAtEnd ? 'still armed at the end' : utc(f.end)}</td><td>${duration(f.durationS)}</td><td>${(f.distanceM / 1000).toFixed(2)} km</td><td>${num(f.maxAltM, 1, 'm')}</td><td>${num(f.maxSpeed, 1, 'm/s')}</td><td>${place(f.takeoff)}</td><td>${place(f.landing)}</td></tr>`).join('')}</tbody></table>`;
  const plots = analysis.charts.map((c) => `<div class="plot" id="plot-${c.id}"><h3>${esc(c.title)}</h3></div>`).join('');
  const svg = trackSvg(analysis.track.points, { home: analysis.home, takeoffs: analysis.flights.flatMap((f) => (f.takeoff ? [f.takeoff] : [])), landings: analysis.flights.flatMap((f) => (f.landing ? [f.landing] : [])) });
  const start = analysis.span?.start ?? 0;
  const tl = analysis.timeline;
  const omitted = Object.entries(tl.omitted).map(([k, n]) => `${n} ${k}`).join(', ');
  const events = tl.events.map((e) => `<tr class="${e.kind} sev-${e.severity}"><td class="t">${utc(e.t).slice(11, 19)} <small>+${duration(e.t - start)}</small></td><td>${e.kind}</td><td>${SEVERITY_NAMES[e.severity] ?? e.severity}</td><td>${esc(e.text)}${e.repeated ? ` <small>(×${e.repeated})</small>` : ''}</td><td>${esc(e.who ?? '')}</td><td>${esc(e.result ?? '')}</td></tr>`).join('');
  // Inside a <script> element only "</" could end it early: escape it in the JSON.
  const data = JSON.stringify({ charts: analysis.charts }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${simulated ? 'SIMULATED ' : ''}Flight report: ${esc(facts.file)}</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>Flight report${simulated ? ' (SIMULATED)' : ''}</h1>
${simulated ? `<p class="simulated" id="simulated">${esc(SIMULATED_BANNER)}</p>\n` : ''}<p class="meta">${esc(facts.file)} · made ${esc(facts.generatedAt)} by ${esc(facts.generator)} · figures ${over}</p>
<section class="summary"><table id="summary">${summary}</table><table id="provenance">${where}</table></section>
<h2>Flights</h2>
<section id="flights">${flights}</section>
<h2>Time series</h2>
<p class="controls">Drag across a plot to zoom (every plot follows); double-click to zoom out.</p>
<section id="plots">${plots || '<p>No telemetry to plot.</p>'}</section>
<h2>Track</h2>
<section id="track">${svg ? `<input class="controls" type="radio" name="colour" id="colour-altitude" checked><label class="controls" for="colour-altitude">coloured by altitude</label><input class="controls" type="radio" name="colour" id="colour-speed"><label class="controls" for="colour-speed">by speed</label>${svg}` : '<p>No position in the recording.</p>'}</section>
<h2>Timeline</h2>
<section id="timeline">${['status:status texts', 'command:ground-station commands', 'mode:mode changes'].map((c) => `<input class="controls" type="checkbox" id="show-${c.split(':')[0]}" checked><label class="controls" for="show-${c.split(':')[0]}">${c.split(':')[1]}</label>`).join('')}
<table><thead><tr><th>time (UTC)</th><th>what</th><th>severity</th><th>event</th><th>who</th><th>result</th></tr></thead><tbody>${events}</tbody></table>${omitted ? `<p>Not listed (too many): ${esc(omitted)}.</p>` : ''}</section>
<script type="application/json" id="report-data">${data}</script>
<script>${js}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
