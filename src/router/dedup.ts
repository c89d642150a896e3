/**
 * Drops the second copy of a frame that arrives through redundant links (two radios)
 * within a short window. A frame is identified by its source, sequence number, message
 * id and checksum; two generations of a Map make expiry O(1) per frame.
 */
import type { Frame } from '../mavlink/index.js';

export class Deduplicator {
  private current = new Map<number, number>();
  private previous = new Map<number, number>();
  private generationStart = 0;

  constructor(
    /** Copies closer together than this are duplicates. Keep it short: a fast source reuses a sequence number every 256 frames. */
    readonly windowMs: number,
  ) {}

  /** True if an identical frame was seen within the window; remembers this one otherwise. */
  isDuplicate(frame: Frame, now: number): boolean {
    if (now - this.generationStart >= this.windowMs) {
      this.previous = this.current;
      this.current = new Map();
      this.generationStart = now;
    }
    const key = keyOf(frame);
    const seen = this.current.get(key) ?? this.previous.get(key);
    if (seen !== undefined && now - seen < this.windowMs) return true;
    this.current.set(key, now);
    return false;
  }
}

/** 53 bits: sysid, compid, seq (24 bits), checksum (16), low 13 bits of the message id. */
function keyOf(frame: Frame): number {
  const b = frame.buffer;
  const crcAt = frame.payloadOffset + frame.payloadLength;
  const crc = b[crcAt]! | (b[crcAt + 1]! << 8);
  const head = (frame.sysid << 16) | (frame.compid << 8) | frame.seq;
  return (head * 65536 + crc) * 8192 + (frame.msgid & 0x1fff);
}
