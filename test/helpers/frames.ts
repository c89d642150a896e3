/** Building frames for tests: valid ones through the encoder, broken ones by hand. */
import {
  crc16, crc16Byte, decodeAll, encodeFrame, type Frame, FrameDecoder, loadRegistry, type OutgoingMessage, SIGNATURE_LENGTH,
} from '../../src/mavlink/index.js';

export const registry = loadRegistry();

export function frame(message: OutgoingMessage, header: { sysid?: number; compid?: number; seq?: number; version?: 1 | 2 } = {}): Buffer {
  return encodeFrame(registry, message, { sysid: 1, compid: 1, seq: 0, ...header });
}

export const heartbeat = (seq = 0, sysid = 1) =>
  frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 81, custom_mode: 5, system_status: 4, mavlink_version: 3 } }, { seq, sysid });

export const attitude = (seq = 0) =>
  frame({ name: 'ATTITUDE', fields: { time_boot_ms: 1234, roll: 0.5, pitch: -0.25, yaw: 3, rollspeed: 0, pitchspeed: 0, yawspeed: 0.125 } }, { seq });

/** A MAVLink 2 frame with the signed flag, its checksum redone, and 13 signature bytes (not a real signature). */
export function signed(unsignedV2: Buffer, linkId = 0): Buffer {
  const out = Buffer.alloc(unsignedV2.length + SIGNATURE_LENGTH);
  unsignedV2.copy(out);
  out[2] = out[2]! | 0x01;
  const len = out[1]!;
  const def = registry.byId(out[7]! | (out[8]! << 8) | (out[9]! << 16))!;
  out.writeUInt16LE(crc16Byte(crc16(out, 1, 10 + len), def.crcExtra), 10 + len);
  out[12 + len] = linkId;
  for (let i = 1; i < SIGNATURE_LENGTH; i++) out[12 + len + i] = 0xa0 + i;
  return out;
}

/** A MAVLink 2 frame of a message id no dialect defines (its checksum cannot be checked). */
export function unknownFrame(msgid = 0xabcdef, payload: number[] = [1, 2, 3, 4], seq = 0): Buffer {
  const out = Buffer.alloc(12 + payload.length);
  out.set([0xfd, payload.length, 0, 0, seq, 7, 8, msgid & 0xff, (msgid >> 8) & 0xff, (msgid >> 16) & 0xff]);
  out.set(payload, 10);
  out.writeUInt16LE(0x1234, 10 + payload.length);
  return out;
}

/** Re-computes a v2 frame's checksum after a test edited its header (incompat flags, say). */
export function recrc(frameBytes: Buffer): Buffer {
  const out = Buffer.from(frameBytes);
  const v2 = out[0] === 0xfd;
  const header = v2 ? 10 : 6;
  const len = out[1]!;
  const msgid = v2 ? out[7]! | (out[8]! << 8) | (out[9]! << 16) : out[5]!;
  out.writeUInt16LE(crc16Byte(crc16(out, 1, header + len), registry.byId(msgid)!.crcExtra), header + len);
  return out;
}

export interface Seen {
  bytes: Buffer;
  verified: boolean;
  /** True when the frame was handed out as a view of the pushed chunk, not a copy. */
  inChunk: boolean;
}

/** Pushes `stream` cut at `cuts` (positions), collecting what comes out. */
export function decodeInChunks(stream: Buffer, cuts: number[]): { frames: Seen[]; decoder: FrameDecoder } {
  const frames: Seen[] = [];
  let current: Buffer = Buffer.alloc(0);
  const decoder = new FrameDecoder(registry, (f: Frame) => {
    frames.push({ bytes: f.copy(), verified: f.verified, inChunk: f.buffer === current });
  });
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < stream.length).sort((a, b) => a - b), stream.length];
  for (let i = 0; i + 1 < bounds.length; i++) {
    // A fresh Buffer object per chunk, as a socket delivers them.
    current = Buffer.from(stream.buffer, stream.byteOffset + bounds[i]!, bounds[i + 1]! - bounds[i]!);
    decoder.push(current);
  }
  decoder.end();
  return { frames, decoder };
}

export { decodeAll };
