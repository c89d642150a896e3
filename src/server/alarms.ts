/**
 * What must be the loudest thing on an operator's page: a vehicle lost, a link down, a
 * failsafe, a battery below its warning level (alarms); frames failing on a link
 * (warnings). Pure: decided from the state the dashboard is sent, so the page and the
 * tests see the same thing.
 */

export interface Alarm {
  /** Stable while the condition lasts (the page sounds a new one once). */
  id: string;
  level: 'alarm' | 'warning';
  text: string;
  sysid?: number;
}

export interface AlarmVehicle {
  sysid: number;
  lost: boolean;
  heartbeat_age_ms: number;
  failsafe: string | null;
  battery: { remaining: number | null; voltage: number | null; charge_state: number | null } | null;
  position: { lat: number; lon: number; alt_rel: number; at: number } | null;
}

export interface AlarmLink {
  id: string;
  endpoint: string;
  status: string;
  reason?: string;
  diagnosis: { kind: string; message: string } | null;
}

/** MAV_BATTERY_CHARGE_STATE_LOW and worse: the autopilot's own battery failsafe levels. */
const CHARGE_LOW = 2;
const CHARGE_WORDS: Record<number, string> = { 2: 'LOW', 3: 'CRITICAL', 4: 'EMERGENCY', 5: 'FAILED', 6: 'UNHEALTHY' };

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

export function alarmsOf(vehicles: AlarmVehicle[], links: AlarmLink[], batteryWarningPercent: number): Alarm[] {
  const alarms: Alarm[] = [];
  for (const v of vehicles) {
    if (v.lost) {
      const p = v.position;
      const where = p ? `; last known at ${p.lat.toFixed(6)}, ${p.lon.toFixed(6)}, ${p.alt_rel.toFixed(0)} m above home, ${clock(p.at)} UTC` : '';
      alarms.push({ id: `lost-${v.sysid}`, level: 'alarm', sysid: v.sysid, text: `VEHICLE ${v.sysid} LOST: no heartbeat for ${Math.round(v.heartbeat_age_ms / 1000)} s${where}` });
    }
    if (v.failsafe) alarms.push({ id: `failsafe-${v.sysid}`, level: 'alarm', sysid: v.sysid, text: `VEHICLE ${v.sysid} FAILSAFE: ${v.failsafe}` });
    const b = v.battery;
    if (b && b.charge_state !== null && b.charge_state >= CHARGE_LOW) {
      alarms.push({ id: `battery-${v.sysid}`, level: 'alarm', sysid: v.sysid, text: `VEHICLE ${v.sysid} BATTERY ${CHARGE_WORDS[b.charge_state] ?? 'LOW'}${b.remaining !== null ? `: ${b.remaining}%` : ''}` });
    } else if (b && b.remaining !== null && b.remaining < batteryWarningPercent) {
      alarms.push({ id: `battery-${v.sysid}`, level: 'alarm', sysid: v.sysid, text: `VEHICLE ${v.sysid} BATTERY LOW: ${b.remaining}% (warning below ${batteryWarningPercent}%)${b.voltage !== null ? `, ${b.voltage.toFixed(1)} V` : ''}` });
    }
  }
  for (const l of links) {
    if (l.status !== 'up') alarms.push({ id: `link-${l.id}`, level: 'alarm', text: `LINK ${l.endpoint} ${l.status.toUpperCase()}${l.reason ? `: ${l.reason}` : ''}` });
    if (l.diagnosis) alarms.push({ id: `frames-${l.id}`, level: 'warning', text: `LINK ${l.endpoint}: ${l.diagnosis.message}` });
  }
  return alarms;
}
