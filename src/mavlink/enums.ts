/**
 * The MAVLink enum values mavgate and its simulated vehicle use by name, as the MAVLink
 * XML (minimal.xml, common.xml) defines them. One place, so no module keeps its own copy.
 */
export const MAV_TYPE = { QUADROTOR: 2, GCS: 6 } as const;
export const MAV_AUTOPILOT = { ARDUPILOTMEGA: 3, INVALID: 8, PX4: 12 } as const;
export const MAV_MODE_FLAG = { CUSTOM_MODE_ENABLED: 1, GUIDED_ENABLED: 8, STABILIZE_ENABLED: 16, SAFETY_ARMED: 128 } as const;
export const MAV_STATE = { STANDBY: 3, ACTIVE: 4 } as const;
export const MAV_RESULT = { ACCEPTED: 0, TEMPORARILY_REJECTED: 1, DENIED: 2, UNSUPPORTED: 3, FAILED: 4 } as const;
export const MAV_CMD = {
  NAV_RETURN_TO_LAUNCH: 20, NAV_LAND: 21, NAV_TAKEOFF: 22, DO_SET_MODE: 176, COMPONENT_ARM_DISARM: 400,
  SET_MESSAGE_INTERVAL: 511, REQUEST_MESSAGE: 512,
} as const;
export const MAV_DATA_STREAM = { ALL: 0 } as const;
export const MAV_MISSION_RESULT = { ACCEPTED: 0, INVALID_SEQUENCE: 13, DENIED: 14 } as const;
export const MAV_SEVERITY = { CRITICAL: 2, WARNING: 4, NOTICE: 5, INFO: 6 } as const;
export const MAV_PARAM_TYPE = { UINT8: 1, INT8: 2, INT16: 4, INT32: 6, REAL32: 9 } as const;
