/**
 * Messages → frame bytes: the same `{name, fields}` shape that decoding produces, with
 * missing fields zero. MAVLink 2 by default (payload zero-truncated, never below one
 * byte), MAVLink 1 on request (base fields only, as the spec defines it).
 */
import { crc16, crc16Byte } from './crc.js';
import { CHECKSUM_LENGTH, HEADER_V1, HEADER_V2, MAGIC_V1, MAGIC_V2 } from './frame.js';
import { MessageEncodeError, encodePayload } from './payload-encode.js';
import type { MessageDef, MessageRegistry } from './registry.js';

export { MessageEncodeError } from './payload-encode.js';

export interface OutgoingMessage {
  /** Message name (`HEARTBEAT`) or id; give at least one. */
  name?: string;
  msgid?: number;
  fields?: Readonly<Record<string, unknown>>;
}

export interface FrameHeader {
  sysid: number;
  compid: number;
  seq: number;
  /** Wire version, 2 unless asked otherwise. */
  version?: 1 | 2;
}

function resolve(registry: MessageRegistry, message: OutgoingMessage): MessageDef {
  const { name, msgid } = message;
  if (name === undefined && msgid === undefined) throw new MessageEncodeError('(message)', undefined, 'give a message name or msgid');
  const byName = name === undefined ? undefined : registry.byName(name);
  const byId = msgid === undefined ? undefined : registry.byId(msgid);
  if (name !== undefined && !byName) throw new MessageEncodeError(name, undefined, 'unknown message name');
  if (msgid !== undefined && !byId) throw new MessageEncodeError(name ?? `#${msgid}`, undefined, `unknown message id ${msgid}`);
  if (byName && byId && byName !== byId) {
    throw new MessageEncodeError(name!, undefined, `name and msgid ${msgid} (${byId.name}) disagree`);
  }
  return (byName ?? byId)!;
}

function checkByte(def: MessageDef, what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
    throw new MessageEncodeError(def.name, undefined, `${what} must be an integer 0..255, got ${String(value)}`);
  }
  return value;
}

/** Builds one frame. Throws MessageEncodeError (naming message and field) and builds nothing on bad input. */
export function encodeFrame(registry: MessageRegistry, message: OutgoingMessage, header: FrameHeader): Buffer {
  const def = resolve(registry, message);
  const fields = message.fields === undefined ? {} : message.fields;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new MessageEncodeError(def.name, undefined, 'fields must be an object of field name → value');
  }
  const sysid = checkByte(def, 'sysid', header.sysid);
  const compid = checkByte(def, 'compid', header.compid);
  const seq = checkByte(def, 'seq', header.seq);
  const version = header.version ?? 2;
  if (version !== 1 && version !== 2) throw new MessageEncodeError(def.name, undefined, `version must be 1 or 2, got ${String(version)}`);

  let frame: Buffer;
  let headerLength: number;
  let length: number;
  if (version === 2) {
    const payload = encodePayload(def, fields, true);
    length = payload.length;
    while (length > 1 && payload[length - 1] === 0) length--;
    headerLength = HEADER_V2;
    frame = Buffer.allocUnsafe(HEADER_V2 + length + CHECKSUM_LENGTH);
    frame[0] = MAGIC_V2;
    frame[1] = length;
    frame[2] = 0;
    frame[3] = 0;
    frame[4] = seq;
    frame[5] = sysid;
    frame[6] = compid;
    frame[7] = def.id & 0xff;
    frame[8] = (def.id >> 8) & 0xff;
    frame[9] = (def.id >> 16) & 0xff;
    payload.copy(frame, HEADER_V2, 0, length);
  } else {
    if (def.id > 255) throw new MessageEncodeError(def.name, undefined, `message id ${def.id} does not fit a MAVLink 1 frame (ids 0..255)`);
    const payload = encodePayload(def, fields, false);
    length = payload.length;
    headerLength = HEADER_V1;
    frame = Buffer.allocUnsafe(HEADER_V1 + length + CHECKSUM_LENGTH);
    frame[0] = MAGIC_V1;
    frame[1] = length;
    frame[2] = seq;
    frame[3] = sysid;
    frame[4] = compid;
    frame[5] = def.id;
    payload.copy(frame, HEADER_V1);
  }
  const crc = crc16Byte(crc16(frame, 1, headerLength + length), def.crcExtra);
  frame.writeUInt16LE(crc, headerLength + length);
  return frame;
}

/** An encoder that numbers frames itself: one sequence counter per (sysid, compid) source. */
export class FrameEncoder {
  private readonly sequences = new Uint8Array(65536);

  constructor(
    readonly registry: MessageRegistry,
    private readonly defaultVersion: 1 | 2 = 2,
  ) {}

  encode(message: OutgoingMessage, source: { sysid: number; compid: number; version?: 1 | 2 }): Buffer {
    const key = ((source.sysid & 0xff) << 8) | (source.compid & 0xff);
    const seq = this.sequences[key]!;
    const frame = encodeFrame(this.registry, message, { ...source, seq, version: source.version ?? this.defaultVersion });
    this.sequences[key] = (seq + 1) & 0xff;
    return frame;
  }
}
