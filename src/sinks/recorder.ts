/**
 * The flight recorder: every frame the router passes, in both directions, appended to one
 * .tlog per vehicle per session, exactly as received (signatures and unknown messages
 * included), in a directory the residency gate granted.
 *
 * The router's listener only copies the frame behind a timestamp into a slab; a timer
 * writes the slabs every `flushIntervalMs`, so the link and the clients never wait for the
 * disk. What waits is bounded (`queueBytes`); past it frames are dropped, counted, logged
 * and audited, never silently. A write error (disk full, the directory gone) is reported
 * the same way, the relay carries on, and recording resumes when the disk does.
 */
import { performance } from 'node:perf_hooks';
import { type Frame, type MessageRegistry, SECRET_MESSAGE_IDS } from '../mavlink/index.js';
import { TargetReader } from '../router/targets.js';
import type { VehicleStateStore } from '../router/vehicle-state.js';
import { type DirectoryGrant, type ResidencyRefusal, watchGrant } from '../residency/gate.js';
import { ensureDirectory, listFiles, removeFile } from './files.js';
import { describeWriteError, RECORDING_FILE, RecordingFile, type RecordingLabels } from './recording-file.js';
import { expired, type RetentionLimits } from './retention.js';

export interface RecorderSettings {
  flushIntervalMs: number;
  /** Start a new file past this size (checked at each flush). */
  rotateBytes?: number;
  /** Start a new file after this long. */
  rotateMs?: number;
  retention: RetentionLimits;
  /** Bytes allowed to wait for the disk; beyond, frames are dropped and counted. */
  queueBytes: number;
  /** Encrypt with this AES-256 key. */
  key: Buffer | null;
}

export const DEFAULT_RECORDER: RecorderSettings = { flushIntervalMs: 1000, retention: {}, queueBytes: 64 * 1024 * 1024, key: null };

export interface RecorderHooks {
  audit: (event: string, details: Record<string, unknown>) => void;
  log: (level: 'info' | 'warn', message: string) => void;
  /** Whether a vehicle is the built-in simulator (its recordings are named and labelled so). */
  simulated?: (sysid: number) => boolean;
}

const SLAB = 256 * 1024;
/** Past this much waiting, write now rather than at the next tick: the queue bounds a burst, not the sustained rate. */
const FLUSH_EARLY_BYTES = 4 * 1024 * 1024;
const MAV_TYPE_GCS = 6;
const TWO_32 = 2 ** 32;

/** What waits for the disk for one vehicle. */
class Pending {
  slabs: Buffer[] = [];
  frames = 0;
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;

  /** Appends one tlog record: 8-byte big-endian microseconds, then the frame's bytes. */
  add(timeUs: number, bytes: Buffer): number {
    const size = 8 + bytes.length;
    if (this.used + size > this.slab.length) this.seal();
    const s = this.slab;
    s.writeUInt32BE(Math.floor(timeUs / TWO_32), this.used);
    s.writeUInt32BE(timeUs % TWO_32, this.used + 4);
    bytes.copy(s, this.used + 8);
    this.used += size;
    this.frames++;
    return size;
  }

  private seal(): void {
    if (this.used === 0) return;
    this.slabs.push(this.slab.subarray(0, this.used));
    this.slab = Buffer.allocUnsafe(SLAB);
    this.used = 0;
  }

  /** Everything waiting, as one buffer, and how many frames it holds; empties the queue. */
  take(): { bytes: Buffer; frames: number } {
    this.seal();
    const out = { bytes: this.slabs.length === 1 ? this.slabs[0]! : Buffer.concat(this.slabs), frames: this.frames };
    this.slabs = [];
    this.frames = 0;
    return out;
  }
}

interface VehicleRecording {
  sysid: number;
  pending: Pending;
  file: RecordingFile | null;
}

export interface RecorderStats {
  /** `refused`: the policy in force no longer approves the directory; nothing more is recorded. */
  state: 'recording' | 'error' | 'refused';
  error?: string;
  encrypted: boolean;
  files: { sysid: number; path: string; frames: number; bytes: number }[];
  queuedBytes: number;
  /** Frames on disk, in every file of this run (closed ones included). */
  recorded: number;
  dropped: number;
  /** Frames handed to a file that could not be written before it closed (a disk full at shutdown). */
  unwritten: number;
  /** Frames not recorded because the policy in force refused the directory. */
  refused: number;
  /** Frames from a ground station before any vehicle was heard: no recording to put them in. */
  unattributed: number;
}

export class Recorder {
  private readonly vehicles = new Map<number, VehicleRecording>();
  private readonly targets: TargetReader;
  /** Bytes waiting in the slabs. */
  private queuedBytes = 0;
  /** Bytes the files hold after a failed write, written first next time. */
  private stuckBytes = 0;
  private dropped = 0;
  private droppingSince = 0;
  private unattributed = 0;
  /** Frames in the files closed so far (the open ones count their own). */
  private closedFrames = 0;
  private unwritten = 0;
  /** Set when a new policy revoked the directory's grant. */
  private refusal: ResidencyRefusal | null = null;
  private refusedFrames = 0;
  private readonly unwatch: () => void;
  private error: string | null = null;
  private flushing: Promise<void> | null = null;
  private earlyFlush: NodeJS.Immediate | null = null;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly grant: DirectoryGrant,
    private readonly labels: RecordingLabels,
    registry: MessageRegistry,
    private readonly state: VehicleStateStore,
    readonly settings: RecorderSettings,
    private readonly hooks: RecorderHooks,
    private readonly now: () => number = Date.now,
  ) {
    this.targets = new TargetReader(registry);
    this.timer = setInterval(() => void this.flush(), settings.flushIntervalMs);
    this.timer.unref();
    this.unwatch = watchGrant(grant, { revoked: (refusal) => this.refuse(refusal) });
  }

  /**
   * The policy in force refuses the directory: nothing more is written there from this
   * frame on (frames are counted as refused), and the open files are closed as they are.
   */
  private refuse(refusal: ResidencyRefusal): void {
    this.refusal = refusal;
    this.hooks.log('warn', `recording: stopped: ${refusal.message}`);
    for (const v of this.vehicles.values()) {
      this.refusedFrames += v.pending.take().frames;
      const file = v.file;
      v.file = null;
      // Closed without a last write: its sidecar cannot be completed in a refused directory.
      if (file) {
        this.closedFrames += file.frames;
        this.refusedFrames += file.pendingFrames;
        this.hooks.audit('recording_closed', { entry: this.grant.entry, file: file.name, frames: file.frames, bytes: file.bytes, directory: this.grant.path, why: 'directory refused by the policy in force' });
        void file.abandon();
      }
    }
    this.queuedBytes = 0;
    this.stuckBytes = 0;
  }

  get directory(): string {
    return this.grant.path;
  }

  /**
   * A router listener: `fromLink` is true for frames that came in on a vehicle link.
   * Telemetry goes to its vehicle's file; a ground station's frame goes to its target's,
   * or, when it targets nobody in particular, to every vehicle's.
   */
  observe(frame: Frame, fromLink: boolean): void {
    // SETUP_SIGNING carries a secret key: a recording must not hold it.
    if (this.closed || SECRET_MESSAGE_IDS.has(frame.msgid)) return;
    if (this.refusal) {
      this.refusedFrames++;
      return;
    }
    const timeUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
    const bytes = frame.bytes();
    const fromGcs = !fromLink || this.state.get(frame.sysid, frame.compid)?.heartbeat?.type === MAV_TYPE_GCS;
    if (!fromGcs) {
      this.add(this.vehicle(frame.sysid), timeUs, bytes);
      return;
    }
    const target = frame.verified ? this.targets.system(frame) : 0;
    if (target !== 0) {
      this.add(this.vehicle(target), timeUs, bytes);
    } else if (this.vehicles.size === 0) {
      this.unattributed++;
    } else {
      for (const v of this.vehicles.values()) this.add(v, timeUs, bytes);
    }
  }

  private vehicle(sysid: number): VehicleRecording {
    let v = this.vehicles.get(sysid);
    if (!v) {
      v = { sysid, pending: new Pending(), file: null };
      this.vehicles.set(sysid, v);
    }
    return v;
  }

  private add(v: VehicleRecording, timeUs: number, bytes: Buffer): void {
    if (this.queuedBytes + this.stuckBytes + 8 + bytes.length > this.settings.queueBytes) {
      if (this.dropped++ === 0 || this.droppingSince === 0) {
        this.droppingSince = this.now();
        this.hooks.log('warn', `recording: the disk is not keeping up, frames are being dropped (queue of ${this.settings.queueBytes} bytes full)`);
        this.hooks.audit('recording_dropping', { directory: this.grant.path, queue_bytes: this.settings.queueBytes });
      }
      return;
    }
    this.queuedBytes += v.pending.add(timeUs, bytes);
    if (this.queuedBytes > FLUSH_EARLY_BYTES && !this.flushing && !this.earlyFlush) {
      this.earlyFlush = setImmediate(() => {
        this.earlyFlush = null;
        void this.flush();
      });
    }
  }

  /** Writes what waits; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.flushAll().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushAll(): Promise<void> {
    if (this.refusal) return;
    let failure: string | null = null;
    for (const v of this.vehicles.values()) {
      try {
        await this.flushVehicle(v);
      } catch (err) {
        failure = describeWriteError(err);
      }
    }
    if (this.refusal) return;
    this.stuckBytes = [...this.vehicles.values()].reduce((n, v) => n + (v.file?.pendingBytes ?? 0), 0);
    this.report(failure);
    if (this.droppingSince !== 0 && this.queuedBytes + this.stuckBytes === 0) {
      this.hooks.audit('recording_dropped', { frames: this.dropped, directory: this.grant.path });
      this.droppingSince = 0;
    }
  }

  private async flushVehicle(v: VehicleRecording): Promise<void> {
    const t = this.now();
    let file = v.file;
    if (file && !(await file.linked())) {
      this.hooks.log('warn', `recording: ${file.name} was deleted or its directory removed; starting a new file`);
      this.hooks.audit('recording_lost_file', { file: file.name, frames: file.frames });
      await file.abandon();
      file = v.file = null;
    }
    const rotate = file && ((this.settings.rotateBytes !== undefined && file.bytes >= this.settings.rotateBytes)
      || (this.settings.rotateMs !== undefined && t - file.startedAt >= this.settings.rotateMs));
    if (file && rotate) {
      v.file = null;
      await this.closeFile(file);
      file = null;
    }
    if (this.refusal) return;
    if (!file) {
      // A directory that vanished is recreated only where its real path is still the one granted and approved.
      ensureDirectory(this.grant);
      const simulated = this.hooks.simulated?.(v.sysid) === true;
      file = await RecordingFile.create(this.grant, { ...this.labels, simulated }, v.sysid, t, this.settings.key);
      if (this.refusal) {
        await file.abandon();
        return;
      }
      v.file = file;
      this.hooks.audit('recording_started', { entry: this.grant.entry, file: file.name, directory: this.grant.path, sysid: v.sysid, encrypted: this.settings.key !== null, ...(simulated ? { simulated } : {}) });
      this.hooks.log(simulated ? 'warn' : 'info', `recording${simulated ? ' the SIMULATED vehicle (not a flight)' : ''}: ${file.path}`);
      this.applyRetention();
    }
    // Handed to the file at once: if the write fails, the file keeps the rest and writes it first next time.
    const batch = v.pending.take();
    this.queuedBytes -= batch.bytes.length;
    await file.append(batch.bytes, batch.frames);
  }

  private report(failure: string | null): void {
    if (failure && this.error === null) {
      this.hooks.log('warn', `recording: cannot write in ${this.grant.path}: ${failure}; the relay carries on, recording resumes when the disk does`);
      this.hooks.audit('recording_error', { directory: this.grant.path, error: failure });
    } else if (!failure && this.error !== null) {
      this.hooks.log('info', `recording: writing again in ${this.grant.path}`);
      this.hooks.audit('recording_resumed', { directory: this.grant.path, after: this.error });
    }
    this.error = failure;
  }

  private async closeFile(file: RecordingFile): Promise<void> {
    const { unwritten, error } = await file.close();
    this.closedFrames += file.frames;
    this.unwritten += unwritten;
    if (error) this.hooks.log('warn', `recording: ${file.name}: ${unwritten > 0 ? `${unwritten} frame(s) could not be written: ` : ''}${error}`);
    this.hooks.audit('recording_closed', { entry: this.grant.entry, file: file.name, frames: file.frames, bytes: file.bytes, directory: this.grant.path, ...(unwritten > 0 ? { unwritten } : {}), ...(error ? { error } : {}) });
  }

  /** Deletes the oldest closed recordings past the limits, each deletion audited. */
  private applyRetention(): void {
    const { maxAgeMs, maxTotalBytes } = this.settings.retention;
    if (maxAgeMs === undefined && maxTotalBytes === undefined) return;
    const open = new Set([...this.vehicles.values()].flatMap((v) => (v.file ? [v.file.name] : [])));
    const candidates = listFiles(this.grant, RECORDING_FILE);
    const openBytes = candidates.filter((f) => open.has(f.name)).reduce((n, f) => n + f.bytes, 0);
    const limits = { ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), ...(maxTotalBytes !== undefined ? { maxTotalBytes: Math.max(0, maxTotalBytes - openBytes) } : {}) };
    for (const { file, reason } of expired(candidates.filter((f) => !open.has(f.name)), limits, this.now())) {
      try {
        removeFile(this.grant, file.name);
        removeFile(this.grant, `${file.name}.json`);
      } catch {
        // A sidecar already gone is no reason to keep the recording.
      }
      this.hooks.audit('recording_deleted', { file: file.name, bytes: file.bytes, reason });
      this.hooks.log('info', `recording: deleted ${file.name} (${reason})`);
    }
  }

  stats(): RecorderStats {
    const open = [...this.vehicles.values()].flatMap((v) => (v.file ? [v.file] : []));
    return {
      state: this.refusal ? 'refused' : this.error ? 'error' : 'recording',
      ...(this.refusal ? { error: this.refusal.message } : this.error ? { error: this.error } : {}),
      encrypted: this.settings.key !== null,
      files: [...this.vehicles.values()].flatMap((v) => (v.file ? [{ sysid: v.sysid, path: v.file.path, frames: v.file.frames, bytes: v.file.bytes }] : [])),
      queuedBytes: this.queuedBytes + this.stuckBytes,
      recorded: this.closedFrames + open.reduce((n, f) => n + f.frames, 0),
      dropped: this.dropped,
      unwritten: this.unwritten,
      refused: this.refusedFrames,
      unattributed: this.unattributed,
    };
  }

  /** Writes everything, closes every file (sidecars completed). */
  async close(): Promise<void> {
    this.closed = true;
    this.unwatch();
    clearInterval(this.timer);
    if (this.earlyFlush) clearImmediate(this.earlyFlush);
    await this.flush();
    for (const v of this.vehicles.values()) {
      // What never reached a file (it could not even be created) is as unwritten as what a file could not take.
      this.unwritten += v.pending.take().frames;
      if (!v.file) continue;
      const file = v.file;
      v.file = null;
      await this.closeFile(file).catch((err: Error) => this.hooks.log('warn', `recording: closing ${file.name}: ${err.message}`));
    }
    if (this.unwritten > 0) this.hooks.audit('recording_unwritten', { directory: this.grant.path, frames: this.unwritten, error: this.error });
  }
}
