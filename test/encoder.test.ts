import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameEncoder, MessageEncodeError } from '../src/mavlink/index.js';
import { decodeAll, frame, registry } from './helpers/frames.js';

const header = { sysid: 255, compid: 190, seq: 0 };

function encodeError(message: Parameters<typeof encodeFrame>[1], h: Parameters<typeof encodeFrame>[2] = header): MessageEncodeError {
  try {
    encodeFrame(registry, message, h);
  } catch (err) {
    if (err instanceof MessageEncodeError) return err;
    throw err;
  }
  throw new Error('expected a MessageEncodeError, got a frame');
}

describe('encodeFrame', () => {
  it('builds MAVLink 2 by default, with the caller ids, by name or by id', () => {
    const byName = encodeFrame(registry, { name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } }, header);
    const byId = encodeFrame(registry, { msgid: 0, fields: { type: 6, autopilot: 8 } }, header);
    expect(byName.equals(byId)).toBe(true);
    const f = decodeAll(registry, byName).frames[0]!;
    expect([f.version, f.sysid, f.compid, f.msgid]).toEqual([2, 255, 190, 0]);
    expect(f.decode()).toMatchObject({ type: 6, autopilot: 8, custom_mode: 0 });
  });

  it('builds MAVLink 1 on request, without extension fields', () => {
    const v1 = encodeFrame(registry, { name: 'STATUSTEXT', fields: { severity: 2, text: 'hi' } }, { ...header, version: 1 });
    expect(v1[0]).toBe(0xfe);
    expect(v1[1]).toBe(51); // base length: STATUSTEXT's id and chunk_seq are MAVLink 2 extensions
    expect(decodeAll(registry, v1).frames[0]!.decode()).toEqual({ severity: 2, text: 'hi', id: 0, chunk_seq: 0 });
  });

  it('keeps one payload byte of an all-zero MAVLink 2 message (the spec), not zero', () => {
    const zero = encodeFrame(registry, { name: 'HEARTBEAT' }, header);
    expect(zero[1]).toBe(1);
    expect(zero.length).toBe(10 + 1 + 2);
    expect(decodeAll(registry, zero).stats.framesV2).toBe(1);
  });

  it('truncates trailing zero bytes of a MAVLink 2 payload', () => {
    const f = encodeFrame(registry, { name: 'ATTITUDE', fields: { time_boot_ms: 1 } }, header);
    expect(f[1]).toBe(1);
  });

  it('refuses, naming message and field: unknown names, ids, fields; wrong types; out-of-range values', () => {
    expect(encodeError({ name: 'NOT_A_MESSAGE' }).message).toBe('NOT_A_MESSAGE: unknown message name');
    expect(encodeError({ msgid: 0xfffff }).message).toMatch(/unknown message id 1048575/);
    expect(encodeError({}).message).toMatch(/give a message name or msgid/);
    expect(encodeError({ name: 'HEARTBEAT', msgid: 1 }).message).toMatch(/disagree/);
    const unknownField = encodeError({ name: 'HEARTBEAT', fields: { mode: 1 } });
    expect([unknownField.messageName, unknownField.field]).toEqual(['HEARTBEAT', 'mode']);
    expect(unknownField.message).toMatch(/no such field; fields are custom_mode, type/);
    expect(encodeError({ name: 'HEARTBEAT', fields: { type: 256 } }).message).toBe('HEARTBEAT.type: 256 is out of range for uint8_t (0..255)');
    expect(encodeError({ name: 'HEARTBEAT', fields: { type: -1 } }).message).toMatch(/out of range/);
    expect(encodeError({ name: 'HEARTBEAT', fields: { type: 1.5 } }).message).toMatch(/HEARTBEAT.type: expected an integer/);
    expect(encodeError({ name: 'HEARTBEAT', fields: { type: '2' } }).message).toMatch(/expected an integer \(uint8_t\), got string "2"/);
    expect(encodeError({ name: 'ATTITUDE', fields: { roll: 'fast' } }).message).toMatch(/ATTITUDE.roll: expected a number \(float\)/);
    expect(encodeError({ name: 'ATTITUDE', fields: { roll: 1e39 } }).message).toMatch(/out of range for float/);
    expect(encodeError({ name: 'STATUSTEXT', fields: { text: 'x'.repeat(51) } }).message).toMatch(/STATUSTEXT.text: string of 51 bytes does not fit char\[50\]/);
    expect(encodeError({ name: 'STATUSTEXT', fields: { text: 5 } }).message).toMatch(/expected a string/);
    expect(encodeError({ name: 'RC_CHANNELS_OVERRIDE', fields: { chan1_raw: 70000 } }).field).toBe('chan1_raw');
    expect(encodeError({ name: 'HIL_ACTUATOR_CONTROLS', fields: { controls: new Array(17).fill(0) } }).message).toMatch(/array of 17 values does not fit float\[16\]/);
    expect(encodeError({ name: 'HIL_ACTUATOR_CONTROLS', fields: { controls: [0, 'x'] } }).field).toBe('controls[1]');
    expect(encodeError({ name: 'SYSTEM_TIME', fields: { time_unix_usec: 2 ** 60 } }).message).toMatch(/safe integer, a bigint or a decimal string/);
    expect(encodeError({ name: 'SYSTEM_TIME', fields: { time_unix_usec: '-1' } }).message).toMatch(/out of range for uint64_t/);
    expect(encodeError({ name: 'HEARTBEAT', fields: null as never }).message).toMatch(/fields must be an object/);
  });

  it('refuses bad header values and MAVLink 1 for what it cannot carry', () => {
    expect(encodeError({ name: 'HEARTBEAT' }, { sysid: 256, compid: 1, seq: 0 }).message).toMatch(/sysid must be an integer 0..255/);
    expect(encodeError({ name: 'HEARTBEAT' }, { sysid: 1, compid: 1, seq: -1 }).message).toMatch(/seq must be/);
    expect(encodeError({ name: 'HEARTBEAT' }, { sysid: 1, compid: 1, seq: 0, version: 3 as never }).message).toMatch(/version must be 1 or 2/);
    expect(encodeError({ name: 'CAMERA_INFORMATION' }, { ...header, version: 1 }).message).toMatch(/id 259 does not fit a MAVLink 1 frame/);
    expect(encodeError({ name: 'STATUSTEXT', fields: { id: 3 } }, { ...header, version: 1 }).message).toBe(
      'STATUSTEXT.id: is a MAVLink 2 extension field and cannot be sent in a MAVLink 1 frame',
    );
    // A zero extension value is what decoding a MAVLink 1 frame gives back, so it re-encodes.
    expect(() => encodeFrame(registry, { name: 'STATUSTEXT', fields: { id: 0 } }, { ...header, version: 1 })).not.toThrow();
  });

  it('accepts 64-bit values as safe integers, bigints and decimal strings', () => {
    for (const v of [123, 123n, '123']) {
      const f = frame({ name: 'SYSTEM_TIME', fields: { time_unix_usec: v } });
      expect(decodeAll(registry, f).frames[0]!.decode()!.time_unix_usec).toBe(123);
    }
    const neg = frame({ name: 'HIL_GPS', fields: {} });
    expect(decodeAll(registry, neg).stats.frames).toBe(1);
  });

  it('writes char[] as one byte per char when it can, UTF-8 otherwise', () => {
    const latin = frame({ name: 'STATUSTEXT', fields: { text: 'Température' } });
    expect(decodeAll(registry, latin).frames[0]!.decode()!.text).toBe('Température');
    const utf8 = frame({ name: 'STATUSTEXT', fields: { text: 'Wind → 5 m/s' } });
    const raw = decodeAll(registry, utf8).frames[0]!.decode()!.text as string;
    expect(Buffer.from(raw, 'latin1').toString('utf8')).toBe('Wind → 5 m/s');
  });
});

describe('FrameEncoder', () => {
  it('numbers frames with one sequence counter per source, wrapping at 256', () => {
    const enc = new FrameEncoder(registry);
    const seqs = (sysid: number, compid: number, n: number) =>
      Array.from({ length: n }, () => decodeAll(registry, enc.encode({ name: 'HEARTBEAT' }, { sysid, compid })).frames[0]!.seq);
    expect(seqs(255, 190, 3)).toEqual([0, 1, 2]);
    expect(seqs(255, 240, 2)).toEqual([0, 1]);
    expect(seqs(255, 190, 1)).toEqual([3]);
    seqs(1, 1, 255);
    expect(seqs(1, 1, 2)).toEqual([255, 0]);
  });

  it('does not advance the counter when a message is refused', () => {
    const enc = new FrameEncoder(registry);
    enc.encode({ name: 'HEARTBEAT' }, { sysid: 1, compid: 1 });
    expect(() => enc.encode({ name: 'HEARTBEAT', fields: { type: 999 } }, { sysid: 1, compid: 1 })).toThrow(MessageEncodeError);
    expect(decodeAll(registry, enc.encode({ name: 'HEARTBEAT' }, { sysid: 1, compid: 1 })).frames[0]!.seq).toBe(1);
  });

  it('uses the default version given at construction', () => {
    const enc = new FrameEncoder(registry, 1);
    expect(enc.encode({ name: 'HEARTBEAT' }, { sysid: 1, compid: 1 })[0]).toBe(0xfe);
    expect(enc.encode({ name: 'HEARTBEAT' }, { sysid: 1, compid: 1, version: 2 })[0]).toBe(0xfd);
  });
});

describe('STATUSTEXT chunks', () => {
  it('sends a text of up to 50 characters whole with id 0, a longer one in 50-character chunks sharing an id, an empty chunk after an exact multiple', async () => {
    const { statusTextChunks, StatusTextIds } = await import('../src/mavlink/index.js');
    expect(statusTextChunks('x'.repeat(50), 7)).toEqual([{ text: 'x'.repeat(50), id: 0, chunk_seq: 0 }]);
    expect(statusTextChunks('a'.repeat(50) + 'b'.repeat(20), 7)).toEqual([{ text: 'a'.repeat(50), id: 7, chunk_seq: 0 }, { text: 'b'.repeat(20), id: 7, chunk_seq: 1 }]);
    expect(statusTextChunks('c'.repeat(100), 9).map((c) => [c.text.length, c.chunk_seq])).toEqual([[50, 0], [50, 1], [0, 2]]);
    const ids = new StatusTextIds();
    const seen = Array.from({ length: 65536 }, () => ids.next());
    expect(seen.includes(0)).toBe(false);
    expect([seen[0], seen[65534], seen[65535]]).toEqual([1, 65535, 1]);
  });
});
