/** Value types of decoded MAVLink fields, shared by the payload decoder and encoder. */

/**
 * A decoded field value: integers and floats as numbers, 64-bit integers beyond 2^53 as
 * decimal strings, NaN and infinities as null, `char[]` as a string cut at the first NUL,
 * other arrays as arrays.
 */
export type FieldValue = number | string | null | FieldValue[];
export type Fields = Record<string, FieldValue>;

export const INTEGER_RANGES = {
  uint8_t: [0, 0xff],
  int8_t: [-0x80, 0x7f],
  uint16_t: [0, 0xffff],
  int16_t: [-0x8000, 0x7fff],
  uint32_t: [0, 0xffffffff],
  int32_t: [-0x80000000, 0x7fffffff],
} as const;

export const INT64_RANGES = {
  uint64_t: [0n, 0xffffffffffffffffn],
  int64_t: [-0x8000000000000000n, 0x7fffffffffffffffn],
} as const;

/** Largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;
