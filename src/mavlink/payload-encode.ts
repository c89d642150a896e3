/**
 * Plain object → payload bytes, the inverse of payload-decode. Every value is checked
 * against its field's type and range; a bad value is an error naming message and field,
 * never a silently wrapped number on the wire.
 */
import type { FieldDef, MessageDef } from './registry.js';
import { FLOAT32_MAX, INT64_RANGES, INTEGER_RANGES } from './values.js';

export class MessageEncodeError extends Error {
  constructor(
    readonly messageName: string,
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    super(field === undefined ? `${messageName}: ${reason}` : `${messageName}.${field}: ${reason}`);
    this.name = 'MessageEncodeError';
  }
}

type Writer = (b: Buffer, o: number, value: unknown) => void;
type Fail = (reason: string) => never;

function describe(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (Array.isArray(value)) return `array of ${value.length}`;
  if (value === null) return 'null';
  return `${typeof value} ${String(value)}`;
}

function integerWriter(type: keyof typeof INTEGER_RANGES, fail: Fail): Writer {
  const [min, max] = INTEGER_RANGES[type];
  return (b, o, v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(`expected an integer (${type}), got ${describe(v)}`);
    if (v < min || v > max) fail(`${v} is out of range for ${type} (${min}..${max})`);
    switch (type) {
      case 'uint8_t': b[o] = v; break;
      case 'int8_t': b.writeInt8(v, o); break;
      case 'uint16_t': b.writeUInt16LE(v, o); break;
      case 'int16_t': b.writeInt16LE(v, o); break;
      case 'uint32_t': b.writeUInt32LE(v, o); break;
      case 'int32_t': b.writeInt32LE(v, o); break;
    }
  };
}

/** 64-bit fields take a safe integer, a bigint, or a decimal string (what decode gives beyond 2^53). */
function int64Writer(type: keyof typeof INT64_RANGES, fail: Fail): Writer {
  const [min, max] = INT64_RANGES[type];
  return (b, o, v) => {
    let big: bigint;
    if (typeof v === 'bigint') big = v;
    else if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) big = BigInt(v);
    else fail(`expected an integer (${type}: a safe integer, a bigint or a decimal string), got ${describe(v)}`);
    if (big < min || big > max) fail(`${big} is out of range for ${type}`);
    if (type === 'uint64_t') b.writeBigUInt64LE(big, o);
    else b.writeBigInt64LE(big, o);
  };
}

/** Floats take any number; null stands for NaN, as decode writes NaN and infinities as null. */
function floatWriter(type: 'float' | 'double', fail: Fail): Writer {
  return (b, o, v) => {
    if (v === null) v = Number.NaN;
    if (typeof v !== 'number') fail(`expected a number (${type}), got ${describe(v)}`);
    if (type === 'float') {
      if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX) fail(`${v} is out of range for float`);
      b.writeFloatLE(v, o);
    } else {
      b.writeDoubleLE(v, o);
    }
  };
}

/**
 * The inverse of the decoder's byte-per-char mapping: a string of U+0000..U+00FF is
 * written one byte per char, so decoded strings re-encode exactly; a string with other
 * characters (text typed by a person) is written as UTF-8.
 */
function charWriter(length: number, fail: Fail): Writer {
  return (b, o, v) => {
    if (typeof v !== 'string') fail(`expected a string (char[${length}]), got ${describe(v)}`);
    const encoding = /^[\u0000-\u00ff]*$/.test(v) ? 'latin1' : 'utf8';
    const bytes = Buffer.byteLength(v, encoding);
    if (bytes > length) fail(`string of ${bytes} bytes does not fit char[${length}]`);
    b.write(v, o, encoding);
  };
}

function scalarWriter(f: FieldDef, fail: Fail): Writer {
  switch (f.type) {
    case 'char': return charWriter(Math.max(1, f.arrayLength), fail);
    case 'float': case 'double': return floatWriter(f.type, fail);
    case 'uint64_t': case 'int64_t': return int64Writer(f.type, fail);
    default: return integerWriter(f.type, fail);
  }
}

function fieldWriter(def: MessageDef, f: FieldDef): Writer {
  const fail: Fail = (reason) => {
    throw new MessageEncodeError(def.name, f.name, reason);
  };
  const scalar = scalarWriter(f, fail);
  if (f.arrayLength === 0 || f.type === 'char') return scalar;
  const { arrayLength: n, elementSize: size } = f;
  return (b, o, v) => {
    // A typed array too (a block of bytes, such as LOG_DATA's), without making an array of it first.
    if (!Array.isArray(v) && !(ArrayBuffer.isView(v) && !(v instanceof DataView))) fail(`expected an array of up to ${n} values, got ${describe(v)}`);
    const values = v as ArrayLike<unknown>;
    if (values.length > n) fail(`array of ${values.length} values does not fit ${f.type}[${n}]`);
    for (let i = 0; i < values.length; i++) {
      try {
        scalar(b, o + i * size, values[i]);
      } catch (err) {
        if (err instanceof MessageEncodeError) throw new MessageEncodeError(def.name, `${f.name}[${i}]`, err.reason);
        throw err;
      }
    }
  };
}

interface CompiledMessage {
  readonly writers: ReadonlyMap<string, { field: FieldDef; write: Writer }>;
}

const compiled = new WeakMap<MessageDef, CompiledMessage>();

function compile(def: MessageDef): CompiledMessage {
  let c = compiled.get(def);
  if (!c) {
    c = { writers: new Map(def.fields.map((f) => [f.name, { field: f, write: fieldWriter(def, f) }])) };
    compiled.set(def, c);
  }
  return c;
}

function isZero(value: unknown): boolean {
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return Array.prototype.every.call(value, isZero);
  return value === 0 || value === '' || value === 0n || value === '0';
}

/**
 * Encodes `fields` as the full, untruncated payload (`def.maxLength` bytes, or
 * `def.baseLength` when `extensions` is false). Missing fields are zero.
 */
export function encodePayload(def: MessageDef, fields: Readonly<Record<string, unknown>>, extensions = true): Buffer {
  const { writers } = compile(def);
  const payload = Buffer.alloc(extensions ? def.maxLength : def.baseLength);
  for (const [name, value] of Object.entries(fields)) {
    const entry = writers.get(name);
    if (!entry) throw new MessageEncodeError(def.name, name, `no such field; fields are ${def.fields.map((f) => f.name).join(', ')}`);
    if (entry.field.extension && !extensions) {
      if (isZero(value)) continue;
      throw new MessageEncodeError(def.name, name, 'is a MAVLink 2 extension field and cannot be sent in a MAVLink 1 frame');
    }
    if (value === undefined) continue;
    entry.write(payload, entry.field.offset, value);
  }
  return payload;
}
