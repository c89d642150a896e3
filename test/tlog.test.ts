import { describe, expect, it } from 'vitest';
import { encodeTlogRecord, looksLikeRecord, TlogDecoder } from '../src/mavlink/index.js';
import { HAS_CORPUS, readCorpus } from './helpers/corpus.js';
import { attitude, heartbeat, registry, unknownFrame } from './helpers/frames.js';

const T0 = 1_700_000_000_000_000;

function decode(bytes: Buffer, chunk = bytes.length || 1) {
  const seen: { timeUs: number; name: string | null; verified: boolean; hex: string }[] = [];
  const decoder = new TlogDecoder(registry, (f, timeUs) => seen.push({ timeUs, name: f.name, verified: f.verified, hex: f.bytes().toString('hex') }));
  for (let i = 0; i < bytes.length; i += chunk) decoder.push(Buffer.from(bytes.subarray(i, i + chunk)));
  decoder.end();
  return { seen, stats: decoder.stats };
}

describe('tlog records', () => {
  it('writes and reads the 8-byte big-endian microsecond timestamp', () => {
    const record = encodeTlogRecord(T0 + 123, heartbeat(1));
    expect(record.readBigUInt64BE(0)).toBe(BigInt(T0 + 123));
    expect(looksLikeRecord(record, 0)).toBe(true);
    expect(looksLikeRecord(heartbeat(1), 0)).toBe(false);
    expect(decode(record).seen).toEqual([{ timeUs: T0 + 123, name: 'HEARTBEAT', verified: true, hex: heartbeat(1).toString('hex') }]);
  });

  it('skips a record whose frame fails the checksum as one record, and counts it', () => {
    const bad = heartbeat(1);
    bad[11] = bad[11]! ^ 0x40;
    const file = Buffer.concat([encodeTlogRecord(T0, heartbeat(0)), encodeTlogRecord(T0 + 1, bad), encodeTlogRecord(T0 + 2, attitude(2))]);
    const { seen, stats } = decode(file);
    expect(seen.map((s) => s.timeUs)).toEqual([T0, T0 + 2]);
    expect([stats.records, stats.frames, stats.crcErrors]).toEqual([3, 2, 1]);
  });

  it('passes a record of an unknown message on, unverified', () => {
    const file = Buffer.concat([encodeTlogRecord(T0, unknownFrame()), encodeTlogRecord(T0 + 1, heartbeat(0)), encodeTlogRecord(T0 + 2, unknownFrame(0xabcdee))]);
    const { seen, stats } = decode(file);
    expect(seen.map((s) => [s.name, s.verified])).toEqual([[null, false], ['HEARTBEAT', true], [null, false]]);
    expect(stats.unknown).toBe(2);
  });

  it('resynchronises on the next record after bytes that are not a record', () => {
    const file = Buffer.concat([encodeTlogRecord(T0, heartbeat(0)), Buffer.from([0xfd, 0x01, 0x02, 0xfe, 0x00]), encodeTlogRecord(T0 + 5, attitude(1))]);
    const { seen, stats } = decode(file);
    expect(seen.map((s) => s.name)).toEqual(['HEARTBEAT', 'ATTITUDE']);
    expect(stats.bytesSkipped).toBe(5);
  });

  it('reports a torn last record (a crash mid-write) with its offset, instead of failing', () => {
    const whole = Buffer.concat([encodeTlogRecord(T0, heartbeat(0)), encodeTlogRecord(T0 + 1, attitude(1))]);
    const cut = whole.subarray(0, whole.length - 7);
    const { seen, stats } = decode(Buffer.from(cut));
    expect(seen.map((s) => s.name)).toEqual(['HEARTBEAT']);
    const offset = encodeTlogRecord(T0, heartbeat(0)).length;
    expect(stats.tornRecord).toEqual({ offset, bytes: cut.length - offset });
    expect(stats.toJSON().torn_record).toEqual({ offset, bytes: cut.length - offset });
  });

  it('reads the same frames whatever the read size', () => {
    const file = HAS_CORPUS
      ? readCorpus('tlog', 'arducopter_2012-11-18_v1_cut.tlog')
      : Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeTlogRecord(T0 + i, i % 2 ? attitude(i & 0xff) : heartbeat(i & 0xff))));
    const reference = decode(file);
    for (const chunk of [1, 9, 250, 1400, 65536]) {
      const { seen, stats } = decode(file, chunk);
      expect(seen, `chunk ${chunk}`).toEqual(reference.seen);
      expect(stats.tornRecord).toEqual(reference.stats.tornRecord);
    }
  });
});
