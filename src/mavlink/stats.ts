/** What a decoder saw: counters for the link health display and the decode summary. */

export interface SourceLoss {
  sysid: number;
  compid: number;
  received: number;
  /** Frames missing according to the sequence numbers (gaps), as QGroundControl counts them. */
  lost: number;
  /** lost / (received + lost), 0..1. */
  lossRate: number;
}

const SOURCES = 65536;

/**
 * Per (sysid, compid) sequence tracking in flat typed arrays indexed by
 * `sysid << 8 | compid`: the hot path does array reads, never a Map lookup.
 */
export class SequenceTracker {
  private last: Int16Array | null = null;
  private received: Uint32Array | null = null;
  private lost: Uint32Array | null = null;
  /** The keys of the sources heard, in order: `sources()` reads these, not all 65,536 slots (it runs every second, whatever the rate). */
  private readonly heard: number[] = [];

  observe(sysid: number, compid: number, seq: number): void {
    if (this.last === null) this.allocate();
    const key = (sysid << 8) | compid;
    const last = this.last![key]!;
    // A repeated sequence number is a duplicate (a resend, a second radio), not 255 losses.
    if (last >= 0 && seq !== last) this.lost![key]! += (seq - last - 1) & 0xff;
    this.last![key] = seq;
    if (this.received![key]!++ === 0) this.hear(key);
  }

  private hear(key: number): void {
    let i = this.heard.length;
    while (i > 0 && this.heard[i - 1]! > key) i--;
    this.heard.splice(i, 0, key);
  }

  /**
   * A frame whose checksum could not be checked (a message id the registry does not
   * know): it still took a sequence number, so it counts for a source already known from
   * checked frames. It cannot introduce a source: its header may be garbage.
   */
  observeUnverified(sysid: number, compid: number, seq: number): void {
    if (this.last !== null && this.last[(sysid << 8) | compid]! >= 0) this.observe(sysid, compid, seq);
  }

  /** The newest sequence number seen from a source, or -1. */
  lastSeq(sysid: number, compid: number): number {
    return this.last?.[(sysid << 8) | compid] ?? -1;
  }

  /**
   * The next frame of these sources (all, without an argument) does not continue the
   * numbering of the last one: the link reconnected, a replay started again. Counts stay.
   */
  restart(sources?: Iterable<number>): void {
    if (this.last === null) return;
    if (!sources) this.last.fill(-1);
    else for (const key of sources) this.last[key] = -1;
  }

  private allocate(): void {
    this.last = new Int16Array(SOURCES).fill(-1);
    this.received = new Uint32Array(SOURCES);
    this.lost = new Uint32Array(SOURCES);
  }

  sources(): SourceLoss[] {
    const out: SourceLoss[] = [];
    if (this.received === null) return out;
    for (const key of this.heard) {
      const received = this.received[key]!;
      const lost = this.lost![key]!;
      out.push({ sysid: key >> 8, compid: key & 0xff, received, lost, lossRate: lost / (received + lost) });
    }
    return out;
  }
}

export class DecoderStats {
  /** Bytes pushed into the decoder. */
  bytes = 0;
  /** Checksum-verified frames, by wire version. */
  framesV1 = 0;
  framesV2 = 0;
  /** Frames with a message id the registry does not know: passed on unverified. */
  unknown = 0;
  /** Candidate frames of a known message whose checksum did not match. */
  crcErrors = 0;
  /** Candidate frames of a known message with a payload length no version of it can have. */
  lengthErrors = 0;
  /** Checksum-valid MAVLink 2 frames dropped for incompat_flags this decoder does not understand. */
  incompatDropped = 0;
  /** Signed MAVLink 2 frames among those passed on. */
  signed = 0;
  /** Bytes that belonged to no frame passed on (garbage, damaged frames, dropped frames). */
  bytesSkipped = 0;
  readonly sequence = new SequenceTracker();

  /** Counts a frame that is being passed on. */
  countFrame(frame: { version: 1 | 2; verified: boolean; incompatFlags: number; sysid: number; compid: number; seq: number }): void {
    if (!frame.verified) {
      this.unknown++;
      this.sequence.observeUnverified(frame.sysid, frame.compid, frame.seq);
      return;
    }
    if (frame.version === 2) this.framesV2++;
    else this.framesV1++;
    if (frame.incompatFlags & 0x01) this.signed++;
    this.sequence.observe(frame.sysid, frame.compid, frame.seq);
  }

  get frames(): number {
    return this.framesV1 + this.framesV2;
  }

  toJSON() {
    return {
      bytes: this.bytes,
      frames: this.frames,
      v1: this.framesV1,
      v2: this.framesV2,
      signed: this.signed,
      unknown: this.unknown,
      crc_errors: this.crcErrors,
      length_errors: this.lengthErrors,
      incompat_dropped: this.incompatDropped,
      bytes_skipped: this.bytesSkipped,
      sources: this.sequence.sources().map((s) => ({ ...s, lossRate: Number(s.lossRate.toFixed(6)) })),
    };
  }
}
