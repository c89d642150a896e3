/**
 * Checking one candidate frame in place: header, length and checksum, without copying
 * and without allocating. Shared by the stream decoder and the tlog reader.
 */
import { CRC_TABLE } from './crc.js';
import { CHECKSUM_LENGTH, Frame, HEADER_V1, HEADER_V2, INCOMPAT_SIGNED, MAGIC_V2, SIGNATURE_LENGTH } from './frame.js';
import type { MessageRegistry } from './registry.js';

/** Not enough bytes yet to tell. */
export const NEED_MORE = 0;
/** A known message whose payload length no version of it can have. */
export const BAD_LENGTH = 1;
/** A known message whose checksum does not match. */
export const BAD_CRC = 2;
/** A known message with a matching checksum. */
export const VERIFIED = 3;
/** Complete, but the message id is unknown, so the checksum cannot be checked. */
export const UNVERIFIED = 4;
export type CheckResult = typeof NEED_MORE | typeof BAD_LENGTH | typeof BAD_CRC | typeof VERIFIED | typeof UNVERIFIED;

/**
 * Checks the candidate frame whose start marker (0xFD or 0xFE, the caller's job) is at
 * `buf[p]`, with bytes available up to `end`. On VERIFIED and UNVERIFIED, `out` holds
 * the frame's layout (length, msgid, payload, incompat flags, definition).
 */
export function checkFrame(registry: MessageRegistry, buf: Buffer, p: number, end: number, out: Frame): CheckResult {
  const available = end - p;
  let len: number;
  let msgid: number;
  let headerLength: number;
  let incompat = 0;
  let frameLength: number;
  if (buf[p] === MAGIC_V2) {
    if (available < HEADER_V2) return NEED_MORE;
    len = buf[p + 1]!;
    incompat = buf[p + 2]!;
    msgid = buf[p + 7]! | (buf[p + 8]! << 8) | (buf[p + 9]! << 16);
    headerLength = HEADER_V2;
    frameLength = HEADER_V2 + len + CHECKSUM_LENGTH + (incompat & INCOMPAT_SIGNED ? SIGNATURE_LENGTH : 0);
  } else {
    if (available < HEADER_V1) return NEED_MORE;
    len = buf[p + 1]!;
    msgid = buf[p + 5]!;
    headerLength = HEADER_V1;
    frameLength = HEADER_V1 + len + CHECKSUM_LENGTH;
  }
  const def = registry.byId(msgid);
  // Judged from the header alone, so a false marker claiming a long frame is dropped
  // before we wait for bytes that belong to the frames behind it.
  if (def !== undefined && len > def.maxLength) return BAD_LENGTH;
  if (available < frameLength) return NEED_MORE;
  out.length = frameLength;
  out.msgid = msgid;
  out.incompatFlags = incompat;
  out.payloadOffset = p + headerLength;
  out.payloadLength = len;
  out.message = def;
  if (def === undefined) return UNVERIFIED;
  const table = CRC_TABLE;
  const crcEnd = p + headerLength + len;
  let crc = 0xffff;
  for (let i = p + 1; i < crcEnd; i++) crc = (crc >>> 8) ^ table[(crc ^ buf[i]!) & 0xff]!;
  crc = (crc >>> 8) ^ table[(crc ^ def.crcExtra) & 0xff]!;
  return crc === (buf[crcEnd]! | (buf[crcEnd + 1]! << 8)) ? VERIFIED : BAD_CRC;
}

export function isStartMarker(byte: number | undefined): boolean {
  return byte === 0xfd || byte === 0xfe;
}
