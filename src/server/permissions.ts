/**
 * Who may send what. Observers send nothing; pilots send what flying needs; admins also
 * change the vehicle's configuration (parameters, missions, signing, logs). Within what a
 * role may send, a message that moves the vehicle or changes its state needs the control
 * lease (one pilot at a time); requests, heartbeats and time sync do not, so a second
 * Cockpit or QGroundControl can open, read parameters and ask for streams while another
 * pilot flies.
 */
import { ENUMS } from '../mavlink/enum-data.js';
import type { MessageRegistry } from '../mavlink/index.js';
import type { Role } from '../residency/policy.js';

/** Messages a pilot may send (an unmodified Cockpit or QGroundControl sends these at start and in flight). */
export const PILOT_MESSAGES = [
  'HEARTBEAT', 'TIMESYNC', 'SYSTEM_TIME', 'PING',
  'PARAM_REQUEST_LIST', 'PARAM_REQUEST_READ', 'PARAM_EXT_REQUEST_LIST', 'PARAM_EXT_REQUEST_READ',
  'MISSION_REQUEST_LIST', 'MISSION_REQUEST', 'MISSION_REQUEST_INT', 'MISSION_ACK', 'MISSION_SET_CURRENT',
  'FENCE_FETCH_POINT', 'RALLY_FETCH_POINT', 'REQUEST_DATA_STREAM', 'LOG_REQUEST_LIST',
  'COMMAND_LONG', 'COMMAND_INT', 'COMMAND_ACK', 'SET_MODE', 'MANUAL_CONTROL', 'RC_CHANNELS_OVERRIDE',
  'SET_POSITION_TARGET_LOCAL_NED', 'SET_POSITION_TARGET_GLOBAL_INT', 'SET_ATTITUDE_TARGET',
  'GIMBAL_MANAGER_SET_ATTITUDE', 'GIMBAL_MANAGER_SET_PITCHYAW', 'GIMBAL_MANAGER_SET_MANUAL_CONTROL', 'MOUNT_CONTROL',
  'GPS_RTCM_DATA', 'GPS_INJECT_DATA', 'FOLLOW_TARGET', 'LANDING_TARGET',
];

/**
 * What an admin may send beyond a pilot: parameter writes, mission upload, signing setup,
 * log download and erasure (a pilot may list the logs: LOG_REQUEST_LIST reads a table).
 */
export const ADMIN_MESSAGES = [
  'PARAM_SET', 'PARAM_EXT_SET', 'PARAM_MAP_RC', 'SETUP_SIGNING',
  'MISSION_COUNT', 'MISSION_ITEM', 'MISSION_ITEM_INT', 'MISSION_CLEAR_ALL', 'MISSION_WRITE_PARTIAL_LIST',
  'FENCE_POINT', 'RALLY_POINT', 'SET_GPS_GLOBAL_ORIGIN', 'SET_HOME_POSITION',
  'LOG_REQUEST_DATA', 'LOG_ERASE', 'LOG_REQUEST_END', 'FILE_TRANSFER_PROTOCOL',
];

/** Commands (in COMMAND_LONG/COMMAND_INT) only an admin may send: calibration, storage, reboot, parameters, firmware. */
export const ADMIN_COMMANDS = [
  'MAV_CMD_PREFLIGHT_CALIBRATION', 'MAV_CMD_PREFLIGHT_SET_SENSOR_OFFSETS', 'MAV_CMD_PREFLIGHT_UAVCAN',
  'MAV_CMD_PREFLIGHT_STORAGE', 'MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN', 'MAV_CMD_DO_SET_PARAMETER',
  'MAV_CMD_FLASH_BOOTLOADER', 'MAV_CMD_STORAGE_FORMAT', 'MAV_CMD_DO_SET_SYS_CMP_ID', 'MAV_CMD_SET_FACTORY_TEST_MODE',
];

/** Messages that change nothing on the vehicle: no control lease needed. */
const FREE_MESSAGES = new Set([
  'HEARTBEAT', 'TIMESYNC', 'SYSTEM_TIME', 'PING', 'COMMAND_ACK',
  'PARAM_REQUEST_LIST', 'PARAM_REQUEST_READ', 'PARAM_EXT_REQUEST_LIST', 'PARAM_EXT_REQUEST_READ',
  'MISSION_REQUEST_LIST', 'MISSION_REQUEST', 'MISSION_REQUEST_INT', 'MISSION_ACK',
  'FENCE_FETCH_POINT', 'RALLY_FETCH_POINT', 'REQUEST_DATA_STREAM', 'LOG_REQUEST_LIST',
]);

/** Commands that only ask for information or set stream rates: no control lease needed. */
const FREE_COMMANDS = new Set([
  'MAV_CMD_GET_MESSAGE_INTERVAL', 'MAV_CMD_SET_MESSAGE_INTERVAL', 'MAV_CMD_REQUEST_MESSAGE', 'MAV_CMD_GET_HOME_POSITION',
  'MAV_CMD_REQUEST_PROTOCOL_VERSION', 'MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES', 'MAV_CMD_REQUEST_CAMERA_INFORMATION',
  'MAV_CMD_REQUEST_CAMERA_SETTINGS', 'MAV_CMD_REQUEST_STORAGE_INFORMATION', 'MAV_CMD_REQUEST_CAMERA_CAPTURE_STATUS',
  'MAV_CMD_REQUEST_FLIGHT_INFORMATION', 'MAV_CMD_REQUEST_VIDEO_STREAM_INFORMATION', 'MAV_CMD_REQUEST_VIDEO_STREAM_STATUS',
]);

export interface PermissionSettings {
  /** Messages a pilot may send (replaces PILOT_MESSAGES). */
  pilot: readonly string[];
  /** Messages an admin may send beyond a pilot's (replaces ADMIN_MESSAGES). */
  admin: readonly string[];
  /** Commands only an admin may send (replaces ADMIN_COMMANDS). */
  adminCommands: readonly string[];
}

export const DEFAULT_PERMISSIONS: PermissionSettings = { pilot: PILOT_MESSAGES, admin: ADMIN_MESSAGES, adminCommands: ADMIN_COMMANDS };

export type SendVerdict =
  | { allowed: true; needsControl: boolean }
  | { allowed: false; reason: string };

/** A command's name, `MAV_CMD_…`, or its number when the XML does not name it. */
export function commandName(command: number): string {
  return ENUMS.MAV_CMD?.entries[command] ?? `command ${command}`;
}

export class PermissionError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'PermissionError';
  }
}

export class Permissions {
  private readonly pilot: ReadonlySet<string>;
  private readonly admin: ReadonlySet<string>;
  private readonly adminCommands: ReadonlySet<string>;

  /** Checks every name against the dialects in use: a typo would silently refuse a message. */
  constructor(settings: PermissionSettings, registry: MessageRegistry) {
    const check = (key: string, names: readonly string[]) => {
      names.forEach((name, i) => {
        if (!registry.byName(name)) throw new PermissionError(`${key}[${i}]`, `no message "${name}" in the dialects in use`);
      });
      return new Set(names);
    };
    this.pilot = check('server.roles.pilot', settings.pilot);
    this.admin = new Set([...this.pilot, ...check('server.roles.admin', settings.admin)]);
    const known = new Set(Object.values(ENUMS.MAV_CMD?.entries ?? {}));
    settings.adminCommands.forEach((name, i) => {
      if (!known.has(name)) throw new PermissionError(`server.roles.admin_commands[${i}]`, `no command "${name}" in MAV_CMD`);
    });
    this.adminCommands = new Set(settings.adminCommands);
  }

  /** May `role` send `message` (with `command`, for COMMAND_LONG/COMMAND_INT), and does it need the control lease? */
  judge(role: Role, message: string, command?: number): SendVerdict {
    if (role === 'observer') return { allowed: false, reason: 'observers receive telemetry only; a pilot or admin token is needed to send' };
    const allowed = role === 'admin' ? this.admin : this.pilot;
    if (!allowed.has(message)) return { allowed: false, reason: `a ${role} may not send ${message}${role === 'pilot' && this.admin.has(message) ? ' (admin only)' : ''}` };
    if (command === undefined) return { allowed: true, needsControl: !FREE_MESSAGES.has(message) };
    const name = commandName(command);
    if (role !== 'admin' && this.adminCommands.has(name)) return { allowed: false, reason: `a ${role} may not send ${name} (admin only)` };
    return { allowed: true, needsControl: !FREE_COMMANDS.has(name) };
  }
}
