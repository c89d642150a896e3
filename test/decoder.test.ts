import { describe, expect, it } from 'vitest';
import { FrameDecoder, type Frame, loadRegistry } from '../src/mavlink/index.js';
import { attitude, decodeAll, decodeInChunks, frame, heartbeat, recrc, registry, signed, unknownFrame } from './helpers/frames.js';

const cutsEverywhere = (length: number) => Array.from({ length: length - 1 }, (_, i) => i + 1);

describe('FrameDecoder: the header and payload of one frame', () => {
  it('exposes a MAVLink 2 frame: version, ids, sequence, length, name and lazily decoded fields', () => {
    const bytes = heartbeat(42, 7);
    const seen: Record<string, unknown>[] = [];
    const decoder = new FrameDecoder(registry, (f) => {
      seen.push({ version: f.version, seq: f.seq, sysid: f.sysid, compid: f.compid, msgid: f.msgid, name: f.name,
        verified: f.verified, signed: f.signed, length: f.length, payloadLength: f.payloadLength, fields: f.decode() });
    });
    decoder.push(bytes);
    expect(seen).toEqual([{
      version: 2, seq: 42, sysid: 7, compid: 1, msgid: 0, name: 'HEARTBEAT', verified: true, signed: false,
      length: bytes.length, payloadLength: 9,
      fields: { custom_mode: 5, type: 2, autopilot: 3, base_mode: 81, system_status: 4, mavlink_version: 3 },
    }]);
    expect(decoder.stats.framesV2).toBe(1);
  });

  it('decodes a MAVLink 1 frame', () => {
    const { frames, stats } = decodeAll(registry, frame({ name: 'VFR_HUD', fields: { airspeed: 12.5, groundspeed: 11, heading: 270, throttle: 40, alt: 101.5, climb: -0.5 } }, { version: 1, seq: 9 }));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.version).toBe(1);
    expect(frames[0]!.seq).toBe(9);
    expect(frames[0]!.decode()).toEqual({ airspeed: 12.5, groundspeed: 11, heading: 270, throttle: 40, alt: 101.5, climb: -0.5 });
    expect(stats.framesV1).toBe(1);
  });

  it('hands out frames as views into the pushed chunk, without copying', () => {
    const chunk = Buffer.concat([heartbeat(0), attitude(1), heartbeat(2)]);
    const buffers: Buffer[] = [];
    const offsets: number[] = [];
    new FrameDecoder(registry, (f) => { buffers.push(f.buffer); offsets.push(f.offset); }).push(chunk);
    expect(buffers.every((b) => b === chunk)).toBe(true);
    expect(offsets).toEqual([0, heartbeat().length, heartbeat().length + attitude().length]);
  });

  it('accepts Uint8Array chunks as views too', () => {
    const bytes = heartbeat(1);
    const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    let underlying: ArrayBufferLike | undefined;
    new FrameDecoder(registry, (f) => { underlying = f.buffer.buffer; }).push(u8);
    expect(underlying).toBe(u8.buffer);
  });

  it('reads fields a MAVLink 2 sender truncated (trailing zeros) as zero', () => {
    const bytes = frame({ name: 'SYS_STATUS', fields: { onboard_control_sensors_present: 7 } });
    expect(bytes[1]).toBe(1); // payload cut to its first byte
    const fields = decodeAll(registry, bytes).frames[0]!.decode()!;
    expect(fields.onboard_control_sensors_present).toBe(7);
    expect(fields.voltage_battery).toBe(0);
    expect(fields.battery_remaining).toBe(0);
  });

  it('decodes a maximum-length payload (255 bytes)', () => {
    const data = Array.from({ length: 253 }, (_, i) => (i * 7 + 1) & 0xff);
    const bytes = frame({ name: 'ENCAPSULATED_DATA', fields: { seqnr: 65535, data } });
    expect(bytes[1]).toBe(255);
    const { frames } = decodeAll(registry, bytes);
    expect(frames[0]!.decode()).toEqual({ seqnr: 65535, data });
  });

  it('exposes signed frames: flag, 13-byte signature block, length', () => {
    const plain = heartbeat(3);
    const bytes = signed(plain, 5);
    const { frames, stats } = decodeAll(registry, bytes);
    expect(frames).toHaveLength(1);
    const f = frames[0]!;
    expect(f.signed).toBe(true);
    expect(f.incompatFlags).toBe(1);
    expect(f.length).toBe(plain.length + 13);
    expect(f.buffer[f.signatureOffset]).toBe(5); // link id, the signature block's first byte
    expect(stats.signed).toBe(1);
  });

  it('decodes field values by the rules: char[] cut at NUL, arrays, 64-bit, NaN as null', () => {
    const statustext = frame({ name: 'STATUSTEXT', fields: { severity: 6, text: 'PreArm: GPS' } });
    expect(decodeAll(registry, statustext).frames[0]!.decode()).toEqual({ severity: 6, text: 'PreArm: GPS', id: 0, chunk_seq: 0 });

    const big = frame({ name: 'SYSTEM_TIME', fields: { time_unix_usec: '18446744073709551615', time_boot_ms: 1 } });
    expect(decodeAll(registry, big).frames[0]!.decode()).toEqual({ time_unix_usec: '18446744073709551615', time_boot_ms: 1 });
    const safe = frame({ name: 'SYSTEM_TIME', fields: { time_unix_usec: 1_700_000_000_000_000, time_boot_ms: 1 } });
    expect(decodeAll(registry, safe).frames[0]!.decode()!.time_unix_usec).toBe(1_700_000_000_000_000);

    const nan = frame({ name: 'ATTITUDE', fields: { roll: Number.NaN, pitch: Number.POSITIVE_INFINITY, yaw: 1 } });
    const att = decodeAll(registry, nan).frames[0]!.decode()!;
    expect(att.roll).toBeNull();
    expect(att.pitch).toBeNull();
    expect(att.yaw).toBe(1);

    const rc = frame({ name: 'RC_CHANNELS_RAW', fields: { chan1_raw: 1500 } });
    expect(decodeAll(registry, rc).frames[0]!.decode()!.chan1_raw).toBe(1500);
    const servo = frame({ name: 'HIL_ACTUATOR_CONTROLS', fields: { controls: Array.from({ length: 16 }, (_, i) => i / 4) } });
    expect(decodeAll(registry, servo).frames[0]!.decode()!.controls).toEqual(Array.from({ length: 16 }, (_, i) => i / 4));
  });
});

describe('FrameDecoder: frames split across reads', () => {
  const stream = Buffer.concat([heartbeat(0), signed(attitude(1)), frame({ name: 'GPS_RAW_INT', fields: { lat: 1, lon: 2 } }, { version: 1, seq: 2 })]);

  it('finds every frame whatever single cut point splits the stream (split header, CRC, signature)', () => {
    for (const cut of cutsEverywhere(stream.length)) {
      const { frames } = decodeInChunks(stream, [cut]);
      expect(frames.map((f) => f.bytes.toString('hex')), `cut at ${cut}`).toEqual([
        heartbeat(0).toString('hex'), signed(attitude(1)).toString('hex'),
        frame({ name: 'GPS_RAW_INT', fields: { lat: 1, lon: 2 } }, { version: 1, seq: 2 }).toString('hex'),
      ]);
    }
  });

  it('finds every frame when fed one byte at a time', () => {
    const { frames, decoder } = decodeInChunks(stream, cutsEverywhere(stream.length));
    expect(frames).toHaveLength(3);
    expect(decoder.stats.bytesSkipped).toBe(0);
  });

  it('copies only the frame that straddles two chunks; the others stay views', () => {
    const a = heartbeat(0);
    const b = attitude(1);
    const c = heartbeat(2);
    const all = Buffer.concat([a, b, c]);
    const { frames } = decodeInChunks(all, [a.length + 5]); // b straddles
    expect(frames.map((f) => f.inChunk)).toEqual([true, false, true]);
  });
});

describe('FrameDecoder: garbage, damage and resynchronisation', () => {
  it('loses no intact frame around false start markers in garbage', () => {
    // A false 0xFD claiming a long payload of an unknown message, right before real frames.
    const garbage = Buffer.from([0x00, 0xfd, 0xf0, 0x00, 0x00, 0x01, 0x02, 0x03, 0xff, 0xff, 0xff, 0xfe, 0xfa, 0x11]);
    const good = [heartbeat(0), attitude(1), heartbeat(2), attitude(3)];
    const stream = Buffer.concat([good[0]!, garbage, good[1]!, garbage, good[2]!, garbage, good[3]!, garbage]);
    const { frames, decoder } = decodeInChunks(stream, []);
    expect(frames.filter((f) => f.verified).map((f) => f.bytes.toString('hex'))).toEqual(good.map((g) => g.toString('hex')));
    expect(decoder.stats.bytesSkipped).toBe(4 * garbage.length);
  });

  it('counts zero lost frames over many garbage bursts at every chunk size', () => {
    const parts: Buffer[] = [];
    const good: Buffer[] = [];
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 300; i++) {
      const f = i % 2 ? attitude(i & 0xff) : heartbeat(i & 0xff);
      good.push(f);
      parts.push(f);
      if (i % 3 === 0) {
        const junk = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
        junk[0] = rand() < 0.5 ? 0xfd : 0xfe; // always a false start marker
        parts.push(junk);
      }
    }
    const stream = Buffer.concat(parts);
    for (const size of [1, 7, 64, 250, 1400, 65536]) {
      const cuts = Array.from({ length: Math.ceil(stream.length / size) }, (_, i) => (i + 1) * size);
      const { frames } = decodeInChunks(stream, cuts);
      const found = new Set(frames.filter((f) => f.verified).map((f) => f.bytes.toString('hex')));
      const lost = good.filter((g) => !found.has(g.toString('hex'))).length;
      expect(lost, `chunk size ${size}`).toBe(0);
    }
  });

  it('resyncs from the byte after a start marker whose frame fails the checksum', () => {
    const bad = heartbeat(0);
    bad[12] = bad[12]! ^ 0xff; // payload byte
    const { frames, decoder } = decodeInChunks(Buffer.concat([bad, attitude(1)]), []);
    expect(frames.map((f) => f.bytes.toString('hex'))).toEqual([attitude(1).toString('hex')]);
    expect(decoder.stats.crcErrors).toBe(1);
    expect(decoder.stats.bytesSkipped).toBe(bad.length);
  });

  it('does not skip the claimed length of a damaged frame: a frame hidden inside it is found', () => {
    // A false header claiming a 200-byte ATTITUDE (impossible: ATTITUDE is 28) right before a good frame.
    const falseHeader = Buffer.from([0xfd, 200, 0, 0, 0, 1, 1, 30, 0, 0]);
    const { frames, decoder } = decodeInChunks(Buffer.concat([falseHeader, heartbeat(5)]), []);
    expect(frames).toHaveLength(1);
    expect(decoder.stats.lengthErrors).toBe(1);
  });

  it('waits for a claimed length it cannot judge yet, then recovers the frames behind a false marker at end of stream', () => {
    // Unknown message id, claimed 250 bytes: must wait, then end() resyncs and finds the heartbeat.
    const falseHeader = Buffer.from([0xfd, 250, 0, 0, 0, 1, 1, 0xee, 0xee, 0xee]);
    const frames: Frame[] = [];
    const decoder = new FrameDecoder(registry, (f) => frames.push(f.clone()));
    decoder.push(Buffer.concat([falseHeader, heartbeat(1)]));
    expect(frames).toHaveLength(0);
    expect(decoder.pendingBytes).toBeGreaterThan(0);
    decoder.end();
    expect(frames.map((f) => f.name)).toEqual(['HEARTBEAT']);
  });

  it('drops a checksum-valid MAVLink 2 frame with incompat flags it does not understand, and keeps going', () => {
    const odd = Buffer.from(heartbeat(0));
    odd[2] = 0x02;
    const { frames, decoder } = decodeInChunks(Buffer.concat([recrc(odd), attitude(1)]), []);
    expect(frames.map((f) => f.bytes.toString('hex'))).toEqual([attitude(1).toString('hex')]);
    expect(decoder.stats.incompatDropped).toBe(1);
  });
});

describe('FrameDecoder: messages the registry does not know', () => {
  it('passes an unknown message on, unverified and counted, when another frame follows it', () => {
    const { frames, decoder } = decodeInChunks(Buffer.concat([unknownFrame(), heartbeat(1)]), []);
    expect(frames.map((f) => f.verified)).toEqual([false, true]);
    expect(frames[0]!.bytes.toString('hex')).toBe(unknownFrame().toString('hex'));
    expect(decoder.stats.unknown).toBe(1);
    expect(decoder.stats.frames).toBe(1);
  });

  it('passes an unknown message on when it ends the data (a UDP datagram of its own)', () => {
    const { frames } = decodeInChunks(unknownFrame(), []);
    expect(frames.map((f) => f.verified)).toEqual([false]);
  });

  it('does not pass an unknown message on when what follows it is not a frame', () => {
    const { frames, decoder } = decodeInChunks(Buffer.concat([unknownFrame(), Buffer.from([0x00, 0x11]), heartbeat(1)]), []);
    expect(frames.map((f) => f.verified)).toEqual([true]);
    expect(decoder.stats.unknown).toBe(0);
  });

  it('never lets an unknown frame swallow a frame that checks', () => {
    // A false unknown header whose claimed length covers a whole heartbeat and ends on a start marker.
    const hb = heartbeat(9);
    const claimed = 2 + hb.length;
    const falseHeader = Buffer.from([0xfd, claimed, 0, 0, 0, 1, 1, 0xee, 0xee, 0xee]);
    const stream = Buffer.concat([falseHeader, hb, Buffer.from([0, 0, 0, 0]), attitude(2)]);
    // falseHeader(10) + claimed + crc(2) = 14 + hb.length bytes, ending right at attitude's 0xFD.
    expect(falseHeader.length + claimed + 2).toBe(falseHeader.length + hb.length + 4);
    const { frames } = decodeInChunks(stream, []);
    expect(frames.filter((f) => f.verified).map((f) => f.bytes.toString('hex'))).toEqual([hb.toString('hex'), attitude(2).toString('hex')]);
    expect(frames.some((f) => !f.verified)).toBe(false);
  });
});

describe('FrameDecoder: an unknown frame across a read boundary', () => {
  it('waits rather than swallow a real frame that starts inside it and is not complete yet', () => {
    // Found by the bit-flip property: a false unknown frame whose claimed end lands on a
    // 0xFD inside a real frame's payload, with the read cut before the real frame ends.
    const data = Array.from({ length: 253 }, (_, i) => (i === 20 ? 0xfd : 0x11));
    const real = frame({ name: 'ENCAPSULATED_DATA', fields: { seqnr: 1, data } });
    const filler = Buffer.alloc(5, 0x11);
    const realStart = 10 + filler.length;
    const falseLength = realStart + 32 - 12; // ends on the 0xFD at payload byte 22
    const falseHeader = Buffer.from([0xfd, falseLength, 0, 0, 0, 1, 1, 0xee, 0xee, 0xee]);
    const stream = Buffer.concat([falseHeader, filler, real, heartbeat(3)]);
    for (const cut of [realStart + 33, realStart + 100, stream.length - 5]) {
      const { frames } = decodeInChunks(stream, [cut]);
      expect(frames.filter((f) => f.verified).map((f) => f.bytes.length), `cut at ${cut}`).toEqual([real.length, heartbeat(3).length]);
      expect(frames.some((f) => !f.verified), `cut at ${cut}`).toBe(false);
    }
  });
});

describe('FrameDecoder: statistics', () => {
  it('counts frames per version, bytes, and sequence gaps per (sysid, compid)', () => {
    const stream = Buffer.concat([
      // Heard out of order (3, 1, 2): listed by system all the same.
      frame({ name: 'HEARTBEAT' }, { version: 1, sysid: 3, seq: 255 }), frame({ name: 'HEARTBEAT' }, { version: 1, sysid: 3, seq: 0 }), // wraps
      heartbeat(0, 1), heartbeat(1, 1), heartbeat(4, 1), // two lost from system 1
      heartbeat(10, 2), heartbeat(11, 2), heartbeat(11, 2), // a duplicate, no loss
    ]);
    const { decoder } = decodeInChunks(stream, []);
    const s = decoder.stats;
    expect([s.framesV1, s.framesV2, s.bytes]).toEqual([2, 6, stream.length]);
    expect(s.sequence.sources()).toEqual([
      { sysid: 1, compid: 1, received: 3, lost: 2, lossRate: 0.4 },
      { sysid: 2, compid: 1, received: 3, lost: 0, lossRate: 0 },
      { sysid: 3, compid: 1, received: 2, lost: 0, lossRate: 0 },
    ]);
    expect(s.toJSON()).toMatchObject({ frames: 8, v1: 2, v2: 6, crc_errors: 0, unknown: 0, bytes_skipped: 0 });
  });

  it('counts frames of message ids the registry does not know as received, for a source known from checked frames', () => {
    const minimal = loadRegistry(['minimal']);
    const decoder = new FrameDecoder(minimal, () => {});
    // A vehicle whose every frame but the heartbeat is outside the dialect: no loss at all.
    decoder.push(Buffer.concat([heartbeat(0), attitude(1), attitude(2), heartbeat(3), attitude(4)]));
    decoder.end();
    expect(decoder.stats.sequence.sources()).toEqual([{ sysid: 1, compid: 1, received: 5, lost: 0, lossRate: 0 }]);
  });

  it("restarts a source's numbering when told (a reconnect, a replay that wraps), keeping its counts", () => {
    const decoder = new FrameDecoder(registry, () => {});
    decoder.push(Buffer.concat([heartbeat(0), heartbeat(1), heartbeat(2)]));
    decoder.stats.sequence.restart([(1 << 8) | 1]);
    decoder.push(Buffer.concat([heartbeat(200), heartbeat(201)]));
    expect(decoder.stats.sequence.sources()).toEqual([{ sysid: 1, compid: 1, received: 5, lost: 0, lossRate: 0 }]);
  });
});

describe('FrameDecoder: the dialect set', () => {
  it('treats messages outside the chosen dialects as unknown (unverified, not decoded)', () => {
    const minimal = loadRegistry(['minimal']);
    const seen: [string | null, boolean][] = [];
    const decoder = new FrameDecoder(minimal, (f) => seen.push([f.name, f.verified]));
    decoder.push(Buffer.concat([heartbeat(0), attitude(1), heartbeat(2)]));
    expect(seen).toEqual([['HEARTBEAT', true], [null, false], ['HEARTBEAT', true]]);
    expect(decoder.stats.unknown).toBe(1);
  });
});

/** A damaged MAVLink 1 frame as the issue saw it: its 0xFE sequence byte reads as a frame claiming 263 bytes. */
const damaged = Buffer.from('fe05feff008effffffff01f43b', 'hex');

describe('FrameDecoder: datagrams and quiet streams', () => {
  it('reads a datagram as whole frames: a false start marker at its end does not hold back the next datagram', () => {
    const seen: number[] = [];
    const decoder = new FrameDecoder(registry, (f) => seen.push(f.seq));
    decoder.pushWhole(damaged);
    expect(decoder.pendingBytes).toBe(0);
    for (let seq = 1; seq <= 3; seq++) decoder.pushWhole(heartbeat(seq));
    expect(seen).toEqual([1, 2, 3]);
    expect(decoder.stats.bytesSkipped).toBe(damaged.length);
  });

  it('on a stream, holds frames behind a false marker until the stream goes quiet, then hands them on', () => {
    const seen: number[] = [];
    const decoder = new FrameDecoder(registry, (f) => seen.push(f.seq));
    decoder.push(damaged);
    for (let seq = 1; seq <= 3; seq++) decoder.push(heartbeat(seq));
    expect(seen).toEqual([]);
    decoder.idle();
    expect(seen).toEqual([1, 2, 3]);
    expect(decoder.pendingBytes).toBe(0);
    decoder.push(heartbeat(4));
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('keeps waiting for a frame whose last bytes are late when nothing complete follows it', () => {
    const seen: number[] = [];
    const decoder = new FrameDecoder(registry, (f) => seen.push(f.seq));
    const whole = attitude(7);
    decoder.push(whole.subarray(0, 10));
    decoder.idle();
    expect(decoder.pendingBytes).toBe(10);
    decoder.push(whole.subarray(10));
    expect(seen).toEqual([7]);
  });

  it('gives up several false markers in a row when the stream goes quiet, keeping a late frame after them waiting', () => {
    const seen: number[] = [];
    const decoder = new FrameDecoder(registry, (f) => seen.push(f.seq));
    const late = attitude(9);
    decoder.push(Buffer.concat([damaged, Buffer.from([0xfd, 0xff, 0, 0, 0, 1, 1, 0xee, 0xee, 0xee]), heartbeat(1), heartbeat(2), late.subarray(0, 12)]));
    decoder.idle();
    expect(seen).toEqual([1, 2]);
    expect(decoder.pendingBytes).toBe(12);
    decoder.push(late.subarray(12));
    expect(seen).toEqual([1, 2, 9]);
  });
});
