/**
 * The approved directory onboard logs are downloaded into (`logs/` of the policy's data
 * directory by default): a finished log (`SITE_sys1_log3_20260702T101500Z.bin`, sealed
 * as `.bin.enc` when recordings are encrypted), its sidecar (vehicle, log id, size, time,
 * SHA-256, site, jurisdiction, policy), and the partial downloads waiting to be continued.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { DirectoryGrant } from '../../residency/gate.js';
import { MAV_AUTOPILOT } from '../../mavlink/index.js';
import { ChunkSealer } from '../encryption.js';
import { createFile, ensureDirectory, listFiles, openFileIn, readFileIn, writeAll, writeWholeFile } from '../files.js';
import { fileSafe, fileStamp, type RecordingLabels } from '../recording-file.js';
import type { LogEntry, LogVehicle } from './log-protocol.js';
import { PartialLog, partialCipher, partialKey } from './partial-log.js';

/** What the sidecar of a downloaded log says. */
export interface DownloadedLog {
  file: string;
  format: string;
  sysid: number;
  compid: number;
  autopilot: string;
  log_id: number;
  size: number;
  /** The size the vehicle's list gave (more than `size` when the log ended early). */
  listed_size: number;
  /** When the vehicle started the log (ISO 8601), or null when it did not know the time. */
  log_time: string | null;
  time_utc: number;
  downloaded_at: string;
  /** SHA-256 of the log's content (the plaintext, also when the file is sealed). */
  sha256: string;
  encrypted: boolean;
  /** SHA-256 of the sealed file on disk (encrypted only). */
  file_sha256?: string;
  site: string;
  jurisdiction: string;
  policy_sha256: string;
  gateway_version: string;
}

const LOG_FILE = /\.(bin|ulg)(\.enc)?$/;
const READ_BLOCK = 1 << 20;

function autopilotName(autopilot: number): string {
  return autopilot === MAV_AUTOPILOT.ARDUPILOTMEGA ? 'ArduPilot' : autopilot === MAV_AUTOPILOT.PX4 ? 'PX4' : `MAV_AUTOPILOT ${autopilot}`;
}

export class LogStore {
  constructor(
    readonly grant: DirectoryGrant,
    private readonly labels: RecordingLabels,
    readonly key: Buffer | null,
  ) {}

  get directory(): string {
    return this.grant.path;
  }

  /** `site_sys1_log3_20260702T101500Z.bin`: whose, which log, when the vehicle started it. */
  fileName(vehicle: LogVehicle, entry: LogEntry): string {
    const ext = vehicle.autopilot === MAV_AUTOPILOT.PX4 ? 'ulg' : 'bin';
    const when = entry.timeUtc > 0 ? fileStamp(entry.timeUtc * 1000) : 'notime';
    return `${fileSafe(this.labels.site)}_sys${vehicle.sysid}_log${entry.id}_${when}.${ext}${this.key ? '.enc' : ''}`;
  }

  /** Every downloaded log (from the sidecars), newest first. */
  list(): DownloadedLog[] {
    // Removed while mavgate runs (a cleanup, a disk swapped): nothing downloaded is there.
    if (!existsSync(this.directory)) return [];
    return listFiles(this.grant, /\.json$/)
      .filter((f) => LOG_FILE.test(f.name.slice(0, -'.json'.length)))
      .flatMap((f) => {
        try {
          return [JSON.parse(readFileIn(this.grant, f.name)) as DownloadedLog];
        } catch {
          return [];
        }
      })
      .sort((a, b) => b.downloaded_at.localeCompare(a.downloaded_at));
  }

  /** The download of this very log (same vehicle, id, size and time), if it was finished before. */
  downloaded(sysid: number, entry: LogEntry): DownloadedLog | null {
    return this.list().find((d) => d.sysid === sysid && d.log_id === entry.id && d.listed_size === entry.size && d.time_utc === entry.timeUtc) ?? null;
  }

  /** Bytes already downloaded of this log in a partial download (0 when none). */
  partialBytes(vehicle: LogVehicle, entry: LogEntry): number {
    const state = PartialLog.find(this.grant, this.fileName(vehicle, entry));
    if (!state || state.log_id !== entry.id || state.size !== entry.size) return 0;
    return Buffer.from(state.chunks, 'base64').reduce((n, byte) => n + popcount(byte), 0) * 90;
  }

  /** Continues the partial download of this log, or starts one. */
  openPartial(vehicle: LogVehicle, entry: LogEntry, onError: (err: Error) => void): Promise<PartialLog> {
    ensureDirectory(this.grant);
    return PartialLog.open(this.grant, this.fileName(vehicle, entry), vehicle, entry, this.key, onError);
  }

  /**
   * The complete partial download becomes the log: read in order (decrypted), hashed,
   * written as the final file (sealed when there is a key), its sidecar beside it; then
   * the partial files go.
   */
  async finish(partial: PartialLog): Promise<DownloadedLog> {
    await partial.close();
    const { state } = partial;
    const size = partial.map.size;
    const source = await openFileIn(this.grant, `${state.file}.part`, 'r');
    const out = await createFile(this.grant, state.file).catch(async (err: NodeJS.ErrnoException) => {
      await source.close();
      throw err.code === 'EEXIST' ? new Error(`${this.grant.path}/${state.file} exists already: move it away to download this log again`) : err;
    });
    const content = createHash('sha256');
    const onDisk = createHash('sha256');
    const sealer = this.key ? new ChunkSealer(this.key) : null;
    const cipher = this.key ? partialCipher(partialKey(this.key, Buffer.from(state.iv!, 'hex')), Buffer.from(state.iv!, 'hex'), 0) : null;
    const write = async (bytes: Buffer) => {
      onDisk.update(bytes);
      await writeAll(out, bytes);
    };
    try {
      if (sealer) await write(sealer.header());
      const block = Buffer.alloc(READ_BLOCK);
      for (let offset = 0; offset < size;) {
        const { bytesRead } = await source.read(block, 0, Math.min(READ_BLOCK, size - offset), offset);
        if (bytesRead === 0) throw new Error(`${state.file}.part ends at ${offset} of ${size} bytes: the partial download was damaged; download the log again`);
        const plain = cipher ? cipher.update(block.subarray(0, bytesRead)) : block.subarray(0, bytesRead);
        content.update(plain);
        await write(sealer ? sealer.seal(plain) : plain);
        offset += bytesRead;
      }
      if (sealer) await write(sealer.seal(Buffer.alloc(0), true));
      await out.sync();
    } finally {
      await out.close();
      await source.close();
    }
    const sidecar: DownloadedLog = {
      file: state.file,
      format: `${state.autopilot === MAV_AUTOPILOT.PX4 ? 'ULog (.ulg)' : 'DataFlash (.bin)'}${sealer ? ', AES-256-GCM chunks (mavgate decrypt)' : ''}`,
      sysid: state.sysid,
      compid: state.compid,
      autopilot: autopilotName(state.autopilot),
      log_id: state.log_id,
      size,
      listed_size: state.size,
      log_time: state.time_utc > 0 ? new Date(state.time_utc * 1000).toISOString() : null,
      time_utc: state.time_utc,
      downloaded_at: new Date().toISOString(),
      sha256: content.digest('hex'),
      encrypted: sealer !== null,
      ...(sealer ? { file_sha256: onDisk.digest('hex') } : {}),
      site: this.labels.site,
      jurisdiction: this.labels.jurisdiction,
      policy_sha256: this.labels.policySha256,
      gateway_version: this.labels.gatewayVersion,
    };
    writeWholeFile(this.grant, `${state.file}.json`, `${JSON.stringify(sidecar, null, 2)}\n`);
    PartialLog.remove(this.grant, state.file);
    return sidecar;
  }
}

function popcount(byte: number): number {
  let n = 0;
  for (let b = byte; b; b &= b - 1) n++;
  return n;
}
