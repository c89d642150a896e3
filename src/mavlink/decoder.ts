/**
 * The incremental MAVLink frame decoder: bytes in, checked frames out, as views into the
 * bytes that arrived. It never skips a claimed length it could not verify: after a bad
 * checksum, a bad length or an implausible unknown frame it resumes at the byte after
 * the start marker, so a false 0xFD/0xFE inside garbage cannot swallow a real frame.
 */
import { ChunkScanner } from './chunk-scanner.js';
import { BAD_CRC, BAD_LENGTH, NEED_MORE, UNVERIFIED, VERIFIED, checkFrame, isStartMarker } from './frame-check.js';
import { Frame, INCOMPAT_SIGNED, MAGIC_V1, MAGIC_V2, MAX_FRAME_LENGTH } from './frame.js';
import type { MessageRegistry } from './registry.js';
import { DecoderStats } from './stats.js';

const ACCEPT = 0;
const REJECT = 1;
const WAIT = 2;
type UnknownVerdict = typeof ACCEPT | typeof REJECT | typeof WAIT;

/**
 * Receives each frame. The frame object is reused for the next one: keep `frame.bytes()`
 * or `frame.copy()`, not the frame itself.
 */
export type FrameHandler = (frame: Frame) => void;

export class FrameDecoder extends ChunkScanner {
  declare readonly stats: DecoderStats;
  protected readonly lookahead = 2 * MAX_FRAME_LENGTH + 1;
  private readonly frame = new Frame();
  /** Scratch cursor for looking inside an unknown frame without disturbing `frame`. */
  private readonly probe = new Frame();

  constructor(
    readonly registry: MessageRegistry,
    private readonly onFrame: FrameHandler,
  ) {
    super(new DecoderStats());
  }

  protected scan(buf: Buffer, start: number, stopBefore: number, end: number, final: boolean): number {
    const stats = this.stats;
    const registry = this.registry;
    const frame = this.frame;
    let p = start;
    let unknown: UnknownVerdict;
    while (p < stopBefore) {
      const magic = buf[p];
      if (magic !== MAGIC_V2 && magic !== MAGIC_V1) {
        let q = p + 1;
        while (q < stopBefore && buf[q] !== MAGIC_V2 && buf[q] !== MAGIC_V1) q++;
        stats.bytesSkipped += q - p;
        p = q;
        continue;
      }
      const result = checkFrame(registry, buf, p, end, frame);
      if (result === VERIFIED) {
        if ((frame.incompatFlags & ~INCOMPAT_SIGNED) !== 0) {
          // The spec: discard a frame with an incompat flag we do not understand. Its
          // checksum matched, so its length is trustworthy and can be skipped whole.
          stats.incompatDropped++;
          stats.bytesSkipped += frame.length;
          p += frame.length;
          continue;
        }
        this.emit(buf, p, true);
        p += frame.length;
      } else if (result === UNVERIFIED && (unknown = this.judgeUnknown(buf, p, end, final)) !== REJECT) {
        if (unknown === WAIT) return p;
        // judgeUnknown used `probe`, so re-read this frame's layout into `frame`.
        checkFrame(registry, buf, p, end, frame);
        this.emit(buf, p, false);
        p += frame.length;
      } else if (result === NEED_MORE && !final) {
        return p;
      } else {
        if (result === BAD_CRC) stats.crcErrors++;
        else if (result === BAD_LENGTH) stats.lengthErrors++;
        stats.bytesSkipped++;
        p++;
      }
    }
    return p;
  }

  protected onTruncatedEnd(tail: Buffer): void {
    this.scan(tail, 0, tail.length, tail.length, true);
  }

  /**
   * The stream went quiet while a candidate frame waits for the rest of its bytes. If a
   * checksum-valid frame starts after the candidate's marker, the candidate cannot be real
   * (that frame would lie inside it): it is given up and the frames behind it are handed
   * on now instead of when enough bytes arrive to fill its claimed length, which on a
   * quiet link may be never. A candidate with nothing complete behind it keeps waiting: it
   * may be a real frame whose last bytes are still on their way.
   */
  idle(): void {
    let tail = this.carried;
    while (tail !== null && this.verifiedFrameAfterStart(tail)) {
      this.giveUpFirstCarried();
      tail = this.carried;
    }
  }

  /**
   * The stream started again (a reconnect, a replay that wrapped): what was held back will
   * never be completed, and every source's numbering starts afresh.
   */
  restart(): void {
    this.stats.bytesSkipped += this.dropCarried();
    this.stats.sequence.restart();
  }

  private verifiedFrameAfterStart(tail: Buffer): boolean {
    for (let q = 1; q < tail.length; q++) {
      if (isStartMarker(tail[q]) && checkFrame(this.registry, tail, q, tail.length, this.probe) === VERIFIED) return true;
    }
    return false;
  }

  /**
   * An unknown message cannot be checksummed, so it is passed on only when the bytes
   * after it start another frame (or there are no bytes after it yet), its incompat
   * flags are understood, and no checksum-valid frame starts inside it. A frame that
   * starts inside it and is not complete yet could be a real one: then wait for the
   * bytes that tell (unless the stream has ended).
   */
  private judgeUnknown(buf: Buffer, p: number, end: number, final: boolean): UnknownVerdict {
    const frame = this.frame;
    if ((frame.incompatFlags & ~INCOMPAT_SIGNED) !== 0) return REJECT;
    const next = p + frame.length;
    if (next < end && !isStartMarker(buf[next])) return REJECT;
    let undecided = false;
    for (let q = p + 1; q < next; q++) {
      if (!isStartMarker(buf[q])) continue;
      const inner = checkFrame(this.registry, buf, q, end, this.probe);
      if (inner === VERIFIED) return REJECT;
      if (inner === NEED_MORE) undecided = true;
    }
    return undecided && !final ? WAIT : ACCEPT;
  }

  private emit(buf: Buffer, p: number, verified: boolean): void {
    this.frame.point(buf, p, verified);
    this.stats.countFrame(this.frame);
    this.onFrame(this.frame);
  }
}

/** Decodes a whole buffer at once; frames are detached copies. For tools and tests. */
export function decodeAll(registry: MessageRegistry, bytes: Uint8Array): { frames: Frame[]; stats: DecoderStats } {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder(registry, (f) => frames.push(f.clone()));
  decoder.push(bytes);
  decoder.end();
  return { frames, stats: decoder.stats };
}
