/**
 * A download in progress, on disk so that it survives a dropped link or a restart:
 * `NAME.part` holds the bytes at their offsets in the log, `NAME.part.json` the map of
 * the chunks that are on disk (written after the bytes, so it never claims more than
 * the file holds). With a key, the bytes are encrypted at rest from the first write:
 * AES-256-CTR at their offset (random access), under a key derived from the recording
 * key, and sealed with AES-256-GCM like a recording when the download completes.
 */
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { DirectoryGrant } from '../../residency/gate.js';
import { createFile, openFileIn, readFileIn, removeFile, replaceWholeFile, writeAll } from '../files.js';
import { ChunkMap, LOG_CHUNK } from './chunk-map.js';
import type { ChunkTarget, LogEntry, LogVehicle } from './log-protocol.js';

const STATE_FORMAT = 'mavgate partial onboard log 1';
/** Written at least this often while data arrives, and whenever this much is waiting. */
const FLUSH_MS = 250;
const FLUSH_BYTES = 512 * 1024;

export interface PartialState {
  format: typeof STATE_FORMAT;
  /** The name the finished log will have. */
  file: string;
  sysid: number;
  compid: number;
  autopilot: number;
  log_id: number;
  /** The size the vehicle's list gave. */
  size: number;
  /** Where the log really ended, when that was before `size`. */
  ends_at?: number;
  time_utc: number;
  started_at: string;
  encrypted: boolean;
  /** The CTR stream's initial counter, hex (encrypted only). */
  iv?: string;
  /** The chunks on disk: a bit per chunk, base64. */
  chunks: string;
}

/** The partial file's own key, derived from the recording key (a key is used for one mode only). */
export function partialKey(key: Buffer, iv: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, iv, 'mavgate onboard log partial', 32));
}

/** The partial file's cipher at byte `offset`: AES-256-CTR with the counter advanced to that block. */
export function partialCipher(subkey: Buffer, iv: Buffer, offset: number) {
  const counter = Buffer.from(iv);
  let add = BigInt(Math.floor(offset / 16));
  for (let i = 15; i >= 0 && add > 0n; i--) {
    const sum = BigInt(counter[i]!) + (add & 0xffn);
    counter[i] = Number(sum & 0xffn);
    add = (add >> 8n) + (sum >> 8n);
  }
  const cipher = createCipheriv('aes-256-ctr', subkey, counter);
  cipher.update(Buffer.alloc(offset % 16));
  return cipher;
}

export class PartialLog implements ChunkTarget {
  /** The chunks received (in memory: some may still be waiting to be written). */
  readonly map: ChunkMap;
  /** The chunks on disk: what the state file records. */
  private readonly durable: ChunkMap;
  private pending: { offset: number; bytes: Buffer }[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;
  /** Bytes already on disk when this session opened it. */
  readonly resumedBytes: number;
  private readonly cipher: { subkey: Buffer; iv: Buffer } | null;

  private constructor(
    private readonly grant: DirectoryGrant,
    readonly state: PartialState,
    private readonly handle: FileHandle,
    key: Buffer | null,
    /** Told of a write error (a full disk): the download should stop. */
    private readonly onError: (err: Error) => void,
  ) {
    this.durable = ChunkMap.fromBase64(state.size, state.chunks);
    if (state.ends_at !== undefined) this.durable.truncate(state.ends_at);
    this.map = ChunkMap.fromBase64(state.size, state.chunks);
    if (state.ends_at !== undefined) this.map.truncate(state.ends_at);
    this.resumedBytes = this.map.receivedBytes;
    const iv = key && Buffer.from(state.iv!, 'hex');
    this.cipher = key && iv ? { subkey: partialKey(key, iv), iv } : null;
  }

  static stateName(file: string): string {
    return `${file}.part.json`;
  }

  /** The state of a partial download of `file`, if there is one this key can continue. */
  static find(grant: DirectoryGrant, file: string): PartialState | null {
    const text = readFileIn(grant, PartialLog.stateName(file));
    if (!text) return null;
    try {
      const state = JSON.parse(text) as PartialState;
      return state.format === STATE_FORMAT ? state : null;
    } catch {
      return null;
    }
  }

  /**
   * Continues the partial download of `file` when there is one for the same log (vehicle,
   * id, size, time) made with the same kind of key; otherwise starts a new one.
   */
  static async open(grant: DirectoryGrant, file: string, vehicle: LogVehicle, entry: LogEntry, key: Buffer | null, onError: (err: Error) => void): Promise<PartialLog> {
    const found = PartialLog.find(grant, file);
    const same = found && found.sysid === vehicle.sysid && found.log_id === entry.id && found.size === entry.size
      && found.time_utc === entry.timeUtc && found.encrypted === (key !== null);
    if (same) {
      try {
        return new PartialLog(grant, found, await openFileIn(grant, `${file}.part`, 'r+'), key, onError);
      } catch {
        // The data file is gone: start again.
      }
    }
    PartialLog.remove(grant, file);
    const state: PartialState = {
      format: STATE_FORMAT, file, sysid: vehicle.sysid, compid: vehicle.compid, autopilot: vehicle.autopilot, log_id: entry.id, size: entry.size,
      time_utc: entry.timeUtc, started_at: new Date().toISOString(), encrypted: key !== null,
      ...(key ? { iv: randomBytes(16).toString('hex') } : {}), chunks: new ChunkMap(entry.size).toBase64(),
    };
    const handle = await createFile(grant, `${file}.part`);
    replaceWholeFile(grant, PartialLog.stateName(file), `${JSON.stringify(state)}\n`);
    return new PartialLog(grant, state, handle, key, onError);
  }

  /** Removes a partial download's files (a new start, or the log is complete). */
  static remove(grant: DirectoryGrant, file: string): void {
    for (const name of [`${file}.part`, PartialLog.stateName(file)]) {
      try {
        removeFile(grant, name);
      } catch {
        // Not there.
      }
    }
  }

  write(offset: number, bytes: Buffer): void {
    this.pending.push({ offset, bytes: Buffer.from(bytes) });
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= FLUSH_BYTES) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** Writes what is waiting, then the map of what is on disk. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.flushing = this.flushing.then(() => this.writeBatch(batch)).catch((err: Error) => {
      if (!this.failure) {
        this.failure = err;
        this.onError(err);
      }
    });
    return this.flushing;
  }

  private async writeBatch(batch: { offset: number; bytes: Buffer }[]): Promise<void> {
    if (this.failure) throw this.failure;
    if (batch.length > 0) {
      batch.sort((a, b) => a.offset - b.offset);
      // Contiguous chunks go out in one write.
      for (let i = 0; i < batch.length;) {
        let j = i + 1;
        while (j < batch.length && batch[j]!.offset === batch[j - 1]!.offset + batch[j - 1]!.bytes.length) j++;
        const run = batch.slice(i, j);
        const offset = run[0]!.offset;
        let bytes = run.length === 1 ? run[0]!.bytes : Buffer.concat(run.map((c) => c.bytes));
        if (this.cipher) bytes = partialCipher(this.cipher.subkey, this.cipher.iv, offset).update(bytes);
        await writeAll(this.handle, bytes, offset);
        for (const c of run) this.durable.mark(c.offset / LOG_CHUNK);
        i = j;
      }
    }
    if (this.map.size < this.durable.size) this.durable.truncate(this.map.size);
    this.state.chunks = this.durable.toBase64();
    if (this.map.size < this.state.size) this.state.ends_at = this.map.size;
    replaceWholeFile(this.grant, PartialLog.stateName(this.state.file), `${JSON.stringify(this.state)}\n`);
  }

  /** Everything written and the file closed; throws the write error that stopped it, if any. */
  async close(): Promise<void> {
    await this.flush();
    await this.handle.close();
    if (this.failure) throw this.failure;
  }
}
