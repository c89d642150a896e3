/**
 * MAVLink frame layout and the frame cursor the decoder hands out.
 *
 * v1: FE len seq sys comp msgid  payload  crc(2)                       → 8 + len bytes
 * v2: FD len incompat compat seq sys comp msgid(3)  payload  crc(2) [signature(13)]
 *                                                                       → 12 + len (+13) bytes
 */
import { decodePayload } from './payload-decode.js';
import type { MessageDef } from './registry.js';
import type { Fields } from './values.js';

export const MAGIC_V1 = 0xfe;
export const MAGIC_V2 = 0xfd;
export const HEADER_V1 = 6;
export const HEADER_V2 = 10;
export const CHECKSUM_LENGTH = 2;
export const SIGNATURE_LENGTH = 13;
/** incompat_flags bit 0: a 13-byte signature follows the checksum. */
export const INCOMPAT_SIGNED = 0x01;
/** The longest possible frame: a signed MAVLink 2 frame with a 255-byte payload. */
export const MAX_FRAME_LENGTH = HEADER_V2 + 255 + CHECKSUM_LENGTH + SIGNATURE_LENGTH;

/**
 * One frame, as a view into the bytes it arrived in. The decoder reuses a single
 * instance for every frame, so a consumer that keeps a frame beyond its callback must
 * take `bytes()` (a view that keeps the chunk alive) or `copy()`.
 */
export class Frame {
  /** The chunk (or small carry buffer) holding the frame. */
  buffer: Buffer = Buffer.alloc(0);
  /** Offset of the start marker in `buffer`. */
  offset = 0;
  /** Whole frame length, signature included. */
  length = 0;
  version: 1 | 2 = 2;
  seq = 0;
  sysid = 0;
  compid = 0;
  msgid = 0;
  incompatFlags = 0;
  compatFlags = 0;
  payloadOffset = 0;
  /** Payload length as on the wire (MAVLink 2 payloads are usually zero-truncated). */
  payloadLength = 0;
  /** False for a frame whose message id is not in the registry: its checksum could not be checked. */
  verified = false;
  /** The registry's definition, undefined for an unknown message id. */
  message: MessageDef | undefined = undefined;

  /**
   * Points this cursor at the frame starting at `buf[p]` whose layout checkFrame has
   * already filled in (length, msgid, payload, incompat flags), and reads the rest of
   * the header.
   */
  point(buf: Buffer, p: number, verified: boolean): void {
    this.buffer = buf;
    this.offset = p;
    this.verified = verified;
    if (buf[p] === MAGIC_V2) {
      this.version = 2;
      this.compatFlags = buf[p + 3]!;
      this.seq = buf[p + 4]!;
      this.sysid = buf[p + 5]!;
      this.compid = buf[p + 6]!;
    } else {
      this.version = 1;
      this.compatFlags = 0;
      this.seq = buf[p + 2]!;
      this.sysid = buf[p + 3]!;
      this.compid = buf[p + 4]!;
    }
  }

  get signed(): boolean {
    return (this.incompatFlags & INCOMPAT_SIGNED) !== 0;
  }

  get name(): string | null {
    return this.message?.name ?? null;
  }

  /** Offset of the 13-byte signature block in `buffer`, or -1 for an unsigned frame. */
  get signatureOffset(): number {
    return this.signed ? this.offset + this.length - SIGNATURE_LENGTH : -1;
  }

  /** The frame's bytes without copying; valid as long as the caller keeps it. */
  bytes(): Buffer {
    // A datagram that is one frame (as autopilots send them) is handed on as it is: no view to allocate.
    if (this.offset === 0 && this.length === this.buffer.length) return this.buffer;
    return this.buffer.subarray(this.offset, this.offset + this.length);
  }

  /** A copy of the frame's bytes, independent of the chunk it arrived in. */
  copy(): Buffer {
    return Buffer.from(this.bytes());
  }

  /**
   * One unsigned byte of the payload, read in place (no decoded object): `at` is the
   * field's offset (`FieldDef.offset`). MAVLink 2 drops a payload's trailing zeros, so a
   * byte past the payload's end is 0.
   */
  uint8(at: number): number {
    return at < this.payloadLength ? this.buffer[this.payloadOffset + at]! : 0;
  }

  /** A little-endian 32-bit field of the payload, read in place, unsigned; see `uint8`. */
  uint32(at: number): number {
    return (this.uint8(at) | (this.uint8(at + 1) << 8) | (this.uint8(at + 2) << 16) | (this.uint8(at + 3) << 24)) >>> 0;
  }

  /** A little-endian 32-bit field of the payload, read in place, signed; see `uint8`. */
  int32(at: number): number {
    return this.uint32(at) | 0;
  }

  /** The payload decoded to a plain object, or null for an unknown message id. */
  decode(): Fields | null {
    return this.message ? decodePayload(this.message, this.buffer, this.payloadOffset, this.payloadLength) : null;
  }

  /** A detached copy of this cursor, for consumers that collect frames (tests, tools). */
  clone(): Frame {
    const f = Object.assign(new Frame(), this);
    f.buffer = this.copy();
    f.offset = 0;
    f.payloadOffset = this.payloadOffset - this.offset;
    return f;
  }
}
