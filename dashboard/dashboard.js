// The operator's dashboard: stats polled from /v1/stats, telemetry from the mavlink2rest
// WebSocket (read-only, as an observer). Everything it needs is served by mavgate itself.
const token = new URLSearchParams(location.search).get('token');
const headers = token ? { authorization: `Bearer ${token}` } : {};
const TYPES = { 1: 'plane', 2: 'quadrotor', 3: 'coaxial', 4: 'helicopter', 10: 'rover', 11: 'boat', 12: 'submarine', 13: 'hexarotor', 14: 'octorotor', 15: 'tricopter', 19: 'VTOL', 20: 'VTOL', 21: 'VTOL', 22: 'VTOL' };
const AUTOPILOTS = { 3: 'ArduPilot', 12: 'PX4' };
const FIX = { GPS_FIX_TYPE_NO_GPS: 'no GPS', GPS_FIX_TYPE_NO_FIX: 'no fix', GPS_FIX_TYPE_2D_FIX: '2D', GPS_FIX_TYPE_3D_FIX: '3D', GPS_FIX_TYPE_DGPS: 'DGPS', GPS_FIX_TYPE_RTK_FLOAT: 'RTK float', GPS_FIX_TYPE_RTK_FIXED: 'RTK fixed' };
const TRACK_POINTS = 2000;

/** Per vehicle (sysid): the latest telemetry and its track. */
const live = new Map();
const vehicle = (sysid) => {
  if (!live.has(sysid)) live.set(sysid, { track: [], home: null });
  return live.get(sysid);
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

function row(cells, attrs = {}) {
  return el('tr', attrs, ...cells.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { textContent: String(c) }))));
}

function age(ms) {
  return ms < 1500 ? 'now' : `${Math.round(ms / 1000)} s ago`;
}

function connect() {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws/mavlink?filter=^(SYS_STATUS|GPS_RAW_INT|GLOBAL_POSITION_INT|VFR_HUD|HOME_POSITION)$`;
  const ws = new WebSocket(url, token ? ['mavgate', `mavgate.token.${token}`] : []);
  const badge = document.getElementById('connection');
  ws.onopen = () => { badge.textContent = 'live'; badge.className = 'badge ok'; };
  ws.onclose = () => {
    badge.textContent = 'disconnected, retrying'; badge.className = 'badge bad';
    setTimeout(connect, 2000);
  };
  ws.onmessage = (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch { return; }
    if (!data.message) return;
    const v = vehicle(data.header.system_id);
    const m = data.message;
    if (m.type === 'SYS_STATUS') v.battery = m.battery_remaining;
    else if (m.type === 'GPS_RAW_INT') { v.fix = FIX[m.fix_type?.type] ?? String(m.fix_type?.type ?? m.fix_type); v.satellites = m.satellites_visible; }
    else if (m.type === 'VFR_HUD') v.speed = m.groundspeed;
    else if (m.type === 'HOME_POSITION') v.home = { lat: m.latitude / 1e7, lon: m.longitude / 1e7 };
    else if (m.type === 'GLOBAL_POSITION_INT') {
      v.altitude = m.relative_alt / 1000;
      if (m.lat !== 0 || m.lon !== 0) {
        v.track.push({ lat: m.lat / 1e7, lon: m.lon / 1e7 });
        if (v.track.length > TRACK_POINTS) v.track.shift();
      }
    }
  };
}

/** In a fleet view, where each fleet system id really is: "site/sysid". */
let fleetNames = new Map();

function renderVehicles(states) {
  const box = document.getElementById('vehicles');
  if (states.length === 0) return box.replaceChildren(el('p', { class: 'empty', textContent: 'no vehicle heard yet' }));
  box.replaceChildren(...states.map((s) => {
    const v = vehicle(s.sysid);
    const field = (label, value, cls = '') => [el('span', { textContent: label }), el('span', { class: cls, textContent: value })];
    return el('div', { class: `vehicle${s.lost ? ' lost' : ''}`, 'data-vehicle': String(s.sysid) },
      el('span', { class: 'title', textContent: `${fleetNames.has(s.sysid) ? `${fleetNames.get(s.sysid)} · ` : ''}${s.sysid}/${s.compid} ${TYPES[s.type] ?? `type ${s.type}`} · ${AUTOPILOTS[s.autopilot] ?? `autopilot ${s.autopilot}`}` }),
      ...field('mode', s.mode, 'mode'),
      ...field('state', s.armed ? 'ARMED' : 'disarmed', s.armed ? 'armed state' : 'state'),
      ...field('battery', v.battery === undefined || v.battery < 0 ? '—' : `${v.battery}%`),
      ...field('GPS', v.fix === undefined ? '—' : `${v.fix}, ${v.satellites} satellites`),
      ...field('altitude', v.altitude === undefined ? '—' : `${v.altitude.toFixed(1)} m`),
      ...field('speed', v.speed === undefined ? '—' : `${v.speed.toFixed(1)} m/s`),
      ...field('heartbeat', s.lost ? `LOST ${age(s.heartbeat_age_ms)}` : age(s.heartbeat_age_ms), s.lost ? 'bad heartbeat' : 'heartbeat'));
  }));
}

function drawTracks() {
  const canvas = document.getElementById('track');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const points = [...live.values()].flatMap((v) => [...v.track, ...(v.home ? [v.home] : [])]);
  if (points.length === 0) return;
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const cos = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const span = Math.max((maxLat - minLat), (maxLon - minLon) * cos, 1e-5);
  const scale = (Math.min(canvas.width, canvas.height) - 40) / span;
  const x = (p) => 20 + (p.lon - minLon) * cos * scale;
  const y = (p) => canvas.height - 20 - (p.lat - minLat) * scale;
  const colours = ['#1565c0', '#6a1b9a', '#00838f', '#ef6c00'];
  [...live.entries()].forEach(([sysid, v], i) => {
    ctx.strokeStyle = colours[i % colours.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    v.track.forEach((p, j) => (j === 0 ? ctx.moveTo(x(p), y(p)) : ctx.lineTo(x(p), y(p))));
    ctx.stroke();
    const home = v.home ?? v.track[0];
    if (home) {
      ctx.fillStyle = '#2e7d32';
      ctx.fillRect(x(home) - 4, y(home) - 4, 8, 8);
      ctx.fillText(v.home ? 'home' : 'start', x(home) + 6, y(home) - 6);
    }
    const last = v.track.at(-1);
    if (last) {
      ctx.fillStyle = ctx.strokeStyle;
      ctx.beginPath();
      ctx.arc(x(last), y(last), 5, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillText(String(sysid), x(last) + 7, y(last) + 4);
    }
  });
}

let previous = null;
function render(stats) {
  const seconds = previous ? Math.max(0.001, (stats.at - previous.at) / 1000) : 1;
  const before = new Map((previous?.links ?? []).map((l) => [l.id, l]));
  fleetNames = new Map(stats.links.flatMap((l) => (l.fleet ?? []).map((v) => [v.fleetSysid, `${v.site}/${v.sysid}`])));
  renderVehicles(stats.vehicle_state);
  document.querySelector('#links tbody').replaceChildren(...stats.links.map((l) => {
    const b = before.get(l.id) ?? l;
    const s = l.signing;
    const signing = s ? `${s.signedAccepted} ok, ${s.unsignedDropped} unsigned, ${s.badSignature} bad, ${s.replayed} replayed, ${s.signedOut} signed out` : 'off';
    return row([l.endpoint, el('span', { class: l.state.status === 'up' ? 'ok' : 'bad', textContent: l.state.status }), Math.round((l.framesIn - b.framesIn) / seconds), Math.round((l.framesOut - b.framesOut) / seconds),
      el('span', { class: `loss ${l.lossRate > 0.05 ? 'bad' : l.lossRate > 0.01 ? 'warn' : 'ok'}`, textContent: `${(l.lossRate * 100).toFixed(1)}%` }), l.crcErrors, signing], { 'data-link': l.id });
  }));
  document.querySelector('#clients tbody').replaceChildren(...stats.clients.map((c) =>
    row([`${c.id} ${c.kind} ${c.name}`, c.role, c.address, c.received, c.dropped, c.refused], { 'data-client': c.id })));
  const control = document.getElementById('control');
  control.textContent = stats.control ? `control: ${stats.control.holder} (${stats.control.role})` : 'control: nobody';
  const r = stats.residency;
  document.getElementById('policy').replaceChildren(...[['site', r.site], ['jurisdiction', r.jurisdiction], ['policy', `${r.policy_source} · sha256 ${r.policy_sha256.slice(0, 16)}…`], ['audit log', r.auditing ? 'on' : 'off (no --policy)']]
    .flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
  document.querySelector('#sinks tbody').replaceChildren(
    ...stats.links.map((l) => {
      const sent = Object.values(l.sent ?? {});
      return row([l.endpoint, sent.reduce((n, c) => n + c.frames, 0), sent.reduce((n, c) => n + c.bytes, 0)]);
    }),
    ...(stats.recording ? stats.recording.files.map((f) => row([`recording ${f.path}`, f.frames, f.bytes])) : []),
  );
  const rec = stats.recording;
  document.getElementById('recording').textContent = !rec ? 'off'
    : `${rec.state === 'error' ? `ERROR: ${rec.error}` : 'recording'}${rec.encrypted ? ', encrypted' : ', not encrypted'}; ${rec.files.map((f) => `${f.path} (${(f.bytes / 1e6).toFixed(2)} MB)`).join(', ') || 'no file yet'}${rec.dropped ? `; ${rec.dropped} frames dropped` : ''}`;
  document.getElementById('refusals').replaceChildren(...[...r.refusals].reverse().map((x) =>
    el('li', { class: 'refusal', textContent: `${x.at.slice(11, 19)} ${x.event}: ${x.details.reason ?? x.details.kind ?? ''} ${x.details.entry ?? x.details.client ?? x.details.link ?? ''} ${x.details.destination ?? ''}`.trim() })));
  drawTracks();
  previous = stats;
}

async function poll() {
  try {
    const res = await fetch('/v1/stats', { headers });
    if (res.ok) render({ ...(await res.json()), at: Date.now() });
  } catch {
    // The server is restarting: the next poll tries again.
  }
  setTimeout(poll, 1000);
}

connect();
poll();
