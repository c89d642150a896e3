/** Recordings encrypted at rest: the chunk format, and the commands that write and read it. */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkOpener, ChunkSealer, DecryptError } from '../src/sinks/encryption.js';
import { attitude, heartbeat } from './helpers/frames.js';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';
import { RecordingRig, tlogFrames } from './helpers/recording.js';
import { until } from './helpers/wait.js';

const key = randomBytes(32);

function sealed(pieces: Buffer[], last = true): Buffer {
  const sealer = new ChunkSealer(key);
  return Buffer.concat([sealer.header(), ...pieces.map((p, i) => sealer.seal(p, last && i === pieces.length - 1))]);
}

function open(bytes: Buffer, withKey = key, cuts: number[] = []) {
  const opener = new ChunkOpener(withKey);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...opener.push(bytes.subarray(at, cut)));
    at = cut;
  }
  return { plain: Buffer.concat(out), status: opener.end() };
}

/** Offsets of the chunks of a sealed file (after the 24-byte header). */
function chunkOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  for (let p = 24; p < bytes.length; p += 4 + 1 + 12 + bytes.readUInt32BE(p) + 16) offsets.push(p);
  return offsets;
}

describe('the chunk format', () => {
  it('opens what it sealed, however the bytes are cut as they arrive', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 5 }), (pieces, rawCuts) => {
      const file = sealed(pieces.map((p) => Buffer.from(p)));
      const cuts = [...new Set(rawCuts.map((c) => c % file.length))].sort((a, b) => a - b);
      const { plain, status } = open(file, key, cuts);
      expect(plain).toEqual(Buffer.concat(pieces.map((p) => Buffer.from(p))));
      expect(status).toEqual({ chunks: pieces.length, complete: true, tornBytes: 0 });
    }));
  });

  it('refuses the wrong key, a modified byte, a removed or reordered chunk, and data after the end', () => {
    const file = sealed([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]);
    expect(() => open(file, randomBytes(32))).toThrow(/first chunk fails authentication: wrong key, or the file was modified/);
    const [c0, c1, c2] = chunkOffsets(file);
    const flipped = Buffer.from(file);
    flipped[c1! + 20]! ^= 1;
    expect(() => open(flipped)).toThrow(/chunk 1 fails authentication/);
    const removed = Buffer.concat([file.subarray(0, c1), file.subarray(c2)]);
    expect(() => open(removed)).toThrow(/chunk 1 fails authentication: the file was modified, or chunks were removed or reordered/);
    const reordered = Buffer.concat([file.subarray(0, c0), file.subarray(c1, c2), file.subarray(c0, c1), file.subarray(c2)]);
    expect(() => open(reordered)).toThrow(DecryptError);
    const appended = Buffer.concat([file, file.subarray(c0, c1)]);
    expect(() => open(appended)).toThrow(/data after the last chunk/);
  });

  it('reports a recording cut short: whole chunks readable, the torn one counted, not closed cleanly', () => {
    const file = sealed([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')], false);
    const [, , c2] = chunkOffsets(file);
    const { plain, status } = open(file.subarray(0, c2! + 10));
    expect(plain.toString()).toBe('onetwo');
    expect(status).toEqual({ chunks: 2, complete: false, tornBytes: 10 });
  });
});

describe('encrypted recordings end to end', () => {
  let cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });

  function keyFile(dir: string, mode = 0o600): string {
    const path = join(dir, 'recording.key');
    writeFileSync(path, `${key.toString('hex')}\n`, { mode });
    chmodSync(path, mode);
    return path;
  }

  it('records sealed; decode --key reads it directly; decrypt writes the plain tlog; a wrong key is refused', async () => {
    const r = await RecordingRig.start({ key });
    cleanup.push(() => r.stop());
    const frames = [heartbeat(0), ...Array.from({ length: 50 }, (_, i) => attitude(i + 1))];
    r.send(...frames);
    await until(() => r.vehicleFramesIn === frames.length, 'frames at the router');
    await r.recorder.close();
    const name = readdirSync(r.dir).find((n) => n.endsWith('.tlog.enc'))!;
    const file = join(r.dir, name);
    expect(readFileSync(file).subarray(0, 8).toString()).toBe('MGTLENC1');
    const k = keyFile(r.dir);
    const decoded = await runMavgate(['decode', '--key', k, file]);
    expect(decoded.code).toBe(0);
    expect(decoded.stdout.trim().split('\n')).toHaveLength(frames.length);
    expect(JSON.parse(decoded.stderr.trim().split('\n').at(-1)!)).toMatchObject({ frames: frames.length, encrypted: { closed_cleanly: true, torn_bytes: 0 } });
    // The path once: `mavgate: FILE: the recording is encrypted: …`, not `FILE: FILE is encrypted`.
    expect(await runMavgate(['decode', file])).toMatchObject({ code: 2, stderr: `mavgate: ${file}: the recording is encrypted: give its key (--key FILE)\n` });
    const policy = join(r.dir, 'policy.yaml');
    writeFileSync(policy, `approved_sinks: { directories: [${r.dir}] }\n`);
    const plain = join(r.dir, 'plain.tlog');
    // A wrong key first: refused, and nothing left behind, so the retry with the right key finds the name free.
    const wrongKey = join(r.dir, 'wrong.key');
    writeFileSync(wrongKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const before = readdirSync(r.dir).sort();
    expect(await runMavgate(['decrypt', '--key', wrongKey, '--policy', policy, file, plain])).toMatchObject({ code: 2, stderr: expect.stringMatching(/wrong key.*nothing written to/) });
    expect(readdirSync(r.dir).sort()).toEqual(before);
    expect(await runMavgate(['decrypt', '--key', k, '--policy', policy, file, plain])).toMatchObject({ code: 0 });
    expect(tlogFrames(plain).map((f) => f.bytes)).toEqual(frames);
    expect(await runMavgate(['decrypt', '--key', k, '--policy', policy, file, plain])).toMatchObject({ code: 2, stderr: expect.stringMatching(/the file exists/) });
    expect(await runMavgate(['decrypt', '--key', k, file, join(tmpdir(), 'elsewhere.tlog')])).toMatchObject({ code: 3 });
    const otherKey = join(r.dir, 'other.key');
    writeFileSync(otherKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    expect(await runMavgate(['decode', '--key', otherKey, file])).toMatchObject({ code: 2, stderr: expect.stringMatching(/wrong key/) });
  });

  it('key generate writes a key only its owner can read and never overwrites; a key others can read is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-key-'));
    const path = join(dir, 'k');
    expect((await runMavgate(['key', 'generate', path])).code).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await runMavgate(['key', 'generate', path])).toMatchObject({ code: 2, stderr: expect.stringMatching(/never overwritten/) });
    const loose = keyFile(dir, 0o644);
    const run = await runMavgate(['run', '--record', dir, '--record-key', loose]);
    expect(run).toMatchObject({ code: 2, stderr: expect.stringMatching(/readable or writable by group or others \(mode 0644\); run chmod 600/) });
  });

  it('after kill -9, an encrypted recording reads up to its last flushed chunk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-kill-enc-'));
    const k = keyFile(dir);
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `approved_sinks: { directories: [${dir}] }\n`);
    const gw = MavgateProcess.start(['run', '--policy', policy, '--record', dir, '--record-key', k, '--status-interval', '0']);
    await gw.waitFor(/recording the SIMULATED vehicle \(not a flight\): .*_SIMULATED\.tlog\.enc/);
    const name = () => readdirSync(dir).find((n) => n.endsWith('.tlog.enc'));
    await until(() => statSync(join(dir, name()!)).size > 2000, 'a few chunks on disk', 8000);
    expect(await gw.stop('SIGKILL')).toBe(null);
    const decoded = await runMavgate(['decode', '--key', k, join(dir, name()!)]);
    expect(decoded.code).toBe(0);
    expect(decoded.stderr).toMatch(/not closed cleanly/);
    expect(JSON.parse(decoded.stderr.trim().split('\n').at(-1)!)).toMatchObject({ encrypted: { closed_cleanly: false }, crc_errors: 0 });
    expect(decoded.stdout.trim().split('\n').length).toBeGreaterThan(10);
  });
});
