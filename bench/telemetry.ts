/**
 * A realistic ArduPilot-style telemetry stream for benchmarks: the message mix and rates
 * of a copter streaming to a ground station, some MAVLink 1 frames, a few damaged ones.
 */
import { encodeFrame, loadRegistry, type OutgoingMessage } from '../src/mavlink/index.js';

const registry = loadRegistry();

/** Deterministic pseudo-random numbers, so every run measures the same bytes. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Messages per second as ArduPilot streams them at SRx rates of 10/5/2/1 Hz. */
const MIX: [number, (t: number, r: () => number) => OutgoingMessage][] = [
  [10, (t, r) => ({ name: 'ATTITUDE', fields: { time_boot_ms: t, roll: r() - 0.5, pitch: r() - 0.5, yaw: r() * 6, rollspeed: r(), pitchspeed: r(), yawspeed: r() } })],
  [5, (t, r) => ({ name: 'GLOBAL_POSITION_INT', fields: { time_boot_ms: t, lat: -353632620 + Math.floor(r() * 1000), lon: 1491652370 + Math.floor(r() * 1000), alt: 584000, relative_alt: 10000, vx: 100, vy: -50, vz: 0, hdg: 27000 } })],
  [5, (t, r) => ({ name: 'GPS_RAW_INT', fields: { time_usec: t * 1000, lat: -353632620, lon: 1491652370, alt: 584000, eph: 121, epv: 200, vel: Math.floor(r() * 1000), cog: 27000, fix_type: 3, satellites_visible: 12 } })],
  [5, (_t, r) => ({ name: 'VFR_HUD', fields: { airspeed: r() * 10, groundspeed: r() * 10, heading: 270, throttle: 45, alt: 58.4, climb: r() - 0.5 } })],
  [5, (t) => ({ name: 'RC_CHANNELS', fields: { time_boot_ms: t, chancount: 16, chan1_raw: 1500, chan2_raw: 1500, chan3_raw: 1100, chan4_raw: 1500, chan5_raw: 1800, rssi: 255 } })],
  [5, (t) => ({ name: 'SERVO_OUTPUT_RAW', fields: { time_usec: (t * 1000) % 4294967296, servo1_raw: 1500, servo2_raw: 1510, servo3_raw: 1490, servo4_raw: 1505 } })],
  [5, (t, r) => ({ name: 'RAW_IMU', fields: { time_usec: t * 1000, xacc: Math.floor(r() * 100), yacc: -10, zacc: -1000, xgyro: 1, ygyro: 2, zgyro: 3, xmag: 100, ymag: 200, zmag: 300 } })],
  [2, () => ({ name: 'SYS_STATUS', fields: { onboard_control_sensors_present: 0x1fffffff, onboard_control_sensors_enabled: 0x1fffffff, onboard_control_sensors_health: 0x1fffffff, load: 250, voltage_battery: 12300, current_battery: 1500, battery_remaining: 80 } })],
  [1, () => ({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 217, custom_mode: 5, system_status: 4, mavlink_version: 3 } })],
  [0.2, () => ({ name: 'STATUSTEXT', fields: { severity: 6, text: 'EKF3 IMU0 is using GPS' } })],
  [1, (_t, r) => ({ name: 'PARAM_VALUE', fields: { param_id: 'WPNAV_SPEED', param_value: r() * 1000, param_type: 9, param_count: 900, param_index: 12 } })],
];

export interface Telemetry {
  bytes: Buffer;
  frames: number;
  damaged: number;
}

/** About `frames` frames of telemetry; 10% MAVLink 1, 0.1% with one byte damaged. */
export function telemetryStream(frames: number, seed = 1): Telemetry {
  const r = prng(seed);
  const total = MIX.reduce((n, [hz]) => n + hz, 0);
  const parts: Buffer[] = [];
  const seqs = new Map<string, number>();
  let damaged = 0;
  for (let i = 0; i < frames; i++) {
    let pick = r() * total;
    const [, make] = MIX.find(([hz]) => (pick -= hz) < 0) ?? MIX[0]!;
    const message = make(i * 20, r);
    const version = r() < 0.1 ? 1 : 2;
    const seq = seqs.get(message.name!) ?? 0;
    seqs.set(message.name!, (seq + 1) & 0xff);
    const frame = encodeFrame(registry, message, { sysid: 1, compid: 1, seq, version });
    if (r() < 0.001) {
      frame[6 + Math.floor(r() * (frame.length - 6))] ^= 0x5a;
      damaged++;
    }
    parts.push(frame);
  }
  return { bytes: Buffer.concat(parts), frames, damaged };
}

/** The stream cut into reads of `size` bytes, as views (no copies). */
export function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}
