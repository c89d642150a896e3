/** fast-check arbitraries for MAVLink messages: valid values for every field of every message. */
import fc from 'fast-check';
import type { FieldDef, FieldValue, MessageDef } from '../../src/mavlink/index.js';
import { registry } from './frames.js';

const INT_RANGES: Record<string, [number, number]> = {
  uint8_t: [0, 0xff], int8_t: [-0x80, 0x7f], uint16_t: [0, 0xffff], int16_t: [-0x8000, 0x7fff],
  uint32_t: [0, 0xffffffff], int32_t: [-0x80000000, 0x7fffffff],
};

/** What decode gives for a 64-bit integer: a number when safe, a decimal string otherwise. */
const int64 = (min: bigint, max: bigint) =>
  fc.bigInt({ min, max }).map((v): FieldValue => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()));

/** A float as decode gives it: float32-exact, NaN and infinities as null. */
const finiteOrNull = (v: number): FieldValue => (Number.isFinite(v) ? v : null);

function scalar(f: FieldDef): fc.Arbitrary<FieldValue> {
  switch (f.type) {
    case 'float': return fc.float().map(finiteOrNull);
    case 'double': return fc.double().map(finiteOrNull);
    case 'uint64_t': return int64(0n, 0xffffffffffffffffn);
    case 'int64_t': return int64(-0x8000000000000000n, 0x7fffffffffffffffn);
    case 'char': throw new Error('char is handled as a string');
    default: {
      const [min, max] = INT_RANGES[f.type]!;
      return fc.integer({ min, max });
    }
  }
}

function fieldValue(f: FieldDef): fc.Arbitrary<FieldValue> {
  if (f.type === 'char') {
    // Bytes 1..255, one char each: decode cuts at the first NUL, so none inside.
    return fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: Math.max(1, f.arrayLength) });
  }
  if (f.arrayLength === 0) return scalar(f);
  return fc.array(scalar(f), { minLength: f.arrayLength, maxLength: f.arrayLength });
}

export const allMessages: MessageDef[] = [...registry];

/** Values for every field of `def`; without extension fields when `extensions` is false (MAVLink 1). */
export function fieldsOf(def: MessageDef, extensions = true): fc.Arbitrary<Record<string, FieldValue>> {
  const fields = def.fields.filter((f) => extensions || !f.extension);
  return fc.record(Object.fromEntries(fields.map((f) => [f.name, fieldValue(f)])));
}

export interface GeneratedMessage {
  def: MessageDef;
  fields: Record<string, FieldValue>;
  version: 1 | 2;
  sysid: number;
  compid: number;
  seq: number;
}

/** A message of type `def`, in any version it can travel in, with any valid values. */
export function messageOf(def: MessageDef): fc.Arbitrary<GeneratedMessage> {
  return (def.id <= 255 ? fc.constantFrom<1 | 2>(1, 2) : fc.constant<1 | 2>(2)).chain((version) =>
    fc.record({
      def: fc.constant(def),
      fields: fieldsOf(def, version === 2),
      version: fc.constant(version),
      sysid: fc.integer({ min: 0, max: 255 }),
      compid: fc.integer({ min: 0, max: 255 }),
      seq: fc.integer({ min: 0, max: 255 }),
    }),
  );
}

/** Any message of the registry. */
export const anyMessage: fc.Arbitrary<GeneratedMessage> = fc.constantFrom(...allMessages).chain(messageOf);
