// Each vehicle as an operator reads it during a flight: its state (live, LOST, FAILSAFE),
// mode and arming, position in numbers, heading, a small horizon, GPS, battery with its
// own warning, speed, and when it was last heard. Values are the last known ones kept by
// mavgate, so a reload shows them again; each says how old it is when it is not fresh.
import { age, clock, el, fixed, setText } from '../lib/dom.js';
import { drawHorizon } from './horizon.js';

const TYPES = { 1: 'plane', 2: 'quadrotor', 3: 'coaxial', 4: 'helicopter', 10: 'rover', 11: 'boat', 12: 'submarine', 13: 'hexarotor', 14: 'octorotor', 15: 'tricopter', 19: 'VTOL', 20: 'VTOL', 21: 'VTOL', 22: 'VTOL' };
const AUTOPILOTS = { 3: 'ArduPilot', 12: 'PX4' };
const FIX = ['no GPS', 'no fix', '2D fix', '3D fix', 'DGPS', 'RTK float', 'RTK fixed', 'static', 'PPP'];
/** A value older than this is shown with its age. */
const STALE_MS = 3000;

const FIELDS = [
  ['mode', 'mode'], ['state', 'state'], ['position', 'lat-lon'], ['altitude', 'alt'], ['heading', 'heading'],
  ['GPS', 'gps'], ['battery', 'battery'], ['speed', 'speed'], ['last heard', 'last-heard'],
];

function card(sysid) {
  const grid = el('dl', { class: 'readings' }, ...FIELDS.flatMap(([label, cls]) => [el('dt', { textContent: label }), el('dd', { class: cls })]));
  return el('div', { class: 'vehicle', 'data-vehicle': String(sysid) },
    el('div', { class: 'vehicle-head' }, el('span', { class: 'title' }), el('span', { class: 'status badge' })),
    el('div', { class: 'vehicle-body' }, el('canvas', { class: 'horizon', width: 120, height: 120, 'aria-label': 'attitude' }), grid));
}

const stale = (value, now) => (value && now - value.at > STALE_MS ? ` (${age(now - value.at)})` : '');

export function renderVehicles(vehicles, warningPercent, fleetNames, now = Date.now()) {
  const box = document.getElementById('vehicles');
  if (vehicles.length === 0) {
    if (!box.querySelector('.empty')) box.replaceChildren(el('p', { class: 'empty', textContent: 'no vehicle heard yet' }));
    return;
  }
  box.querySelector('.empty')?.remove();
  for (const v of vehicles) {
    let node = box.querySelector(`[data-vehicle="${v.sysid}"]`);
    if (!node) box.append(node = card(v.sysid));
    const q = (cls) => node.querySelector(`.${cls}`);
    node.classList.toggle('lost', v.lost);
    node.classList.toggle('failsafe', Boolean(v.failsafe));
    setText(q('title'), `${fleetNames.has(v.sysid) ? `${fleetNames.get(v.sysid)} · ` : ''}${v.sysid}/${v.compid} ${TYPES[v.type] ?? `type ${v.type}`} · ${AUTOPILOTS[v.autopilot] ?? `autopilot ${v.autopilot}`}`);
    const status = q('status');
    setText(status, v.lost ? 'LOST' : v.failsafe ? 'FAILSAFE' : 'live');
    status.className = `status badge ${v.lost || v.failsafe ? 'bad' : 'ok'}`;
    setText(q('mode'), v.mode);
    setText(q('state'), v.armed ? 'ARMED' : 'disarmed');
    q('state').className = v.armed ? 'state armed' : 'state';
    const p = v.position;
    setText(q('lat-lon'), p ? `${p.lat.toFixed(7)}, ${p.lon.toFixed(7)}${stale(p, now)}` : '—');
    setText(q('alt'), p ? `${fixed(p.alt_rel, 1, ' m')} above home · ${fixed(p.alt_msl, 1, ' m')} MSL` : '—');
    const heading = p?.heading ?? (v.attitude ? ((v.attitude.yaw * 180) / Math.PI + 360) % 360 : null);
    setText(q('heading'), heading === null ? '—' : `${heading.toFixed(0)}°`);
    const g = v.gps;
    setText(q('gps'), g ? `${FIX[g.fix_type] ?? `fix ${g.fix_type}`}, ${g.satellites ?? '?'} satellites${g.eph !== null ? `, HDOP ${g.eph.toFixed(1)}` : ''}${stale(g, now)}` : '—');
    q('gps').className = `gps${g && g.fix_type < 3 ? ' warn' : ''}`;
    const b = v.battery;
    const low = b && ((b.remaining !== null && b.remaining < warningPercent) || (b.charge_state !== null && b.charge_state >= 2));
    setText(q('battery'), b ? `${fixed(b.voltage, 2, ' V')} · ${fixed(b.current, 1, ' A')} · ${b.remaining === null ? '—' : `${b.remaining}%`}${low ? ' LOW' : ''}${stale(b, now)}` : '—');
    q('battery').className = `battery${low ? ' bad' : ''}`;
    setText(q('speed'), v.speed ? `${fixed(v.speed.ground, 1, ' m/s')} ground · ${fixed(v.speed.climb, 1, ' m/s')} climb` : '—');
    setText(q('last-heard'), `${clock(v.last_heard_at)} (${age(v.heartbeat_age_ms)})`);
    q('last-heard').className = `last-heard${v.lost ? ' bad' : ''}`;
    drawHorizon(q('horizon'), v.attitude);
  }
}

/** Live attitude between the once-a-second updates: only the horizon is redrawn. */
export function redrawHorizon(sysid, attitude) {
  const canvas = document.querySelector(`[data-vehicle="${sysid}"] .horizon`);
  if (canvas) drawHorizon(canvas, attitude);
}
