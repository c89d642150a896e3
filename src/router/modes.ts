/** Flight mode names from HEARTBEAT.custom_mode, per autopilot and vehicle type, as ground stations show them. */
import { MAV_AUTOPILOT } from '../mavlink/index.js';

const COPTER: Record<number, string> = {
  0: 'STABILIZE', 1: 'ACRO', 2: 'ALT_HOLD', 3: 'AUTO', 4: 'GUIDED', 5: 'LOITER', 6: 'RTL', 7: 'CIRCLE', 9: 'LAND',
  11: 'DRIFT', 13: 'SPORT', 14: 'FLIP', 15: 'AUTOTUNE', 16: 'POSHOLD', 17: 'BRAKE', 18: 'THROW', 19: 'AVOID_ADSB',
  20: 'GUIDED_NOGPS', 21: 'SMART_RTL', 22: 'FLOWHOLD', 23: 'FOLLOW', 24: 'ZIGZAG', 25: 'SYSTEMID', 26: 'AUTOROTATE', 27: 'AUTO_RTL',
};
const PLANE: Record<number, string> = {
  0: 'MANUAL', 1: 'CIRCLE', 2: 'STABILIZE', 3: 'TRAINING', 4: 'ACRO', 5: 'FBWA', 6: 'FBWB', 7: 'CRUISE', 8: 'AUTOTUNE',
  10: 'AUTO', 11: 'RTL', 12: 'LOITER', 13: 'TAKEOFF', 14: 'AVOID_ADSB', 15: 'GUIDED', 17: 'QSTABILIZE', 18: 'QHOVER',
  19: 'QLOITER', 20: 'QLAND', 21: 'QRTL', 22: 'QAUTOTUNE', 23: 'QACRO', 24: 'THERMAL',
};
const ROVER: Record<number, string> = {
  0: 'MANUAL', 1: 'ACRO', 3: 'STEERING', 4: 'HOLD', 5: 'LOITER', 6: 'FOLLOW', 7: 'SIMPLE', 10: 'AUTO', 11: 'RTL', 12: 'SMART_RTL', 15: 'GUIDED',
};
const SUB: Record<number, string> = {
  0: 'STABILIZE', 1: 'ACRO', 2: 'ALT_HOLD', 3: 'AUTO', 4: 'GUIDED', 7: 'CIRCLE', 9: 'SURFACE', 16: 'POSHOLD', 19: 'MANUAL',
};
const PX4_MAIN: Record<number, string> = {
  1: 'MANUAL', 2: 'ALTCTL', 3: 'POSCTL', 4: 'AUTO', 5: 'ACRO', 6: 'OFFBOARD', 7: 'STABILIZED', 8: 'RATTITUDE',
};
const PX4_AUTO: Record<number, string> = {
  1: 'READY', 2: 'TAKEOFF', 3: 'LOITER', 4: 'MISSION', 5: 'RTL', 6: 'LAND', 8: 'FOLLOW_TARGET', 9: 'PRECLAND',
};

// MAV_TYPE groups
const PLANES = new Set([1, 16, 19, 20, 21, 22, 23, 24, 25]);
const ROVERS = new Set([10, 11]);
const SUBS = new Set([12]);

/**
 * A table's entry. Every table's numbers are small: a custom_mode of 2^31 or more is not a
 * small integer to V8, and looking it up as a key took ~20 times as long (a search by
 * string down the prototype chain), on every heartbeat of a vehicle that sends one.
 */
function entry(table: Record<number, string>, key: number): string | undefined {
  return key <= 0xff ? table[key] : undefined;
}

/** The mode's name, or `custom_mode N` when this autopilot's table does not have it. */
export function modeName(autopilot: number, vehicleType: number, customMode: number): string {
  if (autopilot === MAV_AUTOPILOT.ARDUPILOTMEGA) {
    const table = PLANES.has(vehicleType) ? PLANE : ROVERS.has(vehicleType) ? ROVER : SUBS.has(vehicleType) ? SUB : COPTER;
    return entry(table, customMode) ?? `custom_mode ${customMode}`;
  }
  if (autopilot === MAV_AUTOPILOT.PX4) {
    const main = (customMode >> 16) & 0xff;
    const sub = (customMode >>> 24) & 0xff;
    const name = entry(PX4_MAIN, main);
    const auto = entry(PX4_AUTO, sub);
    if (name === 'AUTO' && auto) return `AUTO.${auto}`;
    return name ?? `custom_mode ${customMode}`;
  }
  return `custom_mode ${customMode}`;
}

/** ArduPilot's mode numbers by name, for commands that set a mode (the simulated vehicle uses the copter table). */
export const COPTER_MODES: Readonly<Record<string, number>> = Object.fromEntries(Object.entries(COPTER).map(([n, name]) => [name, Number(n)]));
