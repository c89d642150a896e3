/**
 * CRC-16/MCRF4XX (the "X.25" checksum of the MAVLink spec): reflected polynomial 0x1021
 * (0x8408 reflected), initial value 0xFFFF, no final XOR. Every MAVLink frame carries it
 * over the header (without the start marker) and the payload, then folds in the message's
 * crc_extra byte so that sender and receiver prove they agree on the message layout.
 */

export const CRC_INIT = 0xffff;

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
    table[byte] = crc;
  }
  return table;
}

/** Byte-at-a-time lookup table, shared by every checksum in the process. */
export const CRC_TABLE: Uint16Array = buildTable();

/** Folds `bytes[start..end)` into `crc` and returns the new checksum. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length, crc = CRC_INIT): number {
  const table = CRC_TABLE;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ table[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** Folds one byte (crc_extra, typically) into `crc`. */
export function crc16Byte(crc: number, byte: number): number {
  return (crc >>> 8) ^ CRC_TABLE[(crc ^ byte) & 0xff]!;
}
