import { describe, expect, it } from 'vitest';
import { CRC_TABLE, crc16, crc16Byte } from '../src/mavlink/index.js';

describe('CRC-16/MCRF4XX', () => {
  it('gives the catalogued check value 0x6F91 for "123456789"', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x6f91);
  });

  it('matches a bit-by-bit implementation on every byte value', () => {
    const bitwise = (crc: number, byte: number) => {
      let tmp = (byte ^ (crc & 0xff)) & 0xff;
      tmp = (tmp ^ (tmp << 4)) & 0xff;
      return ((crc >> 8) ^ (tmp << 8) ^ (tmp << 3) ^ (tmp >> 4)) & 0xffff;
    };
    for (let b = 0; b < 256; b++) {
      expect(crc16Byte(0xffff, b)).toBe(bitwise(0xffff, b));
      expect(crc16Byte(0x1234, b)).toBe(bitwise(0x1234, b));
    }
    expect(CRC_TABLE.length).toBe(256);
  });

  it('checks a real MAVLink 1 HEARTBEAT with its crc_extra (50)', () => {
    // From arducopter_2015-07-05_v1.tlog, record 0 (GCS heartbeat).
    const frame = Buffer.from('fe0900ff0000000000000608000003a1df', 'hex');
    // header+payload without the marker, then crc_extra
    const crc = crc16Byte(crc16(frame, 1, 6 + 9), 50);
    expect(crc).toBe(frame.readUInt16LE(15));
  });

  it('folds ranges: the checksum of a whole equals the checksum continued over its parts', () => {
    const bytes = Buffer.from('the quick brown fox');
    expect(crc16(bytes, 5, bytes.length, crc16(bytes, 0, 5))).toBe(crc16(bytes));
  });
});
