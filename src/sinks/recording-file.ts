/**
 * One open recording: a .tlog (or sealed .tlog.enc) file in a granted directory, and its
 * JSON sidecar. Bytes are appended as handed over; a write the disk refuses halfway is
 * resumed where it stopped, so a full disk never leaves a torn record behind it.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { DirectoryGrant } from '../residency/gate.js';
import { ChunkSealer } from './encryption.js';
import { createFile, writeWholeFile } from './files.js';

export interface RecordingLabels {
  site: string;
  jurisdiction: string;
  policySha256: string;
  gatewayVersion: string;
  /** The frames come from mavgate's built-in simulated vehicle, not a real one. */
  simulated?: boolean;
}

/** A time in a file name: `20261125T093000Z` (UTC). */
export function fileStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The site's name as it can stand in a file name. */
export function fileSafe(site: string): string {
  return site.replace(/[^A-Za-z0-9._-]/g, '-');
}

/**
 * `site_sys1_20261125T093000Z.tlog`: what, which vehicle, when (UTC); the built-in
 * simulator's end `_SIMULATED.tlog`, so that nobody takes one for a flight.
 */
export function recordingName(site: string, sysid: number, startedAt: number, encrypted: boolean, attempt = 0, simulated = false): string {
  return `${fileSafe(site)}_sys${sysid}_${fileStamp(startedAt)}${attempt > 0 ? `_${attempt + 1}` : ''}${simulated ? '_SIMULATED' : ''}.tlog${encrypted ? '.enc' : ''}`;
}

export const RECORDING_FILE = /\.tlog(\.enc)?$/;

/** Bytes handed to the file for one append: whole tlog records (or one sealed chunk of them). */
interface Unit {
  bytes: Buffer;
  /** How much of it is on disk (a write the disk refused halfway). */
  written: number;
  frames: number;
}

export interface ClosedRecording {
  /** Frames that were handed over but could not be written (the disk full at the end). */
  unwritten: number;
  /** Why the last bytes or the sidecar could not be written, if they could not. */
  error: string | null;
}

export class RecordingFile {
  /** Frames on disk, whole records only. */
  frames = 0;
  /** Bytes on disk. */
  bytes = 0;
  /** Bytes on disk that end on a whole unit (where the file is cut back to if the rest never fits). */
  private wholeBytes = 0;
  /** Hashes whole units only: the SHA-256 is of the file as it is left. */
  private readonly hash: Hash = createHash('sha256');
  private readonly units: Unit[] = [];

  private constructor(
    private readonly grant: DirectoryGrant,
    readonly name: string,
    private readonly handle: FileHandle,
    private readonly sealer: ChunkSealer | null,
    readonly sysid: number,
    readonly startedAt: number,
    private readonly labels: RecordingLabels,
  ) {}

  static async create(grant: DirectoryGrant, labels: RecordingLabels, sysid: number, startedAt: number, key: Buffer | null): Promise<RecordingFile> {
    for (let attempt = 0; ; attempt++) {
      const name = recordingName(labels.site, sysid, startedAt, key !== null, attempt, labels.simulated === true);
      let handle: FileHandle;
      try {
        handle = await createFile(grant, name);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
        throw err;
      }
      const file = new RecordingFile(grant, name, handle, key ? new ChunkSealer(key) : null, sysid, startedAt, labels);
      file.writeSidecar(null);
      if (file.sealer) await file.write(file.sealer.header(), 0);
      return file;
    }
  }

  get path(): string {
    return `${this.grant.path}/${this.name}`;
  }

  /** Appends tlog records holding `frames` frames (sealed first when encrypted). Throws on a write error; the rest is retried next time. */
  append(records: Buffer, frames: number): Promise<void> {
    return this.write(records.length > 0 && this.sealer ? this.sealer.seal(records) : records, frames);
  }

  /** Writes `bytes` after whatever a failed write left; a unit counts (frames, hash) once it is all on disk. */
  private async write(bytes: Buffer, frames: number): Promise<void> {
    if (bytes.length > 0) this.units.push({ bytes, written: 0, frames });
    while (this.units.length > 0) {
      const unit = this.units[0]!;
      const { bytesWritten } = await this.handle.write(unit.bytes, unit.written);
      unit.written += bytesWritten;
      this.bytes += bytesWritten;
      if (unit.written < unit.bytes.length) continue;
      this.units.shift();
      this.hash.update(unit.bytes);
      this.wholeBytes += unit.bytes.length;
      this.frames += unit.frames;
    }
  }

  get pendingBytes(): number {
    return this.units.reduce((n, u) => n + u.bytes.length - u.written, 0);
  }

  /** Frames handed over and not on disk yet. */
  get pendingFrames(): number {
    return this.units.reduce((n, u) => n + u.frames, 0);
  }

  /** False once the file was deleted under us (or its directory removed): writes would go nowhere. */
  async linked(): Promise<boolean> {
    return (await this.handle.stat()).nlink > 0;
  }

  /**
   * Seals the end (encrypted), syncs, closes, and completes the sidecar with the count and
   * the file's SHA-256. What still cannot be written (a full disk) is cut back to the last
   * whole record, so the file, its sidecar and the count agree, and reported as unwritten.
   */
  async close(): Promise<ClosedRecording> {
    let error: string | null = null;
    try {
      await this.write(this.sealer ? this.sealer.seal(Buffer.alloc(0), true) : Buffer.alloc(0), 0);
    } catch (err) {
      error = describeWriteError(err);
    }
    const unwritten = this.pendingFrames;
    try {
      if (this.units.length > 0) {
        this.units.length = 0;
        await this.handle.truncate(this.wholeBytes);
        this.bytes = this.wholeBytes;
      }
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
    try {
      this.writeSidecar(Date.now(), unwritten);
    } catch (err) {
      error ??= `sidecar: ${describeWriteError(err)}`;
    }
    return { unwritten, error };
  }

  /** Closes without touching the directory (it is gone). */
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => {});
  }

  private writeSidecar(closedAt: number | null, unwritten = 0): void {
    const sidecar = {
      file: this.name,
      format: this.sealer ? 'tlog, AES-256-GCM chunks (mavgate decrypt)' : 'tlog',
      sysid: this.sysid,
      site: this.labels.site,
      jurisdiction: this.labels.jurisdiction,
      policy_sha256: this.labels.policySha256,
      gateway_version: this.labels.gatewayVersion,
      ...(this.labels.simulated ? { simulated: true, source: 'mavgate\'s built-in simulated vehicle: not a real flight' } : {}),
      started_at: new Date(this.startedAt).toISOString(),
      ...(closedAt !== null ? {
        closed_at: new Date(closedAt).toISOString(), frames: this.frames, bytes: this.bytes, sha256: this.hash.copy().digest('hex'),
        ...(unwritten > 0 ? { unwritten_frames: unwritten } : {}),
      } : {}),
    };
    writeWholeFile(this.grant, `${this.name}.json`, `${JSON.stringify(sidecar, null, 2)}\n`);
  }
}

/** A write error in the words the status line and the audit log use. */
export function describeWriteError(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'disk full' : (err as Error).message;
}
