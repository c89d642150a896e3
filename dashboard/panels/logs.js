// After the flight: the vehicle's onboard logs (listed on request, downloaded by mavgate
// into its approved logs directory, with progress), the logs already downloaded, and
// every recording with a link to its post-flight report. Asking the vehicle needs a
// token whose role may download logs (admin by default); the lists need none. The
// page's session (its cookie) authenticates every request, the report's tab included.
import { authHeaders } from '../lib/api.js';
import { el } from '../lib/dom.js';

const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');

async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { ...authHeaders(), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const reply = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(reply.error ?? `${path}: ${res.status}`);
  return reply;
}

function say(text, bad = false) {
  const note = document.getElementById('logs-note');
  note.textContent = text;
  note.className = `note${bad ? ' bad' : ''}`;
}

/** Whose list the panel shows: its rows are marked as their downloads finish. */
let listed = null;

/** The vehicle's list, asked for when the operator wants it (it talks to the vehicle). */
async function listLogs(sysid) {
  say(`asking vehicle ${sysid} for its logs…`);
  try {
    const reply = await call('GET', `/v1/logs/vehicles/${sysid}`);
    const rows = reply.logs.map((l) => {
      const state = l.downloaded ? `downloaded: ${l.downloaded}` : l.partial_bytes > 0 ? `partly downloaded (${Math.round((100 * l.partial_bytes) / Math.max(1, l.size))}%)` : '';
      const button = el('button', { type: 'button', textContent: l.downloaded ? 'downloaded' : 'download', disabled: Boolean(l.downloaded) });
      button.onclick = () => void download(sysid, [l.id]);
      return el('tr', { 'data-log': String(l.id), 'data-time': String(l.timeUtc) }, el('td', { textContent: l.id }), el('td', { textContent: mb(l.size) }),
        el('td', { textContent: l.timeUtc > 0 ? when(new Date(l.timeUtc * 1000).toISOString()) : 'unknown' }), el('td', { textContent: state }), el('td', {}, button));
    });
    document.querySelector('#vehicle-logs tbody').replaceChildren(...rows);
    listed = sysid;
    document.getElementById('vehicle-logs').hidden = false;
    say(`vehicle ${sysid}: ${reply.logs.length} onboard log(s)${reply.complete ? '' : ' (the list is incomplete)'}`);
  } catch (err) {
    say(err.message, true);
  }
}

async function download(sysid, logs) {
  try {
    await call('POST', '/v1/logs/downloads', { sysid, logs });
    say(`downloading into mavgate's logs directory`);
    void refresh();
  } catch (err) {
    say(err.message, true);
  }
}

function renderVehicles(vehicles) {
  const box = document.getElementById('logs-vehicles');
  const ids = [...new Set(vehicles.filter((v) => !v.lost).map((v) => v.sysid))];
  if (box.dataset.ids === ids.join(',')) return;
  box.dataset.ids = ids.join(',');
  box.replaceChildren(...ids.map((sysid) => {
    const b = el('button', { type: 'button', textContent: `list vehicle ${sysid}'s logs`, 'data-vehicle': String(sysid) });
    b.onclick = () => void listLogs(sysid);
    return b;
  }));
}

function renderDownloads(downloads) {
  document.getElementById('log-downloads').hidden = downloads.length === 0;
  document.querySelector('#log-downloads tbody').replaceChildren(...downloads.slice().reverse().map((d) => {
    const eta = d.eta_s === null ? '' : `, ${Math.round(d.eta_s)} s left`;
    const rate = d.rate === null ? '' : `, ${(d.rate / 1e6).toFixed(2)} MB/s`;
    return el('tr', { 'data-job': d.job, class: d.state === 'failed' ? 'bad' : '' },
      el('td', { textContent: `vehicle ${d.sysid} log ${d.log_id}` }),
      el('td', {}, el('progress', { max: d.size || 1, value: d.bytes })),
      el('td', { class: 'state', textContent: `${d.state}: ${mb(d.bytes)} of ${mb(d.size)}${d.state === 'downloading' ? rate + eta : ''}${d.error ? ` (${d.error})` : ''}` }));
  }));
}

function renderFiles(files, directory) {
  document.getElementById('logs-directory').textContent = directory;
  for (const f of files.filter((x) => x.sysid === listed)) {
    const row = document.querySelector(`#vehicle-logs tr[data-log="${f.log_id}"][data-time="${f.time_utc}"]`);
    if (!row || row.cells[3].textContent === `downloaded: ${f.file}`) continue;
    row.cells[3].textContent = `downloaded: ${f.file}`;
    Object.assign(row.querySelector('button'), { textContent: 'downloaded', disabled: true });
  }
  document.querySelector('#log-files tbody').replaceChildren(...files.map((f) => el('tr', { 'data-file': f.file },
    el('td', { textContent: f.file }), el('td', { textContent: `${f.sysid} / log ${f.log_id}` }), el('td', { textContent: mb(f.size) }),
    el('td', { textContent: `${f.sha256.slice(0, 16)}…${f.encrypted ? ' (encrypted)' : ''}`, title: f.sha256 }), el('td', { textContent: when(f.downloaded_at) }))));
}

function renderRecordings(recordings) {
  document.querySelector('#recordings tbody').replaceChildren(...recordings.map((r) => el('tr', { 'data-recording': r.file },
    el('td', { textContent: r.file }), el('td', { textContent: mb(r.bytes) }), el('td', { textContent: when(r.started_at) }),
    el('td', {}, el('a', { href: r.report, target: '_blank', rel: 'noopener', textContent: 'report' })))));
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  let busy = false;
  try {
    const [logs, stats, recordings] = await Promise.all([
      call('GET', '/v1/logs').catch(() => null),
      call('GET', '/v1/stats').catch(() => null),
      call('GET', '/v1/recordings').catch((err) => ({ error: err.message })),
    ]);
    if (stats) renderVehicles(stats.vehicle_state);
    if (logs) {
      renderDownloads(logs.downloads);
      renderFiles(logs.files, logs.directory);
      busy = logs.downloads.some((d) => d.state === 'queued' || d.state === 'downloading');
    }
    if (recordings?.recordings) renderRecordings(recordings.recordings);
    document.getElementById('recordings-note').textContent = recordings?.error ?? '';
  } finally {
    // Every second while something downloads, every five otherwise.
    timer = setTimeout(refresh, busy ? 1000 : 5000);
  }
}

void refresh();
