/**
 * MAVLink's log protocol, ground side: the list of a vehicle's onboard logs
 * (LOG_REQUEST_LIST → LOG_ENTRY) and a log's bytes (LOG_REQUEST_DATA → LOG_DATA, 90 bytes
 * each), as QGroundControl and MAVProxy download them:
 * - the whole log is asked for in one request; what went missing is asked for again,
 *   gap by gap, only once the vehicle has finished the range it was sending (ArduPilot
 *   ignores a request while it sends, so asking earlier only loses the request);
 * - a range that ends (its last chunk arrived) is followed at once by the next; a vehicle
 *   that goes quiet for `replyTimeoutMs` is asked again; one quiet for `stallTimeoutMs`
 *   fails the download, which keeps what it has for the next attempt;
 * - LOG_REQUEST_END when done, so the autopilot resumes logging.
 * It knows no transport: frames come in through `receive`, messages go out through the
 * `send` it is given, so the same client works on a link of its own or inside a gateway.
 */
import { type Frame, MAV_AUTOPILOT, type OutgoingMessage } from '../../mavlink/index.js';
import { ChunkMap, LOG_CHUNK } from './chunk-map.js';

export interface LogEntry {
  id: number;
  size: number;
  /** When the log was started, UNIX seconds; 0 when the vehicle did not know the time. */
  timeUtc: number;
}

export interface LogVehicle {
  sysid: number;
  compid: number;
  /** MAV_AUTOPILOT: ArduPilot logs are DataFlash (.bin), PX4's ULog (.ulg). */
  autopilot: number;
}

/** Where a downloaded chunk goes. */
export interface ChunkTarget {
  readonly map: ChunkMap;
  /** `bytes` is a view into the received frame, valid only during the call: keep a copy. */
  write(offset: number, bytes: Buffer): void;
}

export interface ProtocolTimeouts {
  /** Ask again when the vehicle sends nothing for this long (QGroundControl: 500 ms). */
  replyTimeoutMs: number;
  /** Give up (keeping what arrived) when nothing new arrives for this long. */
  stallTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: ProtocolTimeouts = { replyTimeoutMs: 500, stallTimeoutMs: 20_000 };

export class LogProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogProtocolError';
  }
}

export class LogDownloadCancelled extends Error {
  constructor() {
    super('download cancelled');
    this.name = 'LogDownloadCancelled';
  }
}

/** LOG_DATA's payload: ofs (u32), id (u16), count (u8), data (u8[90]). */
const LOG_DATA_PAYLOAD = 7 + LOG_CHUNK;

export interface TransferCounters {
  /** LOG_REQUEST_DATA sent. */
  requests: number;
  /** Chunks that arrived although already there (a re-asked range overlapping what was had). */
  duplicates: number;
  /** New chunks this download (the counters start again with each download). */
  chunks: number;
  /** When this session's first new chunk arrived, and the latest. */
  firstAt: number;
  lastAt: number;
}

export class LogTransferClient {
  private onEntry: ((fields: Record<string, unknown>) => void) | null = null;
  private active: { id: number; target: ChunkTarget; lastChunk: number; wake: () => void; check: () => void; lastDataAt: number; answered: boolean } | null = null;
  readonly counters: TransferCounters = { requests: 0, duplicates: 0, chunks: 0, firstAt: 0, lastAt: 0 };
  /** Milliseconds from asking to the first chunk of the answer, measured: how long a gap costs. */
  private roundTripMs = 100;
  private requestedAt = 0;

  constructor(
    private readonly send: (message: OutgoingMessage) => void,
    readonly vehicle: LogVehicle,
    private readonly timeouts: ProtocolTimeouts = DEFAULT_TIMEOUTS,
    private readonly now: () => number = Date.now,
  ) {}

  private get target() {
    return { target_system: this.vehicle.sysid, target_component: this.vehicle.compid };
  }

  /** Every frame from the vehicle's side; only its log messages are looked at. */
  receive(frame: Frame): void {
    if (frame.sysid !== this.vehicle.sysid || !frame.verified) return;
    if (frame.name === 'LOG_DATA') this.data(frame);
    else if (frame.name === 'LOG_ENTRY' && this.onEntry) this.onEntry(frame.decode()!);
  }

  /**
   * The vehicle's logs. Missing entries are asked for again (up to three times, as
   * QGroundControl does); `complete` is false when some never came.
   */
  async list(timeoutMs = 1500): Promise<{ entries: LogEntry[]; complete: boolean }> {
    const entries = new Map<number, LogEntry>();
    let total: number | null = null;
    let retries = 0;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const finish = (complete: boolean) => {
        clearTimeout(timer);
        this.onEntry = null;
        resolve({ entries: [...entries.values()].sort((a, b) => a.id - b.id), complete });
      };
      const ask = () => {
        this.send({ name: 'LOG_REQUEST_LIST', fields: { ...this.target, start: 0, end: 0xffff } });
        timer = setTimeout(() => {
          if (retries++ < 3) return ask();
          this.onEntry = null;
          if (total === null) reject(new LogProtocolError(`vehicle ${this.vehicle.sysid} sent no LOG_ENTRY within ${(4 * timeoutMs) / 1000} s: is the link up, the vehicle disarmed, and does it keep onboard logs?`));
          else finish(false);
        }, timeoutMs);
      };
      this.onEntry = (f) => {
        total = Number(f.num_logs);
        if (total === 0) return finish(true);
        const size = Number(f.size);
        // ArduPilot lists an empty slot (size 0) where a log was erased: not a log to download.
        if (size > 0 || this.vehicle.autopilot !== MAV_AUTOPILOT.ARDUPILOTMEGA) entries.set(Number(f.id), { id: Number(f.id), size, timeUtc: Number(f.time_utc) });
        else total--;
        if (entries.size >= total) finish(true);
        else {
          clearTimeout(timer);
          timer = setTimeout(() => (retries++ < 3 ? ask() : finish(false)), timeoutMs);
        }
      };
      ask();
    });
  }

  /**
   * Fills `target` with log `entry`'s bytes, asking only for the chunks its map lacks.
   * Resolves when every chunk is there; rejects with LogProtocolError when the vehicle
   * stops answering, or LogDownloadCancelled when `signal` aborts. Either way what
   * arrived stays in `target`.
   */
  async download(entry: LogEntry, target: ChunkTarget, signal?: AbortSignal): Promise<void> {
    const map = target.map;
    Object.assign(this.counters, { requests: 0, duplicates: 0, chunks: 0, firstAt: 0, lastAt: 0 });
    let lastProgressAt = this.now();
    let lastCount = map.received;
    try {
      while (!map.complete) {
        if (signal?.aborted) throw new LogDownloadCancelled();
        // Asking again for a few chunks costs less than another round trip: merge gaps
        // separated by what the link carries in one round trip.
        const rate = this.rate();
        const hole = Math.max(4, Math.min(2048, Math.round((rate * this.roundTripMs) / 1000 / LOG_CHUNK)));
        const range = map.nextRequest(hole)!;
        this.counters.requests++;
        this.requestedAt = this.now();
        this.send({ name: 'LOG_REQUEST_DATA', fields: { ...this.target, id: entry.id, ofs: range.offset, count: range.count } });
        await this.rangeEnd(entry.id, target, Math.ceil((range.offset + range.count) / LOG_CHUNK) - 1, signal);
        if (map.received > lastCount) {
          lastCount = map.received;
          lastProgressAt = this.now();
        } else if (this.now() - lastProgressAt >= this.timeouts.stallTimeoutMs) {
          throw new LogProtocolError(`vehicle ${this.vehicle.sysid} sent nothing of log ${entry.id} for ${this.timeouts.stallTimeoutMs / 1000} s (${map.receivedBytes} of ${map.size} bytes kept: run the download again to continue)`);
        }
      }
    } finally {
      this.active = null;
      this.send({ name: 'LOG_REQUEST_END', fields: this.target });
    }
  }

  /** Bytes per second of new data so far this session (a modest guess before any arrived). */
  rate(): number {
    const { chunks, firstAt, lastAt } = this.counters;
    if (chunks < 2 || lastAt <= firstAt) return 50_000;
    return ((chunks - 1) * LOG_CHUNK * 1000) / (lastAt - firstAt);
  }

  /**
   * How long a silence means the range is over once data flowed: twenty chunks' time at
   * the measured rate (at least 50 ms). A vehicle that drops the range's last chunk then
   * costs that, not a whole reply timeout.
   */
  private quietMs(): number {
    const { chunks, firstAt, lastAt } = this.counters;
    const perChunk = chunks > 1 ? (lastAt - firstAt) / (chunks - 1) : this.timeouts.replyTimeoutMs;
    return Math.min(this.timeouts.replyTimeoutMs, Math.max(50, 20 * perChunk));
  }

  /** Resolves when chunk `lastChunk` (the range's end) or the log's end arrives, or the vehicle goes quiet. */
  private rangeEnd(id: number, target: ChunkTarget, lastChunk: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        if (this.active?.wake === done) this.active = null;
        resolve();
      };
      const check = () => {
        const active = this.active;
        if (!active) return done();
        const limit = active.answered ? this.quietMs() : this.timeouts.replyTimeoutMs;
        const quiet = this.now() - active.lastDataAt;
        if (quiet >= limit) return done();
        clearTimeout(timer);
        timer = setTimeout(check, limit - quiet);
      };
      this.active = { id, target, lastChunk, wake: done, check, lastDataAt: this.now(), answered: false };
      signal?.addEventListener('abort', done);
      timer = setTimeout(check, this.timeouts.replyTimeoutMs);
    });
  }

  /** One LOG_DATA, read straight from the payload bytes (30,000 of them a second on a fast link). */
  private data(frame: Frame): void {
    const active = this.active;
    if (!active) return;
    let payload = frame.buffer;
    let p = frame.payloadOffset;
    if (frame.payloadLength < LOG_DATA_PAYLOAD) {
      // MAVLink 2 trims trailing zero bytes: put them back.
      payload = Buffer.alloc(LOG_DATA_PAYLOAD);
      frame.buffer.copy(payload, 0, p, p + frame.payloadLength);
      p = 0;
    }
    const ofs = payload.readUInt32LE(p);
    if (payload.readUInt16LE(p + 4) !== active.id || ofs % LOG_CHUNK !== 0) return;
    const count = Math.min(payload[p + 6]!, LOG_CHUNK);
    const now = this.now();
    active.lastDataAt = now;
    if (!active.answered) {
      active.answered = true;
      this.roundTripMs = Math.max(1, now - this.requestedAt);
      // From now on a shorter silence ends the range.
      active.check();
    }
    const { map } = active.target;
    const chunk = ofs / LOG_CHUNK;
    // A short chunk is the end of the log, which may come before the size the list gave.
    if (count < LOG_CHUNK) map.truncate(ofs + count);
    if (count > 0 && chunk < map.chunks) {
      if (map.has(chunk)) this.counters.duplicates++;
      else {
        active.target.write(ofs, payload.subarray(p + 7, p + 7 + count));
        map.mark(chunk);
        if (this.counters.chunks++ === 0) this.counters.firstAt = now;
        this.counters.lastAt = now;
      }
    }
    if (chunk >= active.lastChunk || count < LOG_CHUNK) active.wake();
  }
}
