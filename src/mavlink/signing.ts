/**
 * MAVLink 2 message signing, as the specification defines it: a 13-byte block after the
 * checksum, link id (1) + timestamp (6, little-endian, 10 µs units since 2015-01-01 UTC) +
 * the first 6 bytes of SHA-256(secret key ‖ header ‖ payload ‖ checksum ‖ link id ‖
 * timestamp); incompatibility flag 0x01. Verification hashes the frame where it lies (no
 * copy). Replay protection per (link id, sysid, compid) stream: a timestamp must be newer
 * than the stream's last, and a new stream may start at most one minute behind the newest
 * timestamp seen.
 */
import { createHash } from 'node:crypto';
import { crc16, crc16Byte } from './crc.js';
import { type Frame, HEADER_V2, INCOMPAT_SIGNED, MAGIC_V2, SIGNATURE_LENGTH } from './frame.js';
import type { MessageRegistry } from './registry.js';

export const SIGNING_EPOCH_MS = Date.UTC(2015, 0, 1);
/** One minute in signing units (10 µs). */
export const SIGNING_WINDOW = 60 * 100_000;
export const SIGNING_KEY_BYTES = 32;
/** SETUP_SIGNING carries the secret key itself: it must never be logged, recorded or shown. */
export const SECRET_MESSAGE_IDS: ReadonlySet<number> = new Set([256]);

/** The signing timestamp for a wall-clock time in milliseconds. */
export function signingTimestamp(nowMs: number): number {
  return Math.max(0, Math.floor((nowMs - SIGNING_EPOCH_MS) * 100));
}

function digest48(key: Buffer, frame: Buffer, start: number, signedEnd: number): Buffer {
  // The hash covers the frame from its start marker to the end of the link id and timestamp.
  return createHash('sha256').update(key).update(frame.subarray(start, signedEnd)).digest().subarray(0, 6);
}

export class SigningError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SigningError';
  }
}

/** Signs outgoing MAVLink 2 frames on one link: its link id, a timestamp strictly increasing. */
export class FrameSigner {
  private last = 0;

  constructor(
    private readonly key: Buffer,
    readonly linkId: number,
    private readonly registry: MessageRegistry,
    private readonly clock: () => number = Date.now,
  ) {
    if (key.length !== SIGNING_KEY_BYTES) throw new SigningError(`a signing key is ${SIGNING_KEY_BYTES} bytes, got ${key.length}`);
  }

  /**
   * A signed copy of an unsigned MAVLink 2 frame, or null when it cannot be signed (a
   * MAVLink 1 frame, an unknown message whose checksum cannot be redone).
   */
  sign(bytes: Uint8Array): Buffer | null {
    if (bytes[0] !== MAGIC_V2 || (bytes[2]! & INCOMPAT_SIGNED) !== 0) return null;
    const length = bytes[1]!;
    const def = this.registry.byId(bytes[7]! | (bytes[8]! << 8) | (bytes[9]! << 16));
    if (!def) return null;
    const end = HEADER_V2 + length + 2;
    const out = Buffer.allocUnsafe(end + SIGNATURE_LENGTH);
    out.set(bytes.subarray(0, end));
    out[2] = out[2]! | INCOMPAT_SIGNED;
    out.writeUInt16LE(crc16Byte(crc16(out, 1, HEADER_V2 + length), def.crcExtra), HEADER_V2 + length);
    const timestamp = Math.max(signingTimestamp(this.clock()), this.last + 1);
    this.last = timestamp;
    out[end] = this.linkId;
    out.writeUIntLE(timestamp, end + 1, 6);
    digest48(this.key, out, 0, end + 7).copy(out, end + 7);
    return out;
  }
}

/** The timestamp in a signed frame's signature block (10 µs units since 2015-01-01 UTC). */
export function signatureTimestamp(frame: Frame): number {
  return frame.buffer.readUIntLE(frame.signatureOffset + 1, 6);
}

export type VerifyResult = 'ok' | 'unsigned' | 'bad-signature' | 'replayed' | 'old-stream';

/** Verifies incoming signed frames and keeps the replay-protection state. */
export class SignatureVerifier {
  /** (linkId << 16 | sysid << 8 | compid) → last accepted timestamp. */
  private readonly streams = new Map<number, number>();
  private newest = 0;

  constructor(private readonly key: Buffer, private readonly clock: () => number = Date.now) {
    if (key.length !== SIGNING_KEY_BYTES) throw new SigningError(`a signing key is ${SIGNING_KEY_BYTES} bytes, got ${key.length}`);
  }

  verify(frame: Frame): VerifyResult {
    if (frame.version !== 2 || !frame.signed) return 'unsigned';
    const buf = frame.buffer;
    const sig = frame.signatureOffset;
    const expected = digest48(this.key, buf, frame.offset, sig + 7);
    if (!expected.equals(buf.subarray(sig + 7, sig + 13))) return 'bad-signature';
    const linkId = buf[sig]!;
    const timestamp = buf.readUIntLE(sig + 1, 6);
    const stream = (linkId << 16) | (frame.sysid << 8) | frame.compid;
    const last = this.streams.get(stream);
    if (last !== undefined) {
      if (timestamp <= last) return 'replayed';
    } else if (timestamp + SIGNING_WINDOW < Math.max(this.newest, signingTimestamp(this.clock()))) {
      return 'old-stream';
    }
    this.streams.set(stream, timestamp);
    if (timestamp > this.newest) this.newest = timestamp;
    return 'ok';
  }
}
