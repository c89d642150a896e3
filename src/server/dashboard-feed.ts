/**
 * `GET /v1/dashboard`: everything the operator's page shows, from what the gateway keeps
 * (so a page that reloads or opens late shows the last known state, the track and the
 * timeline): each vehicle's last known position, attitude, GPS, battery and speed with the
 * time each was heard, its track, the timeline, each link's quality over the last
 * minutes, and the alarms. Everything about a vehicle passes the reader's residency
 * filter (a role that may not see positions gets no position and no track). `since` (ms)
 * and `after` (a timeline sequence number) ask only for what is new.
 */
import type { LinkMonitor } from '../router/link-monitor.js';
import type { Fields } from '../mavlink/index.js';
import type { FlightHistory } from '../router/flight-history.js';
import type { ComponentState, VehicleStateStore } from '../router/vehicle-state.js';
import { type Alarm, alarmsOf, type AlarmVehicle } from './alarms.js';
import type { RoleView } from './role-view.js';

export interface DashboardSettings {
  /** A battery below this (percent remaining) is an alarm. */
  batteryWarningPercent: number;
  /** An MBTiles file of map tiles for the track's background (in an approved directory), or null. */
  mapFile: string | null;
}

export const DEFAULT_DASHBOARD: DashboardSettings = { batteryWarningPercent: 30, mapFile: null };

export interface DashboardParts {
  readonly state: VehicleStateStore;
  readonly history: FlightHistory;
  readonly monitor: LinkMonitor;
  links(): { id: string; endpoint: string; state: { status: string; reason?: string } }[];
  readonly settings: DashboardSettings;
  /** The background map's description, or null. */
  map(): object | null;
}

const UINT16_MAX = 65535;
const MAV_STATE_WORDS: Record<number, string> = { 5: 'system status CRITICAL', 6: 'system status EMERGENCY' };

/** The newest message of `name` as the reader may see it, with when it was heard. */
function heard(c: ComponentState, name: string, view: RoleView): { f: Fields; at: number } | null {
  const entry = c.message(name);
  const f = entry ? view(entry) : null;
  return entry && f ? { f, at: entry.lastAt } : null;
}

const num = (v: unknown) => v as number;

function vehicleOf(c: ComponentState, view: RoleView, history: FlightHistory, since: number, now: number) {
  const hb = c.heartbeat!;
  const pos = heard(c, 'GLOBAL_POSITION_INT', view);
  const att = heard(c, 'ATTITUDE', view);
  const gps = heard(c, 'GPS_RAW_INT', view);
  const sys = heard(c, 'SYS_STATUS', view);
  const bat = heard(c, 'BATTERY_STATUS', view);
  const hud = heard(c, 'VFR_HUD', view);
  const home = heard(c, 'HOME_POSITION', view);
  // The track only for a reader who may see positions, each point as the reader may see it.
  const track = pos ? history.track(c.sysid, since) : { points: [], whole: true };
  const points = track.points.flatMap((p) => {
    const f = view(p.frame);
    return f ? [[p.at, num(f.lat) / 1e7, num(f.lon) / 1e7, num(f.relative_alt) / 1000]] : [];
  });
  return {
    sysid: c.sysid, compid: c.compid, type: hb.type, autopilot: hb.autopilot, mode: hb.mode, armed: hb.armed,
    lost: c.lost, heartbeat_age_ms: now - c.lastHeartbeatAt, last_heard_at: c.lastHeartbeatAt,
    failsafe: MAV_STATE_WORDS[hb.systemStatus] ?? null,
    position: pos && (num(pos.f.lat) !== 0 || num(pos.f.lon) !== 0) ? {
      lat: num(pos.f.lat) / 1e7, lon: num(pos.f.lon) / 1e7, alt_msl: num(pos.f.alt) / 1000, alt_rel: num(pos.f.relative_alt) / 1000,
      heading: num(pos.f.hdg) === UINT16_MAX ? null : num(pos.f.hdg) / 100, at: pos.at,
    } : null,
    attitude: att ? { roll: num(att.f.roll), pitch: num(att.f.pitch), yaw: num(att.f.yaw), at: att.at } : null,
    gps: gps ? {
      fix_type: num(gps.f.fix_type), satellites: num(gps.f.satellites_visible) === 255 ? null : num(gps.f.satellites_visible),
      eph: num(gps.f.eph) === UINT16_MAX ? null : num(gps.f.eph) / 100, at: gps.at,
    } : null,
    battery: sys || bat ? {
      voltage: sys && num(sys.f.voltage_battery) !== UINT16_MAX ? num(sys.f.voltage_battery) / 1000 : null,
      current: sys && num(sys.f.current_battery) >= 0 ? num(sys.f.current_battery) / 100 : null,
      remaining: sys && num(sys.f.battery_remaining) >= 0 ? num(sys.f.battery_remaining) : bat && num(bat.f.battery_remaining) >= 0 ? num(bat.f.battery_remaining) : null,
      charge_state: bat && typeof bat.f.charge_state === 'number' && bat.f.charge_state > 0 ? bat.f.charge_state : null,
      at: Math.max(sys?.at ?? 0, bat?.at ?? 0),
    } : null,
    speed: hud ? { ground: num(hud.f.groundspeed), air: num(hud.f.airspeed), climb: num(hud.f.climb), at: hud.at } : null,
    home: home ? { lat: num(home.f.latitude) / 1e7, lon: num(home.f.longitude) / 1e7, alt: num(home.f.altitude) / 1000, at: home.at } : null,
    track: { whole: track.whole, points },
  };
}

export function dashboardFeed(parts: DashboardParts, view: RoleView, since: number, after: number, now = Date.now()) {
  const vehicles = parts.state.vehicles().map((c) => vehicleOf(c, view, parts.history, since, now));
  const links = parts.links().map((l) => ({
    id: l.id, endpoint: l.endpoint, status: l.state.status, ...(l.state.reason ? { reason: l.state.reason } : {}),
    diagnosis: parts.monitor.diagnosis(l.id),
    samples: parts.monitor.history(l.id, since).map((s) => [s.at, s.framesPerSecond, s.loss, s.rssi, s.remrssi, s.noise, s.remnoise]),
  }));
  const alarms: Alarm[] = alarmsOf(vehicles as AlarmVehicle[], links, parts.settings.batteryWarningPercent);
  // Status texts pass the reader's filter too; mode, arming and link events are the state /v1/stats already shows.
  const timeline = parts.history.events(after).flatMap((e) => (e.frame && !view(e.frame) ? [] : [{ seq: e.seq, at: e.at, kind: e.kind, severity: e.severity, text: e.text, ...(e.sysid !== undefined ? { sysid: e.sysid } : {}) }]));
  return {
    at: now,
    simulated: parts.links().some((l) => l.endpoint === 'sim'),
    battery_warning_percent: parts.settings.batteryWarningPercent,
    alarms,
    vehicles,
    timeline,
    links,
    map: parts.map(),
  };
}
