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
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** `site_sys1_20261125T093000Z.tlog`: what, which vehicle, when (UTC). */
export function recordingName(site: string, sysid: number, startedAt: number, encrypted: boolean, attempt = 0): string {
  const safeSite = site.replace(/[^A-Za-z0-9._-]/g, '-');
  return `${safeSite}_sys${sysid}_${stamp(startedAt)}${attempt > 0 ? `_${attempt + 1}` : ''}.tlog${encrypted ? '.enc' : ''}`;
}

export const RECORDING_FILE = /\.tlog(\.enc)?$/;

export class RecordingFile {
  frames = 0;
  /** Bytes on disk. */
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  /** Bytes handed over but not yet on disk (a write that failed halfway). */
  private unwritten: Buffer[] = [];

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
      const name = recordingName(labels.site, sysid, startedAt, key !== null, attempt);
      let handle: FileHandle;
      try {
        handle = await createFile(grant, name);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 100) continue;
        throw err;
      }
      const file = new RecordingFile(grant, name, handle, key ? new ChunkSealer(key) : null, sysid, startedAt, labels);
      file.writeSidecar(null);
      if (file.sealer) await file.writeRaw(file.sealer.header());
      return file;
    }
  }

  get path(): string {
    return `${this.grant.path}/${this.name}`;
  }

  /** Appends tlog records holding `frames` frames (sealed first when encrypted). Throws on a write error; the rest is retried next time. */
  async append(records: Buffer, frames: number): Promise<void> {
    this.frames += frames;
    await this.writeRaw(records.length > 0 && this.sealer ? this.sealer.seal(records) : records);
  }

  /** Writes bytes as they are, after whatever a failed write left. */
  private async writeRaw(bytes: Buffer): Promise<void> {
    if (bytes.length > 0) this.unwritten.push(bytes);
    while (this.unwritten.length > 0) {
      const buffer = this.unwritten[0]!;
      const { bytesWritten } = await this.handle.write(buffer);
      this.hash.update(buffer.subarray(0, bytesWritten));
      this.bytes += bytesWritten;
      if (bytesWritten < buffer.length) this.unwritten[0] = buffer.subarray(bytesWritten);
      else this.unwritten.shift();
    }
  }

  get pendingBytes(): number {
    return this.unwritten.reduce((n, b) => n + b.length, 0);
  }

  /** False once the file was deleted under us (or its directory removed): writes would go nowhere. */
  async linked(): Promise<boolean> {
    return (await this.handle.stat()).nlink > 0;
  }

  /** Seals the end (encrypted), syncs, closes, and completes the sidecar with the count and the file's SHA-256. */
  async close(): Promise<void> {
    try {
      if (this.sealer) await this.writeRaw(this.sealer.seal(Buffer.alloc(0), true));
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
    this.writeSidecar(Date.now());
  }

  /** Closes without touching the directory (it is gone). */
  async abandon(): Promise<void> {
    await this.handle.close().catch(() => {});
  }

  private writeSidecar(closedAt: number | null): void {
    const sidecar = {
      file: this.name,
      format: this.sealer ? 'tlog, AES-256-GCM chunks (mavgate decrypt)' : 'tlog',
      sysid: this.sysid,
      site: this.labels.site,
      jurisdiction: this.labels.jurisdiction,
      policy_sha256: this.labels.policySha256,
      gateway_version: this.labels.gatewayVersion,
      started_at: new Date(this.startedAt).toISOString(),
      ...(closedAt !== null ? { closed_at: new Date(closedAt).toISOString(), frames: this.frames, bytes: this.bytes, sha256: this.hash.copy().digest('hex') } : {}),
    };
    writeWholeFile(this.grant, `${this.name}.json`, `${JSON.stringify(sidecar, null, 2)}\n`);
  }
}
