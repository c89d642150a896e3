/**
 * Each link's quality over the last minutes, sampled once a second: frames and bytes per
 * second, loss, and the radio's own view from RADIO_STATUS (RSSI, remote RSSI, noise) as
 * it arrived on that link. And the diagnosis an operator needs when bytes arrive but no
 * vehicle appears: frames failing their signature, their checksum, or of a dialect not
 * loaded, with the likely cause and the fix. The dashboard draws the samples; the log
 * says the diagnosis once when it starts, at most once a minute while it lasts, and when
 * it ends.
 */
import { EventStream, type Subscribable } from '../events/event-stream.js';
import type { Frame, MessageRegistry } from '../mavlink/index.js';
import type { Router } from './router.js';

/** What the monitor reads of a link, once a second (the gateway's link statistics). */
export interface MonitoredLink {
  id: string;
  endpoint: string;
  bytesIn: number;
  framesIn: number;
  crcErrors: number;
  unknownFrames: number;
  bytesSkipped: number;
  /** Loss from sequence gaps over the run, 0..1. */
  lossRate: number;
  signing?: { badSignature: number; unsignedDropped: number };
}

export interface LinkSample {
  /** Wall time, ms. */
  at: number;
  framesPerSecond: number;
  bytesPerSecond: number;
  /** Loss from sequence gaps over this second, 0..1 (null: no frame to judge by). */
  loss: number | null;
  /** RADIO_STATUS heard on this link in the last few seconds (SiK units: RSSI 0..255). */
  rssi: number | null;
  remrssi: number | null;
  noise: number | null;
  remnoise: number | null;
}

export type DiagnosisKind = 'signature' | 'unsigned' | 'checksum' | 'dialect' | 'not-mavlink';

export interface LinkDiagnosis {
  kind: DiagnosisKind;
  /** What is happening, its likely cause and the fix, in one sentence for the log and the dashboard. */
  message: string;
  /** Wall time it started, ms. */
  since: number;
}

export type LinkMonitorEvent =
  | { type: 'diagnosis'; link: string; endpoint: string; diagnosis: LinkDiagnosis; repeat: boolean }
  | { type: 'cleared'; link: string; endpoint: string; diagnosis: LinkDiagnosis };

/** Ten minutes of one-second samples. */
export const HISTORY_SECONDS = 600;
/** A diagnosis looks at this many seconds of counters. */
const WINDOW_SECONDS = 5;
/** Fewer bytes than this in the window prove nothing. */
const MIN_BYTES = 200;
const RADIO_FRESH_MS = 5000;
const REPEAT_MS = 60_000;

interface Counters {
  bytesIn: number;
  framesIn: number;
  crcErrors: number;
  unknownFrames: number;
  bytesSkipped: number;
  badSignature: number;
  unsignedDropped: number;
  lost: number;
  received: number;
}

function countersOf(l: MonitoredLink): Counters {
  const received = l.framesIn;
  // Loss rate is over the whole run; the per-second figure comes from the change in lost and received frames.
  const lost = l.lossRate >= 1 ? 0 : Math.round((l.lossRate * received) / (1 - l.lossRate));
  return {
    bytesIn: l.bytesIn, framesIn: l.framesIn, crcErrors: l.crcErrors, unknownFrames: l.unknownFrames, bytesSkipped: l.bytesSkipped,
    badSignature: l.signing?.badSignature ?? 0, unsignedDropped: l.signing?.unsignedDropped ?? 0, lost, received,
  };
}

/** The diagnosis for `d`, the change in counters over the window, or null when frames get through. */
export function diagnose(d: Counters, endpoint: string, dialects: string): Omit<LinkDiagnosis, 'since'> | null {
  const good = d.framesIn - d.unknownFrames;
  const bad = d.crcErrors + d.unknownFrames + d.badSignature + d.unsignedDropped;
  if (d.bytesIn < MIN_BYTES || (good > 0 && good >= bad)) return null;
  const serial = endpoint.startsWith('serial:') || endpoint.startsWith('profile:');
  if (d.badSignature > 0 && d.badSignature >= d.crcErrors) {
    return { kind: 'signature', message: `frames arrive but fail their signature (${d.badSignature} in ${WINDOW_SECONDS} s): the vehicle signs with another key than this link's --signing-key; give mavgate the vehicle's key, or set the key up again with mavgate key setup` };
  }
  if (d.unsignedDropped > 0 && d.unsignedDropped >= d.crcErrors) {
    return { kind: 'unsigned', message: `frames arrive unsigned and are dropped (${d.unsignedDropped} in ${WINDOW_SECONDS} s): the vehicle does not sign; set signing up with mavgate key setup, or run without --require-signed` };
  }
  if (d.unknownFrames > d.crcErrors) {
    return { kind: 'dialect', message: `frames arrive with message ids no loaded dialect knows (${d.unknownFrames} in ${WINDOW_SECONDS} s; loaded: ${dialects}): give the vehicle's dialect with --dialect (ardupilotmega, common, …) or leave --dialect out for all of them` };
  }
  if (d.crcErrors > 0) {
    return { kind: 'checksum', message: `frames arrive but fail their checksum (${d.crcErrors} in ${WINDOW_SECONDS} s): ${serial ? 'likely a wrong baud rate (SiK radios 57600, an autopilot on USB 115200), else ' : ''}a noisy link or a vehicle whose message definitions differ from the loaded dialects` };
  }
  return { kind: 'not-mavlink', message: `${d.bytesIn} bytes in ${WINDOW_SECONDS} s but no MAVLink frame: ${serial ? 'likely a wrong baud rate, or ' : ''}the other end speaks another protocol (NMEA GPS, a modem, a console)` };
}

interface LinkWatch {
  endpoint: string;
  samples: LinkSample[];
  window: Counters[];
  diagnosis: LinkDiagnosis | null;
  lastSaid: number;
  radio: { at: number; rssi: number; remrssi: number; noise: number; remnoise: number } | null;
}

export class LinkMonitor {
  private readonly links = new Map<string, LinkWatch>();
  private readonly events = new EventStream<LinkMonitorEvent>();
  readonly events$: Subscribable<LinkMonitorEvent> = this.events;
  private timer: NodeJS.Timeout | null = null;
  private readonly unsubscribe: () => void;

  /** The loaded dialects, as a diagnosis names them. */
  private readonly dialects: string;

  constructor(
    private readonly stats: () => MonitoredLink[],
    router: Router,
    registry: MessageRegistry,
    private readonly now: () => number = Date.now,
  ) {
    this.dialects = registry.dialects.join(', ');
    const radioStatus = registry.byName('RADIO_STATUS')?.id;
    this.unsubscribe = router.onFrame((frame, from) => {
      if (frame.msgid === radioStatus && from.endpoint.role === 'link') this.radio(from.endpoint.id, frame);
    });
  }

  private watch(id: string, endpoint: string): LinkWatch {
    let w = this.links.get(id);
    if (!w) {
      w = { endpoint, samples: [], window: [], diagnosis: null, lastSaid: 0, radio: null };
      this.links.set(id, w);
    }
    return w;
  }

  private radio(id: string, frame: Frame): void {
    const w = this.links.get(id);
    const f = frame.decode();
    if (!w || !f) return;
    w.radio = { at: this.now(), rssi: f.rssi as number, remrssi: f.remrssi as number, noise: f.noise as number, remnoise: f.remnoise as number };
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  /** Takes one sample of every link (the timer calls it every second; tests may call it directly). */
  sample(): void {
    const at = this.now();
    const current = this.stats();
    for (const id of this.links.keys()) if (!current.some((l) => l.id === id)) this.links.delete(id);
    for (const l of current) {
      const w = this.watch(l.id, l.endpoint);
      const counters = countersOf(l);
      const previous = w.window.at(-1);
      w.window.push(counters);
      if (w.window.length > WINDOW_SECONDS + 1) w.window.shift();
      if (previous) {
        const received = counters.received - previous.received;
        const lost = counters.lost - previous.lost;
        const fresh = w.radio && at - w.radio.at < RADIO_FRESH_MS ? w.radio : null;
        w.samples.push({
          at,
          framesPerSecond: counters.framesIn - previous.framesIn,
          bytesPerSecond: counters.bytesIn - previous.bytesIn,
          loss: received + lost > 0 ? Math.max(0, lost) / (received + Math.max(0, lost)) : null,
          rssi: fresh?.rssi ?? null, remrssi: fresh?.remrssi ?? null, noise: fresh?.noise ?? null, remnoise: fresh?.remnoise ?? null,
        });
        if (w.samples.length > HISTORY_SECONDS) w.samples.shift();
      }
      this.judge(l.id, w, at);
    }
  }

  private judge(id: string, w: LinkWatch, at: number): void {
    const first = w.window[0]!;
    const last = w.window.at(-1)!;
    const delta = Object.fromEntries(Object.keys(last).map((k) => [k, last[k as keyof Counters] - first[k as keyof Counters]])) as unknown as Counters;
    const found = w.window.length > 1 ? diagnose(delta, w.endpoint, this.dialects) : null;
    if (!found) {
      if (w.diagnosis) this.events.next({ type: 'cleared', link: id, endpoint: w.endpoint, diagnosis: w.diagnosis });
      w.diagnosis = null;
      return;
    }
    const changed = w.diagnosis?.kind !== found.kind;
    w.diagnosis = { ...found, since: changed ? at : w.diagnosis!.since };
    if (changed || at - w.lastSaid >= REPEAT_MS) {
      w.lastSaid = at;
      this.events.next({ type: 'diagnosis', link: id, endpoint: w.endpoint, diagnosis: w.diagnosis, repeat: !changed });
    }
  }

  /** The link's samples, oldest first, newer than `since` (ms). */
  history(id: string, since = 0): LinkSample[] {
    return (this.links.get(id)?.samples ?? []).filter((s) => s.at > since);
  }

  diagnosis(id: string): LinkDiagnosis | null {
    return this.links.get(id)?.diagnosis ?? null;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe();
    this.events.complete();
  }
}
