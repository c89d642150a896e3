/**
 * Every MAVLink message belongs to one data class, so that the policy can say which kinds
 * of data may go where. The shipped classification covers the whole registry (a test
 * proves no message is left out); a policy can move any message to another class.
 */
import type { MessageRegistry } from '../mavlink/index.js';

export const DATA_CLASSES = ['position', 'identity', 'imagery', 'logs', 'mission', 'parameters', 'health', 'control'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

/** First match wins; what matches nothing is `health` (status, attitude, power, radio…). */
const DEFAULT_RULES: [DataClass, RegExp][] = [
  ['identity', /^(AUTOPILOT_VERSION|OPEN_DRONE_ID_.*|UAVIONIX_ADSB_OUT_CFG.*|COMPONENT_INFORMATION.*|COMPONENT_METADATA)$/],
  ['imagery', /^(CAMERA_.*|VIDEO_STREAM_.*|DATA_TRANSMISSION_HANDSHAKE|ENCAPSULATED_DATA|DIGICAM_.*|GOPRO_.*)$/],
  ['logs', /^(LOG_.*|FILE_TRANSFER_PROTOCOL|LOGGING_.*|REMOTE_LOG_.*|DATAFLASH_.*)$/],
  ['parameters', /^PARAM_.*$/],
  ['mission', /^(MISSION_.*|FENCE_.*|RALLY_.*|WAYPOINT.*)$/],
  ['control', /^(COMMAND_.*|SET_.*|MANUAL_CONTROL|MANUAL_SETPOINT|RC_CHANNELS_OVERRIDE|REQUEST_DATA_STREAM|CHANGE_OPERATOR_CONTROL.*|SETUP_SIGNING|MOUNT_CONTROL|MOUNT_CONFIGURE|GIMBAL_MANAGER_SET_.*|GIMBAL_DEVICE_SET_ATTITUDE|LED_CONTROL|PLAY_TUNE.*|DEBUG_VECT|PARAM_MAP_RC|ACTUATOR_CONTROL_TARGET|HIL_ACTUATOR_CONTROLS|HIL_CONTROLS|HIL_RC_INPUTS_RAW|FOLLOW_TARGET|GPS_INJECT_DATA|GPS_RTCM_DATA)$/],
  ['position', /(POSITION|GPS|ADSB|^HOME|TERRAIN|^AHRS[23]$|SIMSTATE|ODOMETRY|ORIGIN|LANDING_TARGET|TRAJECTORY|^HIL_STATE|^HIL_GPS|UTM_GLOBAL|^ALTITUDE$|WIND|^GLOBAL_|^LOCAL_|DEEPSTALL|NAV_CONTROLLER_OUTPUT|ISBD_LINK_STATUS|AIS_VESSEL)/],
];

export function defaultClassOf(name: string): DataClass {
  return DEFAULT_RULES.find(([, pattern]) => pattern.test(name))?.[0] ?? 'health';
}

/** Class indexes for per-frame work: DATA_CLASSES[i], and UNKNOWN_CLASS for an id no dialect defines. */
export const UNKNOWN_CLASS = DATA_CLASSES.length;

/** msgid → class, read per frame on the hot path without decoding (a flat array below 65536). */
export class ClassTable {
  /** Class index + 1; 0 for an unknown id. */
  private readonly dense = new Uint8Array(65536);
  private readonly sparse = new Map<number, number>();

  constructor(registry: MessageRegistry, overrides: Readonly<Record<string, DataClass>> = {}) {
    for (const def of registry) {
      const index = DATA_CLASSES.indexOf(overrides[def.name] ?? defaultClassOf(def.name));
      if (def.id < 65536) this.dense[def.id] = index + 1;
      else this.sparse.set(def.id, index);
    }
  }

  /** The class index of a message (UNKNOWN_CLASS for an id no dialect defines). */
  indexOf(msgid: number): number {
    return msgid < 65536 ? (this.dense[msgid]! || UNKNOWN_CLASS + 1) - 1 : (this.sparse.get(msgid) ?? UNKNOWN_CLASS);
  }

  /** The class of a known message, or undefined for a message id no dialect defines. */
  classOf(msgid: number): DataClass | undefined {
    return DATA_CLASSES[this.indexOf(msgid)];
  }
}
