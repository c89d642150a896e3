/**
 * A message mavgate refuses is answered in its own protocol, the way ArduPilot answers a
 * request it turns down, so that a ground station shows the refusal at once instead of
 * retrying until it times out:
 * - COMMAND_LONG / COMMAND_INT: COMMAND_ACK, MAV_RESULT_DENIED;
 * - SET_MODE: COMMAND_ACK with command = 11, SET_MODE's message id (ArduPilot acks it so);
 * - the mission protocol (upload, download, clear): MISSION_ACK, MAV_MISSION_DENIED;
 * - PARAM_SET: PARAM_VALUE with the value the vehicle last reported (ArduPilot's answer to
 *   a denied write: the value stays), when mavgate has seen it.
 * The reason goes with it as a STATUSTEXT (the hub adds it). Other messages (heartbeats,
 * requests the parameter protocol has no refusal for) get the status text alone.
 */
import { type Fields, MAV_MISSION_RESULT, MAV_RESULT, type OutgoingMessage } from '../mavlink/index.js';
import type { VehicleStateStore } from '../router/vehicle-state.js';

/** SET_MODE's message id, which ArduPilot puts in the COMMAND_ACK's `command`. */
const SET_MODE_ID = 11;

const MISSION_MESSAGES = new Set([
  'MISSION_COUNT', 'MISSION_ITEM', 'MISSION_ITEM_INT', 'MISSION_CLEAR_ALL', 'MISSION_WRITE_PARTIAL_LIST',
  'MISSION_REQUEST_LIST', 'MISSION_REQUEST', 'MISSION_REQUEST_INT', 'MISSION_REQUEST_PARTIAL_LIST',
]);

export interface Ids {
  sysid: number;
  compid: number;
}

/**
 * Whose reply it is: the message's target (target_component 0: that system's autopilot,
 * the component its commands go to), or with no target the vehicle (the first one heard),
 * or with none heard mavgate itself. Ground stations match an answer by these ids:
 * QGroundControl and Mission Planner take a COMMAND_ACK only from the command's target
 * system and component, MAVProxy and Cockpit show only what their vehicle's autopilot sends.
 */
export function replySource(state: VehicleStateStore, fields: Fields | null, own: Ids): Ids {
  const targetSystem = typeof fields?.target_system === 'number' ? fields.target_system : 0;
  const vehicles = state.vehicles();
  const sysid = targetSystem || (vehicles[0]?.sysid ?? 0);
  if (sysid === 0) return own;
  const targetComponent = typeof fields?.target_component === 'number' ? fields.target_component : 0;
  const compid = targetComponent || (vehicles.find((v) => v.sysid === sysid)?.compid ?? 1);
  return { sysid, compid };
}

/** The refused message's own protocol answer, or null when it has none. */
export function refusalAnswer(name: string, fields: Fields, client: Ids, from: Ids, state: VehicleStateStore): OutgoingMessage | null {
  const target = { target_system: client.sysid, target_component: client.compid };
  if (name === 'COMMAND_LONG' || name === 'COMMAND_INT') {
    return { name: 'COMMAND_ACK', fields: { command: fields.command, result: MAV_RESULT.DENIED, ...target } };
  }
  if (name === 'SET_MODE') return { name: 'COMMAND_ACK', fields: { command: SET_MODE_ID, result: MAV_RESULT.DENIED, ...target } };
  if (MISSION_MESSAGES.has(name)) {
    return { name: 'MISSION_ACK', fields: { type: MAV_MISSION_RESULT.DENIED, mission_type: fields.mission_type ?? 0, ...target } };
  }
  if (name === 'PARAM_SET') {
    const current = state.get(from.sysid, from.compid)?.parameters.get(fields.param_id as string);
    if (!current) return null;
    return { name: 'PARAM_VALUE', fields: { param_id: fields.param_id, param_value: current.value, param_type: current.type, param_count: current.count, param_index: current.index } };
  }
  return null;
}
