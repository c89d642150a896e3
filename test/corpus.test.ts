/**
 * The real logs in ../shared/corpus, against their README/stats.json counts and against
 * the reference decode of an independent implementation (pymavlink).
 */
import { describe, expect, it } from 'vitest';
import {
  crc16, crc16Byte, encodeFrame, type FieldValue, type Fields, FrameDecoder, loadRegistry, type MessageDef, TlogDecoder,
} from '../src/mavlink/index.js';
import { HAS_CORPUS, NO_CORPUS_REASON, readCorpus, readJsonLinesGz, TLOG_NAMES } from './helpers/corpus.js';

const registry = loadRegistry();

interface Expected {
  i: number;
  ts_us: number | string;
  v: 1 | 2;
  len: number;
  signed: boolean;
  seq: number;
  sysid: number;
  compid: number;
  msgid: number;
  ok: boolean;
  name?: string;
  fields?: Record<string, unknown>;
  error?: string;
}

interface Decoded {
  record: number;
  timeUs: number;
  version: 1 | 2;
  payloadLength: number;
  signed: boolean;
  seq: number;
  sysid: number;
  compid: number;
  msgid: number;
  name: string | null;
  fields: Fields | null;
  bytes: Buffer;
}

function decodeTlog(bytes: Buffer, chunk = 65536) {
  const frames: Decoded[] = [];
  const decoder = new TlogDecoder(registry, (f, timeUs) => {
    frames.push({
      record: decoder.stats.records - 1, timeUs, version: f.version, payloadLength: f.payloadLength, signed: f.signed,
      seq: f.seq, sysid: f.sysid, compid: f.compid, msgid: f.msgid, name: f.name, fields: f.decode(), bytes: f.copy(),
    });
  });
  for (let i = 0; i < bytes.length; i += chunk) decoder.push(bytes.subarray(i, i + chunk));
  decoder.end();
  return { frames, stats: decoder.stats };
}

/**
 * pymavlink shows char[] bytes that are not UTF-8 as U+FFFD or as \xNN text; we keep
 * every byte (one char per byte). Compare what pymavlink would have shown for our bytes.
 */
function sameText(ours: FieldValue | undefined, theirs: string): boolean {
  if (typeof ours !== 'string') return false;
  const asUtf8 = Buffer.from(ours, 'latin1').toString('utf8');
  if (asUtf8 === theirs) return true;
  const ascii = (s: string) => s.replace(/\\x[0-9a-f]{2}/g, '').replace(/[^\x00-\x7f]/g, '');
  return /\\x[0-9a-f]{2}/.test(theirs) && ascii(asUtf8) === ascii(theirs);
}

/**
 * Decoding cuts char[] at the first NUL, so bytes a sender left behind the terminator
 * cannot come back: the original with those bytes zeroed (checksum redone) is what a
 * faithful re-encode must give.
 */
function withCleanCharTails(frame: Buffer, def: MessageDef): Buffer {
  const out = Buffer.from(frame);
  const v2 = out[0] === 0xfd;
  const header = v2 ? 10 : 6;
  const len = out[1]!;
  for (const f of def.fields) {
    if (f.type !== 'char') continue;
    const start = header + f.offset;
    const end = Math.min(header + len, start + f.arrayLength);
    const nul = out.indexOf(0, start);
    if (nul !== -1 && nul < end) out.fill(0, nul, end);
  }
  out.writeUInt16LE(crc16Byte(crc16(out, 1, header + len), def.crcExtra), header + len);
  return out;
}

function sameValue(ours: FieldValue | undefined, theirs: unknown): boolean {
  if (Array.isArray(theirs)) {
    return Array.isArray(ours) && ours.length === theirs.length && theirs.every((t, i) => sameValue(ours[i], t));
  }
  if (typeof theirs === 'string') {
    if (theirs === 'NaN' || theirs === 'Infinity' || theirs === '-Infinity') return ours === null;
    if (/^-?\d+$/.test(theirs)) return String(ours) === theirs; // a 64-bit integer beyond 2^53
    // char[]: pymavlink keeps embedded NULs and shows non-UTF-8 bytes as \xNN; we cut at the first NUL.
    return sameText(ours, theirs.split('\0')[0]!);
  }
  return ours === theirs;
}

describe.skipIf(!HAS_CORPUS)('corpus tlogs', () => {
  const stats = HAS_CORPUS ? (JSON.parse(readCorpus('tlog', 'stats.json').toString()) as Record<string, any>) : {};

  for (const name of TLOG_NAMES) {
    describe(name, () => {
      const bytes = HAS_CORPUS ? readCorpus('tlog', `${name}.tlog`) : Buffer.alloc(0);
      const { frames, stats: decoded } = decodeTlog(bytes);
      const reference = stats[`${name}.tlog`];

      it('decodes the frame counts and CRC failures that stats.json gives', () => {
        const { decoded: accepted, rejected } = reference.pymavlink_per_record_decode;
        expect(decoded.records).toBe(reference.records);
        expect(decoded.frames).toBe(accepted);
        expect(decoded.crcErrors).toBe(rejected);
        expect(decoded.unknown).toBe(0);
        // Each corpus file is of one wire version.
        expect([decoded.framesV1, decoded.framesV2]).toEqual(reference.v2 === 0 ? [accepted, 0] : [0, accepted]);
        expect(decoded.signed).toBe(reference.signed);
      });

      it('reports the cut-off last record, or none', () => {
        const torn = /(\d+) trailing bytes.* at byte (\d+)/.exec(reference.end_of_file);
        if (torn) expect(decoded.tornRecord).toEqual({ offset: Number(torn[2]), bytes: Number(torn[1]) });
        else expect(decoded.tornRecord).toBeNull();
      });

      it('matches every field of every frame the reference decoder accepted, and rejects what it rejected', () => {
        const expected = readJsonLinesGz<Expected>('tlog', `${name}.expected.jsonl.gz`);
        const byRecord = new Map(frames.map((f) => [f.record, f]));
        const mismatches: string[] = [];
        for (const e of expected) {
          const ours = byRecord.get(e.i);
          if (!e.ok) {
            if (ours) mismatches.push(`record ${e.i}: reference rejected (${e.error}), we accepted`);
            continue;
          }
          if (!ours) {
            mismatches.push(`record ${e.i}: reference accepted ${e.name}, we rejected`);
            continue;
          }
          const header = { v: ours.version, len: ours.payloadLength, signed: ours.signed, seq: ours.seq, sysid: ours.sysid, compid: ours.compid, msgid: ours.msgid, name: ours.name };
          const theirs = { v: e.v, len: e.len, signed: e.signed, seq: e.seq, sysid: e.sysid, compid: e.compid, msgid: e.msgid, name: e.name };
          if (JSON.stringify(header) !== JSON.stringify(theirs)) mismatches.push(`record ${e.i}: header ${JSON.stringify(header)} != ${JSON.stringify(theirs)}`);
          if (String(ours.timeUs) !== String(e.ts_us)) mismatches.push(`record ${e.i}: time ${ours.timeUs} != ${e.ts_us}`);
          for (const [field, value] of Object.entries(e.fields ?? {})) {
            if (!(field in ours.fields!)) mismatches.push(`record ${e.i} ${e.name}.${field}: missing (reference ${JSON.stringify(value)})`);
            else if (!sameValue(ours.fields![field], value)) mismatches.push(`record ${e.i} ${e.name}.${field}: ${JSON.stringify(ours.fields![field])} != ${JSON.stringify(value)}`);
          }
        }
        expect(mismatches.slice(0, 20)).toEqual([]);
      });

      it('re-encodes every accepted frame byte for byte', () => {
        const mismatches: string[] = [];
        for (const f of frames) {
          const again = encodeFrame(registry, { msgid: f.msgid, fields: f.fields! }, { sysid: f.sysid, compid: f.compid, seq: f.seq, version: f.version });
          if (!again.equals(withCleanCharTails(f.bytes, registry.byId(f.msgid)!))) mismatches.push(`record ${f.record} ${f.name}: ${again.toString('hex')} != ${f.bytes.toString('hex')}`);
        }
        expect(mismatches.slice(0, 10)).toEqual([]);
      });
    });
  }
});

if (!HAS_CORPUS) it.skip(NO_CORPUS_REASON, () => {});

describe.skipIf(!HAS_CORPUS)('corpus signed stream (raw bytes)', () => {
  it('finds every frame the checksum accepts, with its signed flag, at its offset', () => {
    const meta = JSON.parse(readCorpus('signed', 'signed_stream.json').toString()) as {
      frames: { offset: number; length: number; kind: string; signed: boolean; v: number }[];
    };
    const bytes = readCorpus('signed', 'signed_stream.bin');
    const found: { offset: number; length: number; signed: boolean; version: number }[] = [];
    const decoder = new FrameDecoder(registry, (f) => found.push({ offset: f.offset, length: f.length, signed: f.signed, version: f.version }));
    for (let i = 0; i < bytes.length; i += 250) decoder.push(Buffer.from(bytes.subarray(i, i + 250)));
    decoder.end();
    // Without signature checking (a later layer), every frame but the bad-checksum one is a valid frame.
    const expected = meta.frames.filter((f) => f.kind !== 'bad_crc');
    expect(found.map((f) => [f.length, f.signed, f.version])).toEqual(expected.map((f) => [f.length, f.signed, f.v]));
    expect(decoder.stats.crcErrors).toBe(1);
    expect(decoder.stats.signed).toBe(expected.filter((f) => f.signed).length);
  });
});
