/**
 * The messages a ground station asks an ArduPilot copter for beyond the default streams
 * (QGroundControl and Cockpit request dozens with SET_MESSAGE_INTERVAL at connect), with
 * plausible values from the simulated flight. Off until asked for.
 */
import type { Fields } from '../mavlink/index.js';
import { type Flight, HOME } from './flight.js';

/** What a message is built from. */
export interface SimSnapshot {
  flight: Flight;
  armed: boolean;
  nowMs: number;
  timeBootMs: number;
  missionItems: number;
  /** 0..1, for small variations (sensor noise, radio signal). */
  jitter: () => number;
}

/** A SiK telemetry radio injects RADIO_STATUS with these ids ('3', 'D'), unsigned (radios cannot sign). */
export const RADIO_SOURCE = { sysid: 51, compid: 68 } as const;

const MAV_LANDED_STATE = { ON_GROUND: 1, IN_AIR: 2, TAKEOFF: 3, LANDING: 4 } as const;
const MISSION_STATE = { NO_MISSION: 1, NOT_STARTED: 2, ACTIVE: 3 } as const;
const UNUSED_CHANNEL = 65535;

/** Pressure at an altitude in the standard atmosphere, hPa. */
function pressureAt(altitudeM: number): number {
  return 1013.25 * (1 - 2.25577e-5 * altitudeM) ** 5.25588;
}

function landedState(f: Flight): number {
  if (f.phase === 'takeoff') return MAV_LANDED_STATE.TAKEOFF;
  if (f.phase === 'land') return MAV_LANDED_STATE.LANDING;
  return f.airborne ? MAV_LANDED_STATE.IN_AIR : MAV_LANDED_STATE.ON_GROUND;
}

/** Motor outputs (µs): idle when disarmed, spinning when armed, more when flying. */
function motorPwm(s: SimSnapshot): number {
  if (!s.armed) return 1000;
  return s.flight.airborne ? 1480 + Math.round(s.jitter() * 40) : 1100;
}

const builders: Record<string, (s: SimSnapshot) => Fields> = {
  HOME_POSITION: (s) => ({
    latitude: Math.round(HOME.lat * 1e7), longitude: Math.round(HOME.lon * 1e7), altitude: Math.round(HOME.altMsl * 1000),
    x: 0, y: 0, z: 0, q: [1, 0, 0, 0], approach_x: 0, approach_y: 0, approach_z: 0, time_usec: s.nowMs * 1000,
  }),
  MISSION_CURRENT: (s) => ({ seq: 0, total: s.missionItems, mission_state: s.missionItems === 0 ? MISSION_STATE.NO_MISSION : MISSION_STATE.NOT_STARTED, mission_mode: 0 }),
  EXTENDED_SYS_STATE: (s) => ({ vtol_state: 0, landed_state: landedState(s.flight) }),
  RC_CHANNELS: (s) => {
    const channels: Fields = { time_boot_ms: s.timeBootMs, chancount: 8, rssi: 220 };
    for (let i = 1; i <= 18; i++) channels[`chan${i}_raw`] = i > 8 ? UNUSED_CHANNEL : i === 3 ? (s.armed ? 1500 : 1000) : 1500;
    return channels;
  },
  SERVO_OUTPUT_RAW: (s) => {
    const servos: Fields = { time_usec: s.timeBootMs * 1000, port: 0 };
    for (let i = 1; i <= 8; i++) servos[`servo${i}_raw`] = i <= 4 ? motorPwm(s) : 0;
    return servos;
  },
  RAW_IMU: (s) => {
    const h = (s.flight.heading * Math.PI) / 180;
    const noise = () => Math.round((s.jitter() - 0.5) * (s.armed ? 60 : 6));
    return {
      time_usec: s.timeBootMs * 1000, xacc: noise(), yacc: noise(), zacc: -1000 + noise(), xgyro: noise(), ygyro: noise(), zgyro: noise(),
      xmag: Math.round(220 * Math.cos(h)), ymag: Math.round(-220 * Math.sin(h)), zmag: -410, id: 0, temperature: 4200,
    };
  },
  SCALED_PRESSURE: (s) => ({ time_boot_ms: s.timeBootMs, press_abs: pressureAt(HOME.altMsl + s.flight.altitude), press_diff: 0, temperature: 2750 }),
  RADIO_STATUS: (s) => {
    // A SiK radio's RSSI (0..255): strong next to the ground radio, weaker with distance; noise around 50.
    const rssi = Math.round(205 - s.flight.radius / 2 - s.jitter() * 8);
    return { rxerrors: 0, fixed: 0, rssi, remrssi: rssi - 4, txbuf: 100, noise: 48 + Math.round(s.jitter() * 6), remnoise: 51 };
  },
  SYSTEM_TIME: (s) => ({ time_unix_usec: s.nowMs * 1000, time_boot_ms: s.timeBootMs }),
  POWER_STATUS: () => ({ Vcc: 5050, Vservo: 0, flags: 1 }),
  MEMINFO: () => ({ brkval: 0, freemem: 65535, freemem32: 131072 }),
  VIBRATION: (s) => {
    const v = () => (s.armed ? 2 + s.jitter() * 3 : 0.02 * s.jitter());
    return { time_usec: s.timeBootMs * 1000, vibration_x: v(), vibration_y: v(), vibration_z: v(), clipping_0: 0, clipping_1: 0, clipping_2: 0 };
  },
  EKF_STATUS_REPORT: () => ({ velocity_variance: 0.05, pos_horiz_variance: 0.04, pos_vert_variance: 0.06, compass_variance: 0.03, terrain_alt_variance: 0, flags: 831 }),
};

/** Messages the simulated vehicle can send beyond its default streams. */
export const EXTRA_TELEMETRY: readonly string[] = Object.keys(builders);

/** The fields of one of EXTRA_TELEMETRY now, or null for a message it cannot build. */
export function extraTelemetry(name: string, snapshot: SimSnapshot): Fields | null {
  return builders[name]?.(snapshot) ?? null;
}

/** ArduPilot's stream groups (REQUEST_DATA_STREAM), for the messages the simulated vehicle sends. */
export const STREAM_GROUPS: Readonly<Record<number, readonly string[]>> = {
  1: ['RAW_IMU', 'SCALED_PRESSURE'],
  2: ['SYS_STATUS', 'POWER_STATUS', 'MEMINFO', 'MISSION_CURRENT', 'GPS_RAW_INT'],
  3: ['SERVO_OUTPUT_RAW', 'RC_CHANNELS'],
  6: ['GLOBAL_POSITION_INT'],
  10: ['ATTITUDE'],
  11: ['VFR_HUD'],
  12: ['SYSTEM_TIME', 'BATTERY_STATUS', 'VIBRATION', 'EKF_STATUS_REPORT', 'EXTENDED_SYS_STATE', 'HOME_POSITION'],
};
