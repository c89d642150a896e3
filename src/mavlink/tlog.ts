/**
 * Reading .tlog files as QGroundControl and MAVProxy write them: records of an 8-byte
 * big-endian microsecond UNIX timestamp followed by exactly one raw MAVLink frame, with
 * no file header and no padding. The record structure tells where each frame ends even
 * when its checksum fails, so a damaged frame costs exactly one record.
 */
import { ChunkScanner } from './chunk-scanner.js';
import { BAD_CRC, BAD_LENGTH, NEED_MORE, VERIFIED, checkFrame, isStartMarker } from './frame-check.js';
import { Frame, INCOMPAT_SIGNED, MAX_FRAME_LENGTH } from './frame.js';
import type { MessageRegistry } from './registry.js';
import { DecoderStats } from './stats.js';

export const TLOG_TIMESTAMP_LENGTH = 8;
/** Timestamps outside 2000..2100 mean we are not looking at a record boundary. */
const MIN_TIME_US = 946_684_800_000_000;
const MAX_TIME_US = 4_102_444_800_000_000;
/** Enough to know a record's frame length: the timestamp and a MAVLink 2 header. */
const RECORD_HEAD = TLOG_TIMESTAMP_LENGTH + 10;

export type TlogFrameHandler = (frame: Frame, timeUs: number) => void;

export class TlogStats extends DecoderStats {
  /** Whole records seen, accepted or not. */
  records = 0;
  /** A record cut off by the end of the file (a crash, a full disk, a copy cut short). */
  tornRecord: { offset: number; bytes: number } | null = null;

  override toJSON() {
    return { records: this.records, ...super.toJSON(), torn_record: this.tornRecord };
  }
}

function readTimeUs(buf: Buffer, p: number): number {
  return buf.readUInt32BE(p) * 4294967296 + buf.readUInt32BE(p + 4);
}

/** One tlog record: the 8-byte big-endian microsecond timestamp, then the frame as it is. */
export function encodeTlogRecord(timeUs: number, frame: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(TLOG_TIMESTAMP_LENGTH + frame.length);
  record.writeUInt32BE(Math.floor(timeUs / 4294967296), 0);
  record.writeUInt32BE(timeUs % 4294967296, 4);
  record.set(frame, TLOG_TIMESTAMP_LENGTH);
  return record;
}

/** True when `buf[p..]` starts with a plausible tlog record head (needs 9 bytes). */
export function looksLikeRecord(buf: Buffer, p: number): boolean {
  if (!isStartMarker(buf[p + TLOG_TIMESTAMP_LENGTH])) return false;
  const t = readTimeUs(buf, p);
  return t >= MIN_TIME_US && t <= MAX_TIME_US;
}

export class TlogDecoder extends ChunkScanner {
  declare readonly stats: TlogStats;
  protected readonly lookahead = 2 * (TLOG_TIMESTAMP_LENGTH + MAX_FRAME_LENGTH) + RECORD_HEAD;
  private readonly frame = new Frame();

  constructor(
    readonly registry: MessageRegistry,
    private readonly onFrame: TlogFrameHandler,
  ) {
    super(new TlogStats());
  }

  protected scan(buf: Buffer, start: number, stopBefore: number, end: number, final: boolean): number {
    const stats = this.stats;
    const frame = this.frame;
    let p = start;
    while (p < stopBefore) {
      if (end - p <= TLOG_TIMESTAMP_LENGTH) {
        if (!final) return p;
        return this.torn(p, end);
      }
      if (!looksLikeRecord(buf, p)) {
        stats.bytesSkipped++;
        p++;
        continue;
      }
      const f = p + TLOG_TIMESTAMP_LENGTH;
      const result = checkFrame(this.registry, buf, f, end, frame);
      if (result === NEED_MORE) {
        if (!final) return p;
        return this.torn(p, end);
      }
      if (result === BAD_LENGTH) {
        stats.lengthErrors++;
        stats.bytesSkipped++;
        p++;
        continue;
      }
      const next = f + frame.length;
      // A frame we cannot trust on its own (unknown id, bad checksum) is taken as a record
      // only if the next record starts right behind it.
      if (result !== VERIFIED) {
        if (!final && end - next < TLOG_TIMESTAMP_LENGTH + 1) return p;
        const aligned = end - next < TLOG_TIMESTAMP_LENGTH + 1 || looksLikeRecord(buf, next);
        if (!aligned) {
          stats.bytesSkipped++;
          p++;
          continue;
        }
      }
      stats.records++;
      if (result === BAD_CRC) {
        stats.crcErrors++;
        stats.bytesSkipped += next - p;
      } else if ((frame.incompatFlags & ~INCOMPAT_SIGNED) !== 0) {
        stats.incompatDropped++;
        stats.bytesSkipped += next - p;
      } else {
        this.emit(buf, f, result === VERIFIED, readTimeUs(buf, p));
      }
      p = next;
    }
    return p;
  }

  protected onTruncatedEnd(tail: Buffer): void {
    this.scan(tail, 0, tail.length, tail.length, true);
  }

  private torn(p: number, end: number): number {
    if (end > p) {
      this.stats.tornRecord = { offset: this.chunkStart + p, bytes: end - p };
      this.stats.bytesSkipped += end - p;
    }
    return end;
  }

  private emit(buf: Buffer, p: number, verified: boolean, timeUs: number): void {
    this.frame.point(buf, p, verified);
    this.stats.countFrame(this.frame);
    this.onFrame(this.frame, timeUs);
  }
}
