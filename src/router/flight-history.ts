/**
 * What happened, kept by the gateway so that an operator's page that reloads (or opens
 * late) sees it again: each vehicle's track, and a timeline of what the vehicles said
 * (STATUSTEXT, by severity), their mode and arming changes, failsafes, vehicles lost and
 * back, links going down and up. Bounded: the track thins out (every other point) past
 * its limit, the timeline keeps its newest events. Track points and status texts keep
 * their frame, so that a reader sees them through its role's residency filter.
 */
import type { Frame, MessageRegistry } from '../mavlink/index.js';
import type { Router } from './router.js';
import { HEARTBEAT_OFFSETS, type VehicleEvent, type VehicleStateStore } from './vehicle-state.js';

/** GPS_FIX_TYPE_2D_FIX: below it (no GPS, no fix) an autopilot's position is a guess, often 0,0. */
export const FIRST_FIX = 2;

/** A position worth drawing: not 0,0, and not while the vehicle's GPS reports less than a 2D fix. */
export function hasFix(lat: number, lon: number, fixType: number | undefined): boolean {
  return (lat !== 0 || lon !== 0) && (fixType ?? FIRST_FIX) >= FIRST_FIX;
}

/** MAV_SEVERITY: 0 emergency … 7 debug. */
export const SEVERITY = { emergency: 0, alert: 1, critical: 2, error: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

export interface TrackPoint {
  /** Wall time, ms. */
  at: number;
  /** The GLOBAL_POSITION_INT frame, as it arrived. */
  frame: Buffer;
}

export type TimelineKind = 'text' | 'mode' | 'arming' | 'failsafe' | 'lost' | 'back' | 'seen' | 'link';

export interface TimelineEvent {
  /** Increasing with each event: a reader asks for what came after the last it saw. */
  seq: number;
  at: number;
  kind: TimelineKind;
  severity: number;
  sysid?: number;
  text: string;
  /** A STATUSTEXT's frame, for the reader's residency filter. */
  frame?: Buffer;
}

/**
 * Mode or arming changes of one vehicle closer together than this are one event on the
 * timeline, told with their count: no pilot switches modes that fast, and a heartbeat
 * that changes on every frame filled the timeline with thousands of events a second.
 */
const FLAPPING_GAP_MS = 1_000;
/** A merged event stops growing after this long: a flood that goes on gets one event per span. */
const FLAPPING_SPAN_MS = 10_000;
/** A run goes on while its event is among this many newest (its mode's and its arming's runs interleave). */
const FLAPPING_NEIGHBOURS = 4;
const MAX_TRACK_POINTS = 4000;
const MAX_EVENTS = 1000;
/** A new track point when the vehicle moved this far (1e-7 degrees, about 1 m), or this long passed. */
const MIN_MOVE_E7 = 9;
const MAX_INTERVAL_MS = 10_000;
const MAV_STATE_CRITICAL = 5;
const MAV_STATE_EMERGENCY = 6;

/** The newest mode or arming event of a vehicle, and whether it tells a run of changes too fast to tell one by one. */
interface Flapping {
  event: TimelineEvent;
  /** Where the run of changes started (a mode's name; '' for arming). */
  from: string;
  startedAt: number;
  changes: number;
  /** A run of fast changes, told as one event; false for a change told on its own. */
  run: boolean;
}

interface VehicleTrack {
  points: TrackPoint[];
  /** When the track was last thinned out: a reader that saw it before must read it whole again. */
  thinnedAt: number;
  last: { lat: number; lon: number; at: number } | null;
  fix: number | undefined;
  failsafe: boolean;
}

function offsetOf(registry: MessageRegistry, message: string, field: string): number {
  return registry.byName(message)?.fields.find((f) => f.name === field)?.offset ?? 0;
}

export class FlightHistory {
  private readonly tracks = new Map<number, VehicleTrack>();
  private readonly timeline: TimelineEvent[] = [];
  private seq = 0;
  /** By `sysid * 2 + (arming ? 1 : 0)`. */
  private readonly flapping = new Map<number, Flapping>();
  private readonly unsubscribe: () => void;
  private readonly subscription: { unsubscribe(): void };
  /** Where the fields read on every frame lie in their payloads. */
  private readonly at: { lat: number; lon: number; fix: number };

  constructor(router: Router, state: VehicleStateStore, registry: MessageRegistry, private readonly now: () => number = Date.now) {
    const ids = { position: registry.byName('GLOBAL_POSITION_INT')?.id, gps: registry.byName('GPS_RAW_INT')?.id, text: registry.byName('STATUSTEXT')?.id };
    this.at = { lat: offsetOf(registry, 'GLOBAL_POSITION_INT', 'lat'), lon: offsetOf(registry, 'GLOBAL_POSITION_INT', 'lon'), fix: offsetOf(registry, 'GPS_RAW_INT', 'fix_type') };
    this.unsubscribe = router.onFrame((frame) => {
      if (!frame.verified) return;
      if (frame.msgid === ids.position) this.position(frame);
      else if (frame.msgid === ids.gps) this.vehicle(frame.sysid).fix = frame.uint8(this.at.fix);
      else if (frame.msgid === ids.text) this.statusText(frame);
      else if (frame.msgid === 0) this.heartbeat(frame, state);
    });
    this.subscription = state.events$.subscribe((e) => this.vehicleEvent(e));
  }

  private vehicle(sysid: number): VehicleTrack {
    let v = this.tracks.get(sysid);
    if (!v) {
      v = { points: [], thinnedAt: 0, last: null, fix: undefined, failsafe: false };
      this.tracks.set(sysid, v);
    }
    return v;
  }

  private position(frame: Frame): void {
    // Read in place: positions come with every few frames, and most are not kept.
    const lat = frame.int32(this.at.lat);
    const lon = frame.int32(this.at.lon);
    const v = this.vehicle(frame.sysid);
    if (!hasFix(lat, lon, v.fix)) return;
    const at = this.now();
    const last = v.last;
    if (last && Math.abs(lat - last.lat) < MIN_MOVE_E7 && Math.abs(lon - last.lon) < MIN_MOVE_E7 && at - last.at < MAX_INTERVAL_MS) return;
    v.last = { lat, lon, at };
    v.points.push({ at, frame: frame.copy() });
    if (v.points.length > MAX_TRACK_POINTS) {
      // Thin out, keeping the first and the newest: the whole flight stays on the map, at half the detail.
      v.points = v.points.filter((_, i) => i % 2 === 0 || i === v.points.length - 1);
      v.thinnedAt = at;
    }
  }

  private statusText(frame: Frame): void {
    const f = frame.decode()!;
    const text = String(f.text ?? '').replace(/\0.*$/s, '');
    this.add({ kind: 'text', severity: f.severity as number, sysid: frame.sysid, text, frame: frame.copy() });
  }

  /** A failsafe shows as the autopilot's system status CRITICAL or EMERGENCY (ArduPilot and PX4 both). */
  private heartbeat(frame: Frame, state: VehicleStateStore): void {
    if (!state.get(frame.sysid, frame.compid)?.isVehicle) return;
    // Read in place: most heartbeats change nothing here.
    const status = frame.uint8(HEARTBEAT_OFFSETS.systemStatus);
    const v = this.vehicle(frame.sysid);
    const failsafe = status === MAV_STATE_CRITICAL || status === MAV_STATE_EMERGENCY;
    if (failsafe === v.failsafe) return;
    v.failsafe = failsafe;
    this.add(failsafe
      ? { kind: 'failsafe', severity: SEVERITY.alert, sysid: frame.sysid, text: `FAILSAFE: system status ${status === MAV_STATE_CRITICAL ? 'CRITICAL' : 'EMERGENCY'}` }
      : { kind: 'failsafe', severity: SEVERITY.notice, sysid: frame.sysid, text: 'failsafe cleared' });
  }

  private vehicleEvent(e: VehicleEvent): void {
    const c = e.component;
    if (!c.isVehicle || !c.heartbeat) return;
    const hb = c.heartbeat;
    if (e.type === 'seen') this.add({ kind: 'seen', severity: SEVERITY.info, sysid: c.sysid, text: `heard: ${hb.mode}, ${hb.armed ? 'armed' : 'disarmed'}` });
    else if (e.type === 'lost') this.add({ kind: 'lost', severity: SEVERITY.critical, sysid: c.sysid, text: 'LOST: no heartbeat' });
    else if (e.type === 'back') this.add({ kind: 'back', severity: SEVERITY.notice, sysid: c.sysid, text: 'heard again' });
    else if (e.type === 'mode') {
      if (e.from && e.from.armed !== hb.armed) this.change('arming', SEVERITY.notice, c.sysid, '', hb.armed ? 'ARMED' : 'disarmed');
      if (!e.from || e.from.mode !== hb.mode) this.change('mode', SEVERITY.info, c.sysid, e.from?.mode ?? '', hb.mode);
    }
  }

  /**
   * A mode or arming change: its own event; or, when it follows the one before within
   * FLAPPING_GAP_MS, one event for the run of fast changes, told again with each change
   * (it moves to the end of the sequence: a reader asks for what came after the last it saw).
   */
  private change(kind: 'mode' | 'arming', severity: number, sysid: number, from: string, to: string): void {
    const at = this.now();
    const key = sysid * 2 + (kind === 'arming' ? 1 : 0);
    const before = this.flapping.get(key);
    const describe = (start: string) => (kind === 'mode' ? `mode ${start ? `${start} → ` : ''}${to}` : to);
    // Among the newest few: a heartbeat that flaps both its mode and its arming makes two runs, one after the other.
    let i = this.timeline.length - 1;
    while (i >= 0 && i >= this.timeline.length - FLAPPING_NEIGHBOURS && this.timeline[i] !== before?.event) i--;
    const fast = before !== undefined && this.timeline[i] === before.event && at - before.event.at < FLAPPING_GAP_MS;
    if (fast && before.run && at - before.startedAt < FLAPPING_SPAN_MS) {
      if (i !== this.timeline.length - 1) this.timeline.push(...this.timeline.splice(i, 1));
      before.changes++;
      before.event.seq = ++this.seq;
      before.event.at = at;
      before.event.text = `${describe(before.from)} (${before.changes} changes in ${Math.max(1, Math.ceil((at - before.startedAt) / 1000))} s)`;
      return;
    }
    const event = this.add({ kind, severity, sysid, text: describe(from) });
    this.flapping.set(key, { event, from, startedAt: at, changes: 1, run: fast });
  }

  /** An event from outside the router's view (a link going down or up). */
  add(event: Omit<TimelineEvent, 'seq' | 'at'>): TimelineEvent {
    const added = { seq: ++this.seq, at: this.now(), ...event };
    this.timeline.push(added);
    if (this.timeline.length > MAX_EVENTS) this.timeline.shift();
    return added;
  }

  /** The timeline's events after `seq`, oldest first. */
  events(afterSeq = 0): TimelineEvent[] {
    const i = this.timeline.findIndex((e) => e.seq > afterSeq);
    return i < 0 ? [] : this.timeline.slice(i);
  }

  /** The vehicle's track points newer than `since` (ms), or all of them (`whole`) when it was thinned out since. */
  track(sysid: number, since = 0): { points: TrackPoint[]; whole: boolean } {
    const v = this.tracks.get(sysid);
    if (!v) return { points: [], whole: since === 0 };
    const whole = since === 0 || v.thinnedAt > since;
    return { points: whole ? v.points : v.points.filter((p) => p.at > since), whole };
  }

  stop(): void {
    this.unsubscribe();
    this.subscription.unsubscribe();
  }
}
