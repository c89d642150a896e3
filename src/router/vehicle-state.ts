/**
 * What the gateway knows about every MAVLink system and component it hears: the newest
 * message of each type with its arrival time and rate, and the heartbeat status. This
 * is what clients and the dashboard read. Payloads are decoded when someone reads them,
 * never on arrival (HEARTBEAT excepted: it drives the status).
 */
import { EventStream, type Subscribable } from '../events/event-stream.js';
import { decodePayload, type Fields, type Frame, MAV_AUTOPILOT, MAV_MODE_FLAG, MAX_FRAME_LENGTH, type MessageDef, SECRET_MESSAGE_IDS } from '../mavlink/index.js';
import { modeName } from './modes.js';

/** A vehicle is lost after this long without a HEARTBEAT (as QGroundControl decides). */
export const HEARTBEAT_TIMEOUT_MS = 3000;
const RATE_WINDOW_MS = 1000;

export class MessageEntry {
  /** The newest frame of this type, copied into a buffer this entry owns (reused, so a frame costs no allocation). */
  private readonly bytes = Buffer.allocUnsafe(MAX_FRAME_LENGTH);
  private frameLength = 0;
  private payloadOffset = 0;
  private payloadLength = 0;
  firstAt: number;
  lastAt: number;
  count = 0;
  /** Measured rate over the last full window, in Hz. */
  hz = 0;
  private windowStart: number;
  private windowCount = 0;
  private decoded: Fields | null = null;

  constructor(readonly def: MessageDef | undefined, now: number) {
    this.firstAt = this.lastAt = this.windowStart = now;
  }

  update(frame: Frame, now: number): void {
    const { buffer, offset, length } = frame;
    // Telemetry frames are short: a loop beats Buffer.copy, which makes a view per call.
    if (length <= 64) for (let i = 0; i < length; i++) this.bytes[i] = buffer[offset + i]!;
    else buffer.copy(this.bytes, 0, offset, offset + length);
    this.frameLength = length;
    this.payloadOffset = frame.payloadOffset - offset;
    this.payloadLength = frame.payloadLength;
    this.decoded = null;
    this.lastAt = now;
    // The first frame opens the rate window; the rate counts the intervals after it.
    if (this.count++ === 0) return;
    this.windowCount++;
    if (now - this.windowStart >= RATE_WINDOW_MS) {
      this.hz = (this.windowCount * 1000) / (now - this.windowStart);
      this.windowStart = now;
      this.windowCount = 0;
    }
  }

  /** A copy of the newest frame's bytes. */
  frame(): Buffer {
    return Buffer.from(this.bytes.subarray(0, this.frameLength));
  }

  /** The newest message's fields; decoded on the first read after it arrived. */
  fields(): Fields | null {
    if (!this.def) return null;
    this.decoded ??= decodePayload(this.def, this.bytes, this.payloadOffset, this.payloadLength);
    return this.decoded;
  }
}

export interface HeartbeatStatus {
  type: number;
  autopilot: number;
  baseMode: number;
  customMode: number;
  systemStatus: number;
  armed: boolean;
  mode: string;
}

/** A parameter as the component last reported it (PARAM_VALUE). */
export interface ParameterValue {
  value: number;
  type: number;
  index: number;
  count: number;
}

const PARAM_VALUE_ID = 22;

export class ComponentState {
  readonly messages = new Map<number, MessageEntry>();
  /** Its parameters by name, as last reported: what a refused write is answered with (the value stays). */
  readonly parameters = new Map<string, ParameterValue>();
  heartbeat: HeartbeatStatus | null = null;
  lastHeartbeatAt = 0;
  lost = false;

  constructor(readonly sysid: number, readonly compid: number) {}

  /** A vehicle, not a ground station, camera manager or other peripheral (they report autopilot INVALID). */
  get isVehicle(): boolean {
    return this.heartbeat !== null && this.heartbeat.autopilot !== MAV_AUTOPILOT.INVALID;
  }

  message(name: string): MessageEntry | undefined {
    for (const entry of this.messages.values()) if (entry.def?.name === name) return entry;
    return undefined;
  }
}

/** HEARTBEAT's field offsets (the same in every dialect and in MAVLink 1). */
export const HEARTBEAT_OFFSETS = { customMode: 0, type: 4, autopilot: 5, baseMode: 6, systemStatus: 7 } as const;

export type VehicleEvent =
  | { type: 'seen'; component: ComponentState }
  | { type: 'lost'; component: ComponentState }
  | { type: 'back'; component: ComponentState }
  | { type: 'mode'; component: ComponentState; from: HeartbeatStatus | null };

export class VehicleStateStore {
  private readonly components = new Map<number, ComponentState>();
  private readonly events = new EventStream<VehicleEvent>();
  readonly events$: Subscribable<VehicleEvent> = this.events;

  constructor(private readonly now: () => number = Date.now) {}

  observe(frame: Frame): void {
    // SETUP_SIGNING carries a secret key: never kept, so never shown by the API.
    if (SECRET_MESSAGE_IDS.has(frame.msgid)) return;
    const now = this.now();
    const key = (frame.sysid << 8) | frame.compid;
    let component = this.components.get(key);
    if (!component) {
      component = new ComponentState(frame.sysid, frame.compid);
      this.components.set(key, component);
    }
    let entry = component.messages.get(frame.msgid);
    if (!entry) {
      entry = new MessageEntry(frame.message, now);
      component.messages.set(frame.msgid, entry);
    }
    entry.update(frame, now);
    if (frame.msgid === 0 && frame.verified) this.heartbeat(component, frame, now);
    else if (frame.msgid === PARAM_VALUE_ID && frame.verified) {
      const f = frame.decode()!;
      component.parameters.set(f.param_id as string, { value: f.param_value as number, type: f.param_type as number, index: f.param_index as number, count: f.param_count as number });
    }
  }

  private heartbeat(component: ComponentState, frame: Frame, now: number): void {
    // Read in place: a vehicle repeats its heartbeat, so most cost nothing but these reads.
    const customMode = frame.uint32(HEARTBEAT_OFFSETS.customMode);
    const type = frame.uint8(HEARTBEAT_OFFSETS.type);
    const autopilot = frame.uint8(HEARTBEAT_OFFSETS.autopilot);
    const baseMode = frame.uint8(HEARTBEAT_OFFSETS.baseMode);
    const systemStatus = frame.uint8(HEARTBEAT_OFFSETS.systemStatus);
    const previous = component.heartbeat;
    const same = previous !== null && previous.customMode === customMode && previous.type === type && previous.autopilot === autopilot &&
      previous.baseMode === baseMode && previous.systemStatus === systemStatus;
    const status: HeartbeatStatus = same ? previous : {
      type, autopilot, baseMode, customMode, systemStatus,
      armed: (baseMode & MAV_MODE_FLAG.SAFETY_ARMED) !== 0,
      mode: modeName(autopilot, type, customMode),
    };
    component.heartbeat = status;
    component.lastHeartbeatAt = now;
    if (previous === null) this.events.next({ type: 'seen', component });
    else if (!same && (previous.mode !== status.mode || previous.armed !== status.armed)) this.events.next({ type: 'mode', component, from: previous });
    if (component.lost) {
      component.lost = false;
      this.events.next({ type: 'back', component });
    }
  }

  /** Marks components lost whose heartbeat stopped; call it periodically (the gateway does, every 500 ms). */
  checkHeartbeats(): void {
    const now = this.now();
    for (const component of this.components.values()) {
      if (component.heartbeat && !component.lost && now - component.lastHeartbeatAt > HEARTBEAT_TIMEOUT_MS) {
        component.lost = true;
        this.events.next({ type: 'lost', component });
      }
    }
  }

  get(sysid: number, compid: number): ComponentState | undefined {
    return this.components.get((sysid << 8) | compid);
  }

  all(): ComponentState[] {
    return [...this.components.values()];
  }

  vehicles(): ComponentState[] {
    return this.all().filter((c) => c.isVehicle);
  }
}
