/**
 * The simulated vehicle's onboard logs, served over MAVLink's log protocol as ArduPilot
 * serves its DataFlash logs (AP_Logger_MAVLinkLogTransfer):
 * - LOG_REQUEST_LIST(start, end) → one LOG_ENTRY per log, ids from 1; with no logs, a
 *   single LOG_ENTRY with id 0 and num_logs 0;
 * - LOG_REQUEST_DATA(id, ofs, count) → LOG_DATA of 90 bytes each from `ofs` until `count`
 *   bytes or the end of the log (the last one shorter; a request past the end gets one
 *   LOG_DATA with count 0), as fast as the link takes it;
 * - one transfer at a time: a request that arrives while data is still being sent is
 *   ignored, as ArduPilot ignores it, so a downloader must ask for a gap only after the
 *   previous range has arrived or timed out;
 * - LOG_REQUEST_END stops sending; an armed vehicle refuses ("Disarm for log download").
 *
 * The content is synthetic and deterministic (an AES-CTR keystream per log), so tests
 * know each log's SHA-256 without the vehicle holding tens of megabytes in memory.
 */
import { createCipheriv, createHash } from 'node:crypto';
import type { Fields, OutgoingMessage } from '../mavlink/index.js';

export const LOG_CHUNK = 90;

export interface SimLog {
  id: number;
  size: number;
  /** When the log was started, UNIX seconds (LOG_ENTRY.time_utc). */
  timeUtc: number;
}

/** A few kB to tens of MB: a short ground test, a couple of flights, a long day. */
export const SIM_LOGS: readonly SimLog[] = [
  { id: 1, size: 4_321, timeUtc: 1_782_972_000 },
  { id: 2, size: 183_000, timeUtc: 1_782_975_600 },
  { id: 3, size: 2_500_007, timeUtc: 1_782_979_200 },
  { id: 4, size: 24_000_000, timeUtc: 1_782_982_800 },
];

/** SHA-256 of each log's content, known in advance (a test checks the generator still makes them). */
export const SIM_LOG_SHA256: Readonly<Record<number, string>> = {
  1: '3b5749e85f82c1103e65903f53536d742579215ab0956e1b80381010bfa62afb',
  2: '05092d1e9e665160bba9383388945745c80b69292a0a63e3a8e8a2b62cb5dad3',
  3: '79a74ed91b5259820b5ddf8a6d455527174dbf1c402a76d960261b79a7e43bb7',
  4: 'c365388f22de457c975768efb4a0da84629b76769d669eafae278bc14b561cac',
};

export interface SimLogOptions {
  /** The logs the vehicle holds (default SIM_LOGS). */
  logs?: readonly SimLog[];
  /** Probability (0..1) that a LOG_DATA is not sent: gaps the downloader must ask for again. */
  drop?: number;
  /** Log bytes per second at most (default 8 MB/s, a flight controller on USB). */
  bytesPerSecond?: number;
}

const DEFAULT_BYTES_PER_SECOND = 8_000_000;
const TICK_MS = 5;
/** LOG_DATA frames per write: ArduPilot's SITL sends 40 per loop (AP_Logger_MAVLinkLogTransfer), in one datagram or write. */
const FRAMES_PER_WRITE = 40;

const keys = new Map<number, Buffer>();

/** `length` bytes of log `id` from `offset`: the keystream of AES-128-CTR under a key made from the id. */
export function simLogBytes(id: number, offset: number, length: number): Buffer {
  let key = keys.get(id);
  if (!key) {
    key = createHash('sha256').update(`mavgate simulated log ${id}`).digest().subarray(0, 16);
    keys.set(id, key);
  }
  const iv = Buffer.alloc(16);
  const block = Math.floor(offset / 16);
  iv.writeUInt32BE(Math.floor(block / 2 ** 32), 8);
  iv.writeUInt32BE(block % 2 ** 32, 12);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const skip = offset % 16;
  return cipher.update(Buffer.alloc(skip + length)).subarray(skip);
}

/** The SHA-256 of a whole simulated log, computed from its content. */
export function simLogSha256(log: SimLog): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < log.size; offset += 1 << 20) hash.update(simLogBytes(log.id, offset, Math.min(1 << 20, log.size - offset)));
  return hash.digest('hex');
}

interface Transfer {
  log: SimLog;
  offset: number;
  end: number;
  /** Set once the final LOG_DATA (short, or count 0) went out. */
  done: boolean;
}

export class OnboardLogServer {
  private readonly logs: readonly SimLog[];
  readonly drop: number;
  private readonly bytesPerSecond: number;
  private transfer: Transfer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private budget = 0;
  private lastTick = 0;
  private warnedArmed = false;
  /** LOG_DATA frames left out on purpose (the `drop` option). */
  dropped = 0;
  /** Log bytes sent (or left out) since the vehicle started. */
  sentBytes = 0;
  /** LOG_REQUEST_DATA ignored because a transfer was running. */
  ignoredRequests = 0;

  constructor(
    options: SimLogOptions,
    /** Sends messages to the ground, in one write when there are several. */
    private readonly send: (messages: OutgoingMessage[]) => void,
    private readonly armed: () => boolean,
    private readonly random: () => number,
  ) {
    this.logs = options.logs ?? SIM_LOGS;
    this.drop = options.drop ?? 0;
    this.bytesPerSecond = options.bytesPerSecond ?? DEFAULT_BYTES_PER_SECOND;
  }

  /** Handles a log protocol message; false for any other message. */
  handle(name: string, f: Fields): boolean {
    switch (name) {
      case 'LOG_REQUEST_LIST': this.list(f); return true;
      case 'LOG_REQUEST_DATA': this.request(f); return true;
      case 'LOG_REQUEST_END': this.end(); return true;
      case 'LOG_ERASE': return true;
      default: return false;
    }
  }

  stop(): void {
    this.end();
  }

  get sending(): boolean {
    return this.transfer !== null;
  }

  private refusedWhileArmed(): boolean {
    if (!this.armed()) {
      this.warnedArmed = false;
      return false;
    }
    if (!this.warnedArmed) this.send([{ name: 'STATUSTEXT', fields: { severity: 3, text: 'Disarm for log download' } }]);
    this.warnedArmed = true;
    return true;
  }

  private list(f: Fields): void {
    if (this.refusedWhileArmed()) return;
    const n = this.logs.length;
    if (n === 0) return this.send([{ name: 'LOG_ENTRY', fields: { id: 0, num_logs: 0, last_log_num: 0, time_utc: 0, size: 0 } }]);
    const first = Math.max(1, Number(f.start));
    const last = Math.min(n, Number(f.end));
    const entries: OutgoingMessage[] = [];
    for (let id = first; id <= last; id++) {
      const log = this.logs[id - 1]!;
      entries.push({ name: 'LOG_ENTRY', fields: { id, num_logs: n, last_log_num: last, time_utc: log.timeUtc, size: log.size } });
    }
    for (let i = 0; i < entries.length; i += FRAMES_PER_WRITE) this.send(entries.slice(i, i + FRAMES_PER_WRITE));
  }

  private request(f: Fields): void {
    if (this.refusedWhileArmed()) return;
    if (this.transfer) {
      this.ignoredRequests++;
      return;
    }
    const log = this.logs[Number(f.id) - 1];
    if (!log) return;
    const offset = Number(f.ofs);
    const end = Math.min(log.size, offset + Number(f.count));
    this.transfer = { log, offset, end, done: false };
    this.budget = (TICK_MS * this.bytesPerSecond) / 1000;
    this.lastTick = Date.now();
    this.pump();
    if (this.transfer && !this.timer) this.timer = setInterval(() => this.pump(), TICK_MS);
  }

  private end(): void {
    this.transfer = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends what the rate allows since the last tick. */
  private pump(): void {
    const t = this.transfer;
    if (!t) return;
    const now = Date.now();
    // At most two ticks of catch-up: a stalled event loop must not burst a megabyte at once.
    this.budget = Math.min(this.budget + ((now - this.lastTick) / 1000) * this.bytesPerSecond, (2 * TICK_MS * this.bytesPerSecond) / 1000 + LOG_CHUNK);
    this.lastTick = now;
    let batch: OutgoingMessage[] = [];
    // This tick's content in one piece (one cipher), cut into chunks below.
    const first = t.offset;
    const content = simLogBytes(t.log.id, first, Math.max(0, Math.min(t.end - first, Math.floor(this.budget / LOG_CHUNK) * LOG_CHUNK)));
    while (!t.done && this.budget >= LOG_CHUNK) {
      const count = Math.max(0, Math.min(LOG_CHUNK, t.end - t.offset));
      const data = content.subarray(t.offset - first, t.offset - first + count);
      const message = { name: 'LOG_DATA', fields: { id: t.log.id, ofs: t.offset, count, data } };
      if (this.drop > 0 && this.random() < this.drop) this.dropped++;
      else batch.push(message);
      t.offset += count;
      this.sentBytes += count;
      this.budget -= LOG_CHUNK;
      // Done after a short chunk (the end of the log) or when the range is sent, as ArduPilot stops.
      if (count < LOG_CHUNK || t.offset >= t.end) t.done = true;
      if (batch.length === FRAMES_PER_WRITE) {
        this.send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.send(batch);
    if (t.done) this.end();
  }
}
