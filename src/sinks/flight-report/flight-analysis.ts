/**
 * One pass over a recording's frames, keeping only what a post-flight report shows: the
 * vehicle, each flight (armed to disarmed) and its figures, decimated time series for the
 * plots, the track, and the timeline. Everything it keeps is bounded, so memory is the
 * same for a minute's recording and a day's.
 *
 * The vehicle is the first autopilot whose HEARTBEAT is heard (mavgate records one file
 * per vehicle); its telemetry comes from that system and component. Figures are over the
 * flights (armed periods) when there are any, over the whole recording otherwise:
 * - flight time: first armed HEARTBEAT to the first disarmed one (or the recording's end);
 * - distance: great-circle path over the GLOBAL_POSITION_INT fixes while armed;
 * - max altitude: GLOBAL_POSITION_INT.relative_alt (above home);
 * - max speed: VFR_HUD.groundspeed (GLOBAL_POSITION_INT's velocity where there is none).
 */
import { ENUMS } from '../../mavlink/enum-data.js';
import { type Fields, type Frame, MAV_AUTOPILOT, MAV_MODE_FLAG, MAV_TYPE, type MessageRegistry } from '../../mavlink/index.js';
import { modeName } from '../../router/modes.js';
import { MinMaxSeries } from './decimate.js';
import { Timeline } from './timeline.js';
import { haversine, type Place, TrackCollector } from './track.js';

export interface Flight {
  start: number;
  end: number;
  durationS: number;
  distanceM: number;
  maxAltM: number | null;
  maxSpeed: number | null;
  takeoff: Place | null;
  landing: Place | null;
  /** Still armed when the recording ends. */
  armedAtEnd: boolean;
}

export interface SeriesData {
  label: string;
  /** Which y axis: the chart's unit (left), or its second unit (right). */
  axis: 'left' | 'right';
  t: number[];
  v: number[];
}

export interface ChartData {
  id: string;
  title: string;
  left: string;
  right?: string;
  series: SeriesData[];
}

export interface Analysis {
  vehicle: { sysid: number; compid: number; type: string; autopilot: string; firmware: string | null } | null;
  span: { start: number; end: number } | null;
  records: number;
  flights: Flight[];
  totals: { flightTimeS: number; distanceM: number; maxAltM: number | null; maxSpeed: number | null; over: 'flights' | 'recording' };
  battery: { startPct: number | null; endPct: number | null; usedMah: number | null; minVoltage: number | null };
  home: (Place & { altM: number | null; source: string }) | null;
  charts: ChartData[];
  track: TrackCollector;
  timeline: Timeline;
}

const LOSS_WINDOW_S = 10;
const MAX_LOSS_SOURCES = 6;

function enumName(name: string, value: number, prefix: string): string {
  return ENUMS[name]?.entries[value]?.slice(prefix.length) ?? `${name} ${value}`;
}

/** A number field, or NaN when the vehicle marks it unknown (-1, UINT16_MAX…). */
function known(v: unknown, ...unknown: number[]): number {
  const n = Number(v);
  return unknown.includes(n) ? Number.NaN : n;
}

/** First and last of a reading, overall and while armed (NaN readings are unknown). */
class Readings {
  private readonly values = { first: Number.NaN, last: Number.NaN, firstArmed: Number.NaN, lastArmed: Number.NaN };

  add(v: number, armed: boolean): void {
    if (Number.isNaN(v)) return;
    if (Number.isNaN(this.values.first)) this.values.first = v;
    this.values.last = v;
    if (!armed) return;
    if (Number.isNaN(this.values.firstArmed)) this.values.firstArmed = v;
    this.values.lastArmed = v;
  }

  first(armed: boolean): number | null {
    const v = armed ? this.values.firstArmed : this.values.first;
    return Number.isNaN(v) ? null : v;
  }

  last(armed: boolean): number | null {
    const v = armed ? this.values.lastArmed : this.values.last;
    return Number.isNaN(v) ? null : v;
  }

  change(armed: boolean): number | null {
    const a = this.first(armed);
    const b = this.last(armed);
    return a === null || b === null ? null : b - a;
  }
}

class Charted {
  readonly series = new Map<string, { label: string; axis: 'left' | 'right'; data: MinMaxSeries }>();
  constructor(readonly id: string, readonly title: string, readonly left: string, readonly right?: string) {}

  add(key: string, label: string, t: number, v: number, axis: 'left' | 'right' = 'left'): void {
    let s = this.series.get(key);
    if (!s) {
      s = { label, axis, data: new MinMaxSeries() };
      this.series.set(key, s);
    }
    s.data.add(t, v);
  }

  data(keep: (key: string, series: MinMaxSeries) => boolean = () => true): ChartData {
    const series = [...this.series.entries()].filter(([k, s]) => s.data.count > 0 && keep(k, s.data)).map(([, s]) => {
      const [t, v] = s.data.points();
      return { label: s.label, axis: s.axis, t, v };
    });
    return { id: this.id, title: this.title, left: this.left, ...(this.right ? { right: this.right } : {}), series };
  }
}

export class FlightAnalysis {
  private vehicle: { sysid: number; compid: number; type: number; autopilot: number } | null = null;
  private firmware: string | null = null;
  /** The first firmware banner (STATUSTEXT) of each source: a vehicle's boot banner comes before its first heartbeat. */
  private readonly bannerFirmware = new Map<string, string>();
  private span: { start: number; end: number } | null = null;
  private records = 0;
  private armed = false;
  private mode: number | null = null;
  private systemStatus: number | null = null;
  private flight: Flight | null = null;
  private readonly flights: Flight[] = [];
  private lastArmedFix: Place | null = null;
  private overall = { maxAlt: Number.NEGATIVE_INFINITY, maxSpeed: Number.NEGATIVE_INFINITY };
  private hasGroundSpeed = false;
  /** Battery readings: the first and last overall, and the first and last while armed. */
  private readonly charge = new Readings();
  private readonly consumed = new Readings();
  private minVoltage = Number.POSITIVE_INFINITY;
  private home: Analysis['home'] = null;
  private readonly charts = {
    altitude: new Charted('altitude', 'Altitude', 'm above home', 'm above sea level'),
    speed: new Charted('speed', 'Ground and air speed', 'm/s'),
    climb: new Charted('climb', 'Climb rate', 'm/s'),
    battery: new Charted('battery', 'Battery', 'V, A', '% remaining'),
    attitude: new Charted('attitude', 'Attitude', '°'),
    gps: new Charted('gps', 'GPS fix and satellites', 'fix type, satellites', 'HDOP'),
    vibration: new Charted('vibration', 'Vibration', 'm/s²', 'clipping'),
    link: new Charted('link', 'Link quality', '% packet loss', 'RSSI, noise (radio units)'),
  };
  private readonly loss = new Map<number, { seq: number; received: number; lost: number; windowStart: number; total: number }>();
  readonly track = new TrackCollector();
  readonly timeline = new Timeline();
  private readonly handlers = new Map<number, (f: Fields, frame: Frame, t: number) => void>();

  constructor(registry: MessageRegistry) {
    const on = (name: string, handler: (f: Fields, frame: Frame, t: number) => void) => {
      const def = registry.byName(name);
      if (def) this.handlers.set(def.id, handler);
    };
    on('HEARTBEAT', (f, frame, t) => this.heartbeat(f, frame, t));
    on('GLOBAL_POSITION_INT', (f, frame, t) => this.ours(frame) && this.position(f, t));
    on('VFR_HUD', (f, frame, t) => this.ours(frame) && this.hud(f, t));
    on('ATTITUDE', (f, frame, t) => {
      if (!this.ours(frame)) return;
      const deg = 180 / Math.PI;
      this.charts.attitude.add('roll', 'roll', t, Number(f.roll) * deg);
      this.charts.attitude.add('pitch', 'pitch', t, Number(f.pitch) * deg);
      this.charts.attitude.add('yaw', 'yaw', t, Number(f.yaw) * deg);
    });
    on('SYS_STATUS', (f, frame, t) => this.ours(frame) && this.sysStatus(f, t));
    on('BATTERY_STATUS', (f, frame) => {
      if (!this.ours(frame) || Number(f.id) !== 0) return;
      this.consumed.add(known(f.current_consumed, -1), this.flight !== null);
    });
    on('GPS_RAW_INT', (f, frame, t) => {
      if (!this.ours(frame)) return;
      this.charts.gps.add('fix', 'fix type', t, Number(f.fix_type));
      this.charts.gps.add('sats', 'satellites', t, known(f.satellites_visible, 255));
      this.charts.gps.add('hdop', 'HDOP', t, known(f.eph, 65535) / 100, 'right');
    });
    on('VIBRATION', (f, frame, t) => {
      if (!this.ours(frame)) return;
      for (const axis of ['x', 'y', 'z']) this.charts.vibration.add(axis, `vibration ${axis}`, t, Number(f[`vibration_${axis}`]));
      this.charts.vibration.add('clip', 'clipping (sum)', t, Number(f.clipping_0) + Number(f.clipping_1) + Number(f.clipping_2), 'right');
    });
    const radio = (f: Fields, _frame: Frame, t: number) => {
      this.charts.link.add('rssi', 'RSSI', t, Number(f.rssi), 'right');
      this.charts.link.add('remrssi', 'remote RSSI', t, Number(f.remrssi), 'right');
      this.charts.link.add('noise', 'noise', t, Number(f.noise), 'right');
      this.charts.link.add('remnoise', 'remote noise', t, Number(f.remnoise), 'right');
    };
    on('RADIO_STATUS', radio);
    on('RADIO', radio);
    on('HOME_POSITION', (f, frame) => {
      if (this.ours(frame)) this.home = { lat: Number(f.latitude) / 1e7, lon: Number(f.longitude) / 1e7, altM: Number(f.altitude) / 1000, source: 'HOME_POSITION' };
    });
    on('AUTOPILOT_VERSION', (f, frame) => {
      if (!this.ours(frame)) return;
      const v = Number(f.flight_sw_version);
      this.firmware = `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}${(v & 255) === 255 ? '' : ` (${enumName('FIRMWARE_VERSION_TYPE', v & 255, 'FIRMWARE_VERSION_TYPE_').toLowerCase()})`}`;
    });
    on('STATUSTEXT', (f, frame, t) => {
      const text = String(f.text);
      const banner = /^(Ardu\w+|APM:\w+|PX4)[^\n]*?\bV?\d+\.\d+(\.\d+)?[^\n]*/.exec(text)?.[0]?.trim();
      const source = `${frame.sysid}/${frame.compid}`;
      if (banner && !this.bannerFirmware.has(source)) this.bannerFirmware.set(source, banner);
      if (this.ours(frame)) this.timeline.statusText(t, Number(f.severity), text);
    });
    for (const name of ['COMMAND_LONG', 'COMMAND_INT', 'SET_MODE', 'PARAM_SET', 'MISSION_COUNT']) {
      on(name, (f, frame, t) => {
        const v = this.vehicle;
        if (!v || frame.sysid === v.sysid) return;
        const target = Number(f.target_system);
        if (target !== 0 && target !== v.sysid) return;
        this.timeline.request(t, `${frame.sysid}/${frame.compid}`, name, f);
      });
    }
    for (const name of ['COMMAND_ACK', 'PARAM_VALUE', 'MISSION_ACK']) on(name, (f, frame, t) => this.ours(frame) && this.timeline.answer(t, name, f));
  }

  private ours(frame: Frame): boolean {
    return this.vehicle !== null && frame.sysid === this.vehicle.sysid && frame.compid === this.vehicle.compid;
  }

  /** Every frame of the recording, with its record's time. */
  observe(frame: Frame, timeUs: number): void {
    const t = timeUs / 1e6;
    this.records++;
    if (this.span) {
      if (t > this.span.end) this.span.end = t;
    } else {
      this.span = { start: t, end: t };
    }
    if (frame.verified) this.sequence(frame, t);
    const handler = this.handlers.get(frame.msgid);
    if (handler && frame.verified) handler(frame.decode()!, frame, t);
  }

  /** Packet loss per source from sequence gaps, in windows of ten seconds. */
  private sequence(frame: Frame, t: number): void {
    const key = (frame.sysid << 8) | frame.compid;
    const s = this.loss.get(key);
    if (!s) {
      this.loss.set(key, { seq: frame.seq, received: 1, lost: 0, windowStart: t, total: 1 });
      return;
    }
    const gap = (frame.seq - s.seq - 1) & 0xff;
    // A large jump back is a restart (or a duplicate), not 250 lost frames.
    if (gap < 128) s.lost += gap;
    s.seq = frame.seq;
    s.received++;
    s.total++;
    if (t - s.windowStart >= LOSS_WINDOW_S) {
      this.charts.link.add(`loss ${key}`, `loss ${frame.sysid}/${frame.compid}`, (s.windowStart + t) / 2, (100 * s.lost) / (s.lost + s.received));
      s.windowStart = t;
      s.lost = 0;
      s.received = 0;
    }
  }

  private heartbeat(f: Fields, frame: Frame, t: number): void {
    const autopilot = Number(f.autopilot);
    const type = Number(f.type);
    if (!this.vehicle) {
      if (autopilot === MAV_AUTOPILOT.INVALID || type === MAV_TYPE.GCS) return;
      this.vehicle = { sysid: frame.sysid, compid: frame.compid, type, autopilot };
    }
    if (!this.ours(frame)) return;
    const armed = (Number(f.base_mode) & MAV_MODE_FLAG.SAFETY_ARMED) !== 0;
    const mode = Number(f.custom_mode);
    if (mode !== this.mode) {
      this.timeline.mode(t, modeName(autopilot, type, mode));
      this.mode = mode;
    }
    const status = Number(f.system_status);
    if (this.systemStatus !== null && status !== this.systemStatus && (status >= 5 || this.systemStatus >= 5)) this.timeline.systemStatus(t, status);
    this.systemStatus = status;
    if (armed === this.armed) return;
    this.armed = armed;
    this.timeline.arming(t, armed);
    if (armed) {
      this.flight = { start: t, end: t, durationS: 0, distanceM: 0, maxAltM: null, maxSpeed: null, takeoff: null, landing: null, armedAtEnd: false };
      this.lastArmedFix = null;
    } else if (this.flight) {
      this.endFlight(t, false);
    }
  }

  private endFlight(t: number, armedAtEnd: boolean): void {
    const flight = this.flight!;
    flight.end = t;
    flight.durationS = t - flight.start;
    flight.landing = this.lastArmedFix;
    flight.armedAtEnd = armedAtEnd;
    this.flights.push(flight);
    this.flight = null;
  }

  private position(f: Fields, t: number): void {
    const alt = Number(f.relative_alt) / 1000;
    const speed = Math.hypot(Number(f.vx), Number(f.vy)) / 100;
    this.charts.altitude.add('rel', 'above home', t, alt);
    if (alt > this.overall.maxAlt) this.overall.maxAlt = alt;
    if (!this.hasGroundSpeed && speed > this.overall.maxSpeed) this.overall.maxSpeed = speed;
    const lat = Number(f.lat) / 1e7;
    const lon = Number(f.lon) / 1e7;
    const fix = lat !== 0 || lon !== 0 ? { lat, lon } : null;
    if (fix) this.track.add({ t, lat, lon, alt, speed });
    const flight = this.flight;
    if (!flight) return;
    flight.maxAltM = Math.max(flight.maxAltM ?? alt, alt);
    if (!this.hasGroundSpeed) flight.maxSpeed = Math.max(flight.maxSpeed ?? speed, speed);
    if (!fix) return;
    if (this.lastArmedFix) flight.distanceM += haversine(this.lastArmedFix, fix);
    else flight.takeoff = fix;
    this.lastArmedFix = fix;
  }

  private hud(f: Fields, t: number): void {
    const ground = Number(f.groundspeed);
    this.hasGroundSpeed = true;
    this.charts.speed.add('ground', 'ground speed', t, ground);
    this.charts.speed.add('air', 'air speed', t, Number(f.airspeed));
    this.charts.climb.add('climb', 'climb rate', t, Number(f.climb));
    this.charts.altitude.add('msl', 'above sea level (VFR_HUD)', t, Number(f.alt), 'right');
    if (ground > this.overall.maxSpeed) this.overall.maxSpeed = ground;
    if (this.flight) this.flight.maxSpeed = Math.max(this.flight.maxSpeed ?? ground, ground);
  }

  private sysStatus(f: Fields, t: number): void {
    const volts = known(f.voltage_battery, 65535) / 1000;
    const amps = known(f.current_battery, -1) / 100;
    const pct = known(f.battery_remaining, -1);
    this.charts.battery.add('v', 'voltage (V)', t, volts);
    this.charts.battery.add('a', 'current (A)', t, amps);
    this.charts.battery.add('pct', 'remaining (%)', t, pct, 'right');
    if (volts > 0 && volts < this.minVoltage) this.minVoltage = volts;
    this.charge.add(pct, this.flight !== null);
  }

  finish(): Analysis {
    if (this.flight && this.span) this.endFlight(this.span.end, true);
    const flights = this.flights;
    const over = flights.length > 0 ? 'flights' : 'recording';
    const pick = (values: (number | null)[], fallback: number) => {
      const vs = values.filter((v): v is number => v !== null);
      return vs.length > 0 ? Math.max(...vs) : Number.isFinite(fallback) ? fallback : null;
    };
    const maxAltM = over === 'flights' ? pick(flights.map((f) => f.maxAltM), Number.NaN) : pick([], this.overall.maxAlt);
    const maxSpeed = over === 'flights' ? pick(flights.map((f) => f.maxSpeed), Number.NaN) : pick([], this.overall.maxSpeed);
    const v = this.vehicle;
    const firstTakeoff = flights.find((f) => f.takeoff)?.takeoff;
    const sources = [...this.loss.entries()].sort((a, b) => b[1].total - a[1].total).slice(0, MAX_LOSS_SOURCES).map(([k]) => `loss ${k}`);
    const flying = flights.length > 0;
    const mah = this.consumed.change(flying);
    return {
      vehicle: v && {
        sysid: v.sysid, compid: v.compid, type: enumName('MAV_TYPE', v.type, 'MAV_TYPE_'), autopilot: enumName('MAV_AUTOPILOT', v.autopilot, 'MAV_AUTOPILOT_'),
        firmware: this.firmware ?? this.bannerFirmware.get(`${v.sysid}/${v.compid}`) ?? null,
      },
      span: this.span,
      records: this.records,
      flights,
      totals: { flightTimeS: flights.reduce((s, f) => s + f.durationS, 0), distanceM: flights.reduce((s, f) => s + f.distanceM, 0), maxAltM, maxSpeed, over },
      battery: {
        startPct: this.charge.first(flying),
        endPct: this.charge.last(flying),
        usedMah: mah,
        minVoltage: Number.isFinite(this.minVoltage) ? this.minVoltage : null,
      },
      home: this.home ?? (firstTakeoff ? { ...firstTakeoff, altM: null, source: 'first take-off' } : null),
      charts: Object.values(this.charts).map((c) => c.data(c.id === 'link' ? (key) => !key.startsWith('loss') || sources.includes(key) : undefined)).filter((c) => c.series.length > 0),
      track: this.track,
      timeline: this.timeline,
    };
  }
}
