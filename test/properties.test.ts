/** Properties of the decoder and encoder over generated input (fast-check). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, type Fields } from '../src/mavlink/index.js';
import { allMessages, anyMessage, messageOf, type GeneratedMessage } from './helpers/arbitraries.js';
import { decodeInChunks, registry, signed } from './helpers/frames.js';

const encode = (m: GeneratedMessage) =>
  encodeFrame(registry, { msgid: m.def.id, fields: m.fields }, { sysid: m.sysid, compid: m.compid, seq: m.seq, version: m.version });

/** What decoding should give back: every field, extension fields of a MAVLink 1 frame as zero. */
function expectedFields(m: GeneratedMessage): Fields {
  const out: Fields = {};
  for (const f of m.def.fields) {
    const zero = f.type === 'char' ? '' : f.arrayLength > 0 ? new Array(f.arrayLength).fill(0) : 0;
    out[f.name] = f.name in m.fields ? m.fields[f.name]! : zero;
  }
  return out;
}

/** A stream of valid frames, some of them signed. */
const frameStream = fc.array(fc.tuple(anyMessage, fc.boolean()), { minLength: 1, maxLength: 30 }).map((items) =>
  items.map(([m, sign]) => (sign && m.version === 2 ? signed(encode(m)) : encode(m))),
);

const cutsFor = (length: number) => fc.array(fc.integer({ min: 1, max: Math.max(1, length - 1) }), { maxLength: 40 });

describe('decoder properties', () => {
  it('any bytes, in any chunks: never throws, terminates, and accounts for every byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 20 }), (bytes, cuts) => {
        const { frames, decoder } = decodeInChunks(Buffer.from(bytes), cuts);
        const inFrames = frames.reduce((n, f) => n + f.bytes.length, 0);
        expect(inFrames + decoder.stats.bytesSkipped).toBe(bytes.length);
        expect(decoder.pendingBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('finds every frame of a stream whatever the chunk boundaries (1 byte to 64 KiB)', () => {
    fc.assert(
      fc.property(
        frameStream.chain((frames) => {
          const total = frames.reduce((n, f) => n + f.length, 0);
          return fc.tuple(fc.constant(frames), fc.oneof(cutsFor(total), fc.integer({ min: 1, max: 65536 }).map((size) => Array.from({ length: Math.ceil(total / size) }, (_, i) => (i + 1) * size))));
        }),
        ([frames, cuts]) => {
          const { frames: found, decoder } = decodeInChunks(Buffer.concat(frames), cuts);
          expect(found.map((f) => f.bytes.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
          expect(decoder.stats.bytesSkipped).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a single flipped bit loses at most the frame it hit', () => {
    fc.assert(
      fc.property(
        frameStream.filter((f) => f.length >= 2).chain((frames) =>
          fc.tuple(fc.constant(frames), fc.nat({ max: frames.length - 1 }), fc.nat(), fc.nat({ max: 7 }), cutsFor(frames.reduce((n, f) => n + f.length, 0)))),
        ([frames, hit, at, bit, cuts]) => {
          const damaged = frames.map((f) => Buffer.from(f));
          const target = damaged[hit]!;
          target[at % target.length] ^= 1 << bit;
          const { frames: found } = decodeInChunks(Buffer.concat(damaged), cuts);
          const got = new Set(found.filter((f) => f.verified).map((f) => f.bytes.toString('hex')));
          const lost = frames.filter((f, i) => i !== hit && !got.has(f.toString('hex')));
          expect(lost).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('datagrams of whole frames: every frame comes out at once, whatever garbage datagrams come between', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(frameStream.map((frames) => ({ frames })), fc.uint8Array({ minLength: 1, maxLength: 300 }).map((garbage) => ({ garbage: Buffer.from(garbage) }))), { minLength: 1, maxLength: 12 }),
        (datagrams) => {
          const found: string[] = [];
          const decoder = new FrameDecoder(registry, (f) => found.push(f.copy().toString('hex')));
          for (const d of datagrams) {
            const before = found.length;
            if ('garbage' in d) {
              decoder.pushWhole(d.garbage);
              continue;
            }
            decoder.pushWhole(Buffer.concat(d.frames));
            expect(found.slice(before)).toEqual(d.frames.map((f) => f.toString('hex')));
            expect(decoder.pendingBytes).toBe(0);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('encoder properties', () => {
  it('encode then decode gives back the same fields, for every message of the registry', () => {
    expect(allMessages.length).toBe(registry.size);
    for (const def of allMessages) {
      fc.assert(
      fc.property(messageOf(def), (m) => {
        const bytes = encode(m);
        const out: Fields[] = [];
        const decoder = new FrameDecoder(registry, (f) => {
          expect([f.version, f.sysid, f.compid, f.seq, f.msgid, f.verified]).toEqual([m.version, m.sysid, m.compid, m.seq, m.def.id, true]);
          out.push(f.decode()!);
        });
        decoder.push(bytes);
        expect(out).toEqual([expectedFields(m)]);
      }),
      { numRuns: 12 },
      );
    }
  });

  it('a field read in place (uint8, uint32, int32) is the decoded value, truncated payloads included', () => {
    const scalar = allMessages.flatMap((def) => def.fields.filter((f) => f.arrayLength === 0 && ['uint8_t', 'uint32_t', 'int32_t'].includes(f.type)).map((field) => ({ def, field })));
    fc.assert(
      fc.property(fc.constantFrom(...scalar).chain(({ def, field }) => messageOf(def).map((m) => ({ m, field }))), ({ m, field }) => {
        let read: number | undefined;
        new FrameDecoder(registry, (f) => {
          read = field.type === 'uint8_t' ? f.uint8(field.offset) : field.type === 'uint32_t' ? f.uint32(field.offset) : f.int32(field.offset);
        }).push(encode(m));
        // A MAVLink 1 frame has no extension fields: they read as 0, as decoding gives them.
        expect(read).toBe((expectedFields(m)[field.name] as number | undefined) ?? 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('a MAVLink 2 payload is never truncated below one byte', () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const bytes = encode(m);
        if (m.version === 2) expect(bytes[1]).toBeGreaterThanOrEqual(1);
        else expect(bytes[1]).toBe(m.def.baseLength);
      }),
      { numRuns: 500 },
    );
  });
});
