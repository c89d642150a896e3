/**
 * A MAVLink 2 vehicle that behaves like a small ArduPilot copter: it streams telemetry,
 * answers commands with COMMAND_ACK, and serves the parameter and mission protocols.
 * Transport-free: it takes bytes in `receive` and gives bytes to `send`.
 */
import {
  type Fields, type Frame, FrameSigner, SignatureVerifier, FrameDecoder, FrameEncoder, MAV_AUTOPILOT, MAV_CMD, MAV_MODE_FLAG, MAV_RESULT, MAV_SEVERITY, MAV_STATE, MAV_TYPE,
  type MessageRegistry, type OutgoingMessage, loadRegistry, signatureTimestamp, SIGNING_EPOCH_MS,
} from '../mavlink/index.js';
import { COPTER_MODES, modeName } from '../router/modes.js';
import { EXTRA_TELEMETRY, extraTelemetry, RADIO_SOURCE, STREAM_GROUPS } from './extra-telemetry.js';
import { Flight, HOME } from './flight.js';
import { MissionStore } from './mission.js';
import { OnboardLogServer, type SimLogOptions } from './onboard-logs.js';
import { defaultParams, type Param } from './params.js';

export interface SimOptions {
  sysid?: number;
  compid?: number;
  /** Multiplies every telemetry rate (1 = ArduPilot's defaults: ATTITUDE 10 Hz, positions 5 Hz). */
  rate?: number;
  /**
   * MAVLink 2 signing from the start (as after SETUP_SIGNING): every frame sent is signed,
   * and unsigned or badly signed frames from the ground are ignored, as ArduPilot does.
   */
  signingKey?: Buffer;
  /** Probability (0..1) that an outgoing frame is not sent: loss the gateway must count. */
  loss?: number;
  /** Probability (0..1) that an outgoing frame has one byte damaged: garbage the decoder must survive. */
  damage?: number;
  /** Seed for loss and damage, so a test sees the same sequence every run. */
  seed?: number;
  /**
   * With `signingKey`: how far behind the real time its signing clock starts (an autopilot
   * booted without GPS time). It moves forward when a newer signed frame arrives, as
   * ArduPilot's does.
   */
  signingClockBehindMs?: number;
  registry?: MessageRegistry;
  /** The onboard logs it serves (LOG_REQUEST_LIST/DATA), and whether it drops some of their chunks. */
  logs?: SimLogOptions;
}

const FORCE_DISARM_MAGIC = 21196;

/** Telemetry messages and their default rates (Hz). */
const STREAMS: [string, number][] = [
  ['HEARTBEAT', 1], ['SYS_STATUS', 1], ['BATTERY_STATUS', 1], ['ATTITUDE', 10],
  ['GLOBAL_POSITION_INT', 5], ['GPS_RAW_INT', 5], ['VFR_HUD', 5],
];
const TICK_MS = 100;
/** The rate a message asked for with interval 0 ("the default") gets when it is not one of the default streams. */
const EXTRA_DEFAULT_HZ = 1;
/** Streams a REQUEST_DATA_STREAM for every stream does not touch: the heartbeat, and the radio's own status. */
const NOT_IN_ALL = new Set(['HEARTBEAT', 'RADIO_STATUS']);

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export class SimVehicle {
  readonly sysid: number;
  readonly compid: number;
  readonly flight = new Flight();
  readonly params: Param[];
  readonly mission: MissionStore;
  readonly logs: OnboardLogServer;
  armed = false;
  /** Frames received, by message name: what the ground side asked of the vehicle. */
  readonly received = new Map<string, number>();
  customMode = COPTER_MODES.STABILIZE!;
  /** Called with every frame the vehicle sends. */
  send: (frame: Buffer) => void = () => {};
  private readonly registry: MessageRegistry;
  private readonly encoder: FrameEncoder;
  private readonly decoder: FrameDecoder;
  private readonly random: () => number;
  private readonly intervals = new Map<string, number>();
  private readonly due = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private signer: FrameSigner | null = null;
  private verifier: SignatureVerifier | null = null;
  /** Frames from the ground ignored because signing is on and they were unsigned or badly signed. */
  rejectedUnsigned = 0;
  /** Probability of dropping, and of damaging, an outgoing frame (changeable while running). */
  loss: number;
  damage: number;
  private readonly startedAt = Date.now();
  private lastStep = Date.now();
  /** Where the signing clock stands against the real one (negative: behind). */
  private signingOffsetMs: number;
  /** The mode and armed state last announced with a STATUSTEXT. */
  private announced: { mode: string; armed: boolean } | null = null;

  constructor(private readonly options: SimOptions = {}) {
    this.sysid = options.sysid ?? 1;
    this.compid = options.compid ?? 1;
    this.registry = options.registry ?? loadRegistry();
    this.encoder = new FrameEncoder(this.registry);
    this.decoder = new FrameDecoder(this.registry, (f) => this.handle(f));
    this.random = prng(options.seed ?? 1);
    this.loss = options.loss ?? 0;
    this.damage = options.damage ?? 0;
    this.params = defaultParams(this.sysid);
    this.mission = new MissionStore((m) => this.emit(m));
    this.logs = new OnboardLogServer(options.logs ?? {}, (messages) => this.emitAll(messages), () => this.armed, this.random);
    const rate = options.rate ?? 1;
    for (const [name, hz] of STREAMS) this.intervals.set(name, 1000 / (hz * rate));
    for (const name of EXTRA_TELEMETRY) this.intervals.set(name, 0);
    this.signingOffsetMs = -(options.signingClockBehindMs ?? 0);
    if (options.signingKey) this.startSigning(options.signingKey);
  }

  get signing(): boolean {
    return this.signer !== null;
  }

  private startSigning(key: Buffer): void {
    this.signer = new FrameSigner(key, 0, this.registry, () => Date.now() + this.signingOffsetMs);
    this.verifier = new SignatureVerifier(key);
  }

  /** A signed frame newer than the vehicle's own signing clock moves that clock forward (MAVLink signing's rule). */
  private catchUpSigningClock(frame: Frame): void {
    const theirsMs = SIGNING_EPOCH_MS + signatureTimestamp(frame) / 100;
    this.signingOffsetMs = Math.max(this.signingOffsetMs, theirsMs - Date.now());
  }

  start(): void {
    if (this.timer) return;
    const tickMs = Math.max(1, TICK_MS / Math.max(1, this.options.rate ?? 1));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.announce('ArduCopter V4.5.7 (mavgate simulated vehicle)', MAV_SEVERITY.INFO);
    this.announce('Frame: QUAD/X', MAV_SEVERITY.INFO);
    this.tick();
  }

  private announce(text: string, severity: number = MAV_SEVERITY.INFO): void {
    this.emit({ name: 'STATUSTEXT', fields: { severity, text } });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.logs.stop();
  }

  /** Bytes from the ground side. */
  receive(chunk: Uint8Array): void {
    this.decoder.push(chunk);
  }

  get mode(): string {
    return modeName(MAV_AUTOPILOT.ARDUPILOTMEGA, MAV_TYPE.QUADROTOR, this.customMode);
  }

  private tick(): void {
    const now = Date.now();
    this.flight.step((now - this.lastStep) / 1000, this.armed);
    this.lastStep = now;
    if (this.armed && this.flight.phase === 'ground' && this.mode === 'LAND') this.armed = false;
    this.announceChanges();
    for (const [name, interval] of this.intervals) {
      if (interval <= 0) continue;
      const due = this.due.get(name) ?? now;
      if (now < due) continue;
      // Catch up at most one period: a stalled event loop must not burst old telemetry.
      this.due.set(name, Math.max(due + interval, now - interval));
      this.emit(this.telemetry(name, now));
    }
  }

  /** Mode and arming changes are told in a STATUSTEXT too, as ArduPilot tells its ground station. */
  private announceChanges(): void {
    const now = { mode: this.mode, armed: this.armed };
    const before = this.announced;
    this.announced = now;
    if (!before) return;
    if (before.armed !== now.armed) this.announce(now.armed ? 'Arming motors' : 'Disarming motors', MAV_SEVERITY.NOTICE);
    if (before.mode !== now.mode) this.announce(`Mode ${now.mode}`, MAV_SEVERITY.NOTICE);
  }

  private emit(message: OutgoingMessage): void {
    const frame = this.frameOf(message);
    if (frame) this.send(frame);
  }

  /** Several frames in one write (a burst of log data), as a flight controller fills its UART or datagram. */
  private emitAll(messages: OutgoingMessage[]): void {
    const frames = messages.map((m) => this.frameOf(m)).filter((f): f is Buffer => f !== null);
    if (frames.length > 0) this.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** The frame as sent (signed, maybe damaged), or null when the simulated loss takes it. */
  private frameOf(message: OutgoingMessage): Buffer | null {
    // RADIO_STATUS comes from the telemetry radio, under its own ids, and unsigned: a SiK radio cannot sign.
    const fromRadio = message.name === 'RADIO_STATUS';
    const frame = this.encoder.encode(message, fromRadio ? RADIO_SOURCE : { sysid: this.sysid, compid: this.compid });
    const { loss, damage } = this;
    if (loss > 0 && this.random() < loss) return null;
    const out = (fromRadio ? null : this.signer?.sign(frame)) ?? frame;
    if (damage > 0 && this.random() < damage) out[1 + Math.floor(this.random() * (out.length - 1))] ^= 0xa5;
    return out;
  }

  private telemetry(name: string, now: number): OutgoingMessage {
    const f = this.flight;
    const timeBootMs = (now - this.startedAt) >>> 0;
    const { lat, lon } = f.position;
    const latE7 = Math.round(lat * 1e7);
    const lonE7 = Math.round(lon * 1e7);
    switch (name) {
      case 'HEARTBEAT': {
        const baseMode = MAV_MODE_FLAG.CUSTOM_MODE_ENABLED | MAV_MODE_FLAG.STABILIZE_ENABLED
          | (this.mode === 'GUIDED' ? MAV_MODE_FLAG.GUIDED_ENABLED : 0) | (this.armed ? MAV_MODE_FLAG.SAFETY_ARMED : 0);
        return { name, fields: { type: MAV_TYPE.QUADROTOR, autopilot: MAV_AUTOPILOT.ARDUPILOTMEGA, base_mode: baseMode,
          custom_mode: this.customMode, system_status: this.armed ? MAV_STATE.ACTIVE : MAV_STATE.STANDBY, mavlink_version: 3 } };
      }
      case 'SYS_STATUS':
        return { name, fields: { onboard_control_sensors_present: 0x1fffffff, onboard_control_sensors_enabled: 0x1fffffff,
          onboard_control_sensors_health: 0x1fffffff, load: 250, voltage_battery: this.voltageMv(), current_battery: this.armed ? 1500 : 50,
          battery_remaining: Math.round(f.battery) } };
      case 'BATTERY_STATUS':
        return { name, fields: { id: 0, battery_function: 1, type: 3, temperature: 3000, voltages: [this.voltageMv(), ...new Array(9).fill(65535)],
          current_battery: this.armed ? 1500 : 50, current_consumed: Math.round((100 - f.battery) * 52), energy_consumed: -1,
          battery_remaining: Math.round(f.battery) } };
      case 'ATTITUDE':
        return { name, fields: { time_boot_ms: timeBootMs, roll: f.airborne ? 0.12 : 0, pitch: f.airborne ? -0.05 : 0,
          yaw: ((f.heading > 180 ? f.heading - 360 : f.heading) * Math.PI) / 180, rollspeed: 0, pitchspeed: 0, yawspeed: f.airborne ? 0.125 : 0 } };
      case 'GLOBAL_POSITION_INT':
        return { name, fields: { time_boot_ms: timeBootMs, lat: latE7, lon: lonE7, alt: Math.round((HOME.altMsl + f.altitude) * 1000),
          relative_alt: Math.round(f.altitude * 1000), vx: Math.round(f.groundSpeed * 100 * Math.cos(f.angle + Math.PI / 2)),
          vy: Math.round(f.groundSpeed * 100 * Math.sin(f.angle + Math.PI / 2)), vz: Math.round(-f.climb * 100), hdg: Math.round(f.heading * 100) } };
      case 'GPS_RAW_INT':
        return { name, fields: { time_usec: now * 1000, fix_type: 3, lat: latE7, lon: lonE7, alt: Math.round((HOME.altMsl + f.altitude) * 1000),
          eph: 121, epv: 200, vel: Math.round(f.groundSpeed * 100), cog: Math.round(f.heading * 100), satellites_visible: 12 } };
      case 'VFR_HUD':
        return { name, fields: { airspeed: f.groundSpeed, groundspeed: f.groundSpeed, heading: Math.round(f.heading) % 360,
          throttle: this.armed ? 45 : 0, alt: HOME.altMsl + f.altitude, climb: f.climb } };
      default: {
        const fields = extraTelemetry(name, {
          flight: f, armed: this.armed, nowMs: now, timeBootMs, missionItems: this.mission.items.length, jitter: this.random,
        });
        if (!fields) throw new Error(`no telemetry for ${name}`);
        return { name, fields };
      }
    }
  }

  private voltageMv(): number {
    return Math.round(12600 - (100 - this.flight.battery) * 24);
  }

  private handle(frame: Frame): void {
    if (!frame.verified) return;
    if (this.verifier) {
      if (this.verifier.verify(frame) !== 'ok') {
        this.rejectedUnsigned++;
        return;
      }
      this.catchUpSigningClock(frame);
    }
    const f = frame.decode()!;
    const from = { sysid: frame.sysid, compid: frame.compid };
    if ('target_system' in f && f.target_system !== 0 && f.target_system !== this.sysid) return;
    const name = frame.name!;
    this.received.set(name, (this.received.get(name) ?? 0) + 1);
    if (this.mission.handle(name, f, from) || this.logs.handle(name, f)) return;
    switch (name) {
      case 'COMMAND_LONG': return this.command(f, from);
      case 'SET_MODE': return this.ack(11, this.setMode(f.custom_mode as number), from);
      case 'SETUP_SIGNING': return this.startSigning(Buffer.from(f.secret_key as number[]));
      case 'PARAM_REQUEST_LIST': return this.params.forEach((_, i) => this.sendParam(i));
      case 'REQUEST_DATA_STREAM': return this.requestDataStream(f);
      case 'PARAM_REQUEST_READ': {
        const index = (f.param_index as number) >= 0 ? (f.param_index as number) : this.params.findIndex((p) => p.id === f.param_id);
        if (this.params[index]) this.sendParam(index);
        return;
      }
      case 'PARAM_SET': {
        const index = this.params.findIndex((p) => p.id === f.param_id);
        if (index < 0) return this.emit({ name: 'STATUSTEXT', fields: { severity: 4, text: `Unknown parameter ${String(f.param_id)}` } });
        this.params[index]!.value = f.param_value as number;
        return this.sendParam(index);
      }
      default:
    }
  }

  /** ArduPilot's stream groups: stream 0 (all) sets every telemetry rate but the heartbeat's; the others their own messages. */
  private requestDataStream(f: Fields): void {
    const names = f.req_stream_id === 0 ? [...this.intervals.keys()].filter((n) => !NOT_IN_ALL.has(n)) : STREAM_GROUPS[f.req_stream_id as number] ?? [];
    const hz = f.start_stop === 1 ? (f.req_message_rate as number) : 0;
    for (const name of names) this.intervals.set(name, hz > 0 ? 1000 / hz : 0);
  }

  private sendParam(index: number): void {
    const p = this.params[index]!;
    this.emit({ name: 'PARAM_VALUE', fields: { param_id: p.id, param_value: p.value, param_type: p.type, param_count: this.params.length, param_index: index } });
  }

  private ack(command: number, result: number, to: { sysid: number; compid: number }): void {
    this.emit({ name: 'COMMAND_ACK', fields: { command, result, target_system: to.sysid, target_component: to.compid } });
  }

  private setMode(customMode: number): number {
    if (!Object.values(COPTER_MODES).includes(customMode)) return MAV_RESULT.DENIED;
    this.customMode = customMode;
    const f = this.flight;
    if (this.mode === 'LAND' && f.airborne) f.phase = 'land';
    if (this.mode === 'RTL' && f.airborne) f.phase = 'rtl';
    return MAV_RESULT.ACCEPTED;
  }

  private command(f: Fields, from: { sysid: number; compid: number }): void {
    const command = f.command as number;
    const p = (n: number) => (f[`param${n}`] as number | null) ?? 0;
    this.ack(command, this.runCommand(command, p), from);
  }

  private runCommand(command: number, p: (n: number) => number): number {
    const flight = this.flight;
    switch (command) {
      case MAV_CMD.COMPONENT_ARM_DISARM:
        if (p(1) === 1) {
          if (flight.battery < 10) return MAV_RESULT.DENIED;
          this.armed = true;
          return MAV_RESULT.ACCEPTED;
        }
        if (flight.airborne && p(2) !== FORCE_DISARM_MAGIC) return MAV_RESULT.DENIED;
        this.armed = false;
        flight.phase = 'ground';
        flight.altitude = 0;
        return MAV_RESULT.ACCEPTED;
      case MAV_CMD.NAV_TAKEOFF:
        if (!this.armed) return MAV_RESULT.DENIED;
        if (this.mode !== 'GUIDED') return MAV_RESULT.TEMPORARILY_REJECTED;
        flight.targetAltitude = p(7) > 0 ? p(7) : 10;
        flight.phase = 'takeoff';
        return MAV_RESULT.ACCEPTED;
      case MAV_CMD.NAV_LAND:
        return this.setMode(COPTER_MODES.LAND!);
      case MAV_CMD.NAV_RETURN_TO_LAUNCH:
        return this.setMode(COPTER_MODES.RTL!);
      case MAV_CMD.DO_SET_MODE:
        if ((p(1) & MAV_MODE_FLAG.CUSTOM_MODE_ENABLED) === 0) return MAV_RESULT.DENIED;
        return this.setMode(p(2));
      case MAV_CMD.SET_MESSAGE_INTERVAL: {
        // As ArduPilot: any message it can send, at the interval asked (0: its default rate, -1: off).
        const def = this.registry.byId(p(1));
        if (!def || !this.intervals.has(def.name)) return MAV_RESULT.DENIED;
        const us = p(2);
        const defaultHz = STREAMS.find(([n]) => n === def.name)?.[1] ?? EXTRA_DEFAULT_HZ;
        this.intervals.set(def.name, us < 0 ? 0 : us === 0 ? 1000 / defaultHz : us / 1000);
        return MAV_RESULT.ACCEPTED;
      }
      case MAV_CMD.REQUEST_MESSAGE: {
        const def = this.registry.byId(p(1));
        if (!def || !this.intervals.has(def.name)) return MAV_RESULT.DENIED;
        this.emit(this.telemetry(def.name, Date.now()));
        return MAV_RESULT.ACCEPTED;
      }
      default:
        return MAV_RESULT.UNSUPPORTED;
    }
  }
}
