/**
 * Header reads and one header rewrite on frame bytes, for the client server: it queues and
 * coalesces frames by source and message without decoding them, and gives frames from
 * clients fresh sequence numbers (several clients may share a source id; the vehicle
 * would read their interleaved counters as loss).
 */
import { crc16, crc16Byte } from './crc.js';
import { type Frame, HEADER_V1, HEADER_V2, MAGIC_V2 } from './frame.js';

/** The message id of a whole frame's bytes. */
export function msgidOf(bytes: Uint8Array): number {
  return bytes[0] === MAGIC_V2 ? bytes[7]! | (bytes[8]! << 8) | (bytes[9]! << 16) : bytes[5]!;
}

/** The sequence number of a whole frame's bytes. */
export function seqOf(bytes: Uint8Array): number {
  return bytes[0] === MAGIC_V2 ? bytes[4]! : bytes[2]!;
}

/** (sysid << 8 | compid) of a whole frame's bytes. */
export function sourceOf(bytes: Uint8Array): number {
  return bytes[0] === MAGIC_V2 ? (bytes[5]! << 8) | bytes[6]! : (bytes[3]! << 8) | bytes[4]!;
}

/**
 * A copy of a verified, unsigned frame with sequence number `seq` and its checksum
 * recomputed. A signed frame is returned as it is: its signature covers the sequence
 * number, and only the key holder may sign.
 */
export function withSequence(frame: Frame, seq: number): Buffer {
  const copy = frame.copy();
  if (frame.signed || !frame.message) return copy;
  const header = frame.version === 2 ? HEADER_V2 : HEADER_V1;
  copy[frame.version === 2 ? 4 : 2] = seq;
  const end = header + frame.payloadLength;
  copy.writeUInt16LE(crc16Byte(crc16(copy, 1, end), frame.message.crcExtra), end);
  return copy;
}
