/** The simulated vehicle's parameter table: a few ArduCopter parameters with their MAVLink types. */
import { MAV_PARAM_TYPE } from '../mavlink/index.js';

export interface Param {
  readonly id: string;
  value: number;
  readonly type: number;
}

export function defaultParams(sysid: number): Param[] {
  return [
    { id: 'SYSID_THISMAV', value: sysid, type: MAV_PARAM_TYPE.UINT8 },
    { id: 'ARMING_CHECK', value: 1, type: MAV_PARAM_TYPE.INT32 },
    { id: 'BATT_CAPACITY', value: 5200, type: MAV_PARAM_TYPE.INT32 },
    { id: 'FENCE_ENABLE', value: 0, type: MAV_PARAM_TYPE.INT8 },
    { id: 'PILOT_SPEED_UP', value: 250, type: MAV_PARAM_TYPE.INT16 },
    { id: 'RTL_ALT', value: 1500, type: MAV_PARAM_TYPE.INT32 },
    { id: 'WPNAV_RADIUS', value: 200, type: MAV_PARAM_TYPE.REAL32 },
    { id: 'WPNAV_SPEED', value: 500, type: MAV_PARAM_TYPE.REAL32 },
  ];
}
