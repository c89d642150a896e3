/** Playing recordings back into the gateway, and exporting them for mapping and analysis tools. */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { ReplayLink } from '../src/links/replay-link.js';
import { encodeTlogRecord, type Frame } from '../src/mavlink/index.js';
import { ChunkSealer } from '../src/sinks/encryption.js';
import { fixed } from '../src/sinks/export-formats.js';
import { attitude, frame, heartbeat } from './helpers/frames.js';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';
import { corpusFile, HAS_CORPUS, CORPUS_SKIP_NOTE } from './helpers/corpus.js';
import { gateFor } from './helpers/gate.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const T0 = 1_764_000_000_000_000; // µs

/** A recording of `frames`, one every `stepMs`. */
function recording(dir: string, frames: Buffer[], stepMs: number, name = 'flight.tlog'): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(frames.map((f, i) => encodeTlogRecord(T0 + i * stepMs * 1000, f))));
  return path;
}

async function replay(path: string, options: Partial<ConstructorParameters<typeof Gateway>[0]['replay']> = {}) {
  const gateway = new Gateway({ links: [parseEndpoint(`replay:${path}`)], gate: gateFor({}), replay: { speed: 1, loop: false, key: null, ...options } });
  const arrivals: { at: number; bytes: Buffer }[] = [];
  gateway.router.onFrame((f: Frame) => arrivals.push({ at: performance.now(), bytes: f.copy() }));
  await gateway.start();
  cleanup.push(() => gateway.stop());
  const link = gateway.links[0]!.link as ReplayLink;
  return { gateway, link, arrivals };
}

describe('mavgate replay', () => {
  it('plays a 10 s recording at 1× within 5% of its timing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-replay-'));
    const frames = Array.from({ length: 101 }, (_, i) => attitude(i & 0xff));
    const { link, arrivals } = await replay(recording(dir, frames, 100));
    expect(link.progress.totalUs).toBe(10_000_000);
    await link.finished;
    expect(arrivals.map((a) => a.bytes)).toEqual(frames);
    const elapsed = arrivals.at(-1)!.at - arrivals[0]!.at;
    expect(elapsed).toBeGreaterThan(9500);
    expect(elapsed).toBeLessThan(10_500);
    const middle = arrivals[50]!.at - arrivals[0]!.at;
    expect(Math.abs(middle - 5000)).toBeLessThan(250);
  }, 20_000);

  it('plays as fast as it can with max, again and again with loop, and an encrypted recording with its key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-replay-'));
    const frames = [heartbeat(0), ...Array.from({ length: 200 }, (_, i) => attitude((i + 1) & 0xff))];
    const fast = await replay(recording(dir, frames, 1000), { speed: 'max' });
    await fast.link.finished;
    expect(fast.arrivals.map((a) => a.bytes)).toEqual(frames);

    const looping = await replay(recording(dir, frames, 1, 'loop.tlog'), { speed: 'max', loop: true });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => looping.link.progress.loops >= 2 && (clearInterval(check), resolve()), 5);
    });
    expect(looping.arrivals.length).toBeGreaterThanOrEqual(2 * frames.length);

    const key = randomBytes(32);
    const sealer = new ChunkSealer(key);
    const plain = readFileSync(join(dir, 'flight.tlog'));
    writeFileSync(join(dir, 'sealed.tlog.enc'), Buffer.concat([sealer.header(), sealer.seal(plain.subarray(0, 1000)), sealer.seal(plain.subarray(1000), true)]));
    const sealed = await replay(join(dir, 'sealed.tlog.enc'), { speed: 'max', key });
    await sealed.link.finished;
    expect(sealed.arrivals.map((a) => a.bytes)).toEqual(frames);
  });

  it('exits at the end of the recording; a missing file is exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-replay-'));
    const path = recording(dir, [heartbeat(0), attitude(1)], 10);
    const run = await runMavgate(['replay', path, '--speed', 'max', '--no-server']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/end of the recording: closing links/);
    expect(await runMavgate(['replay', join(dir, 'none.tlog')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot read .*none\.tlog: no such file/) });
    expect(await runMavgate(['replay', path, '--speed', 'fast'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--speed: expected max, or a number from 0\.01 to 1000, got "fast"/) });
  });

  it('exits 2 before starting for a file that is not a recording: text, random bytes, an empty file; as replay and as run --link replay:', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-replay-'));
    const files = { 'passwd.tlog': 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n', 'noise.tlog': Buffer.concat([Buffer.alloc(9), randomBytes(4087)]), 'empty.tlog': '' };
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const why = { 'passwd.tlog': /passwd\.tlog is not a tlog: expected an 8-byte big-endian microsecond timestamp then a MAVLink frame at offset 0/, 'noise.tlog': /noise\.tlog is not a tlog: expected an 8-byte/, 'empty.tlog': /empty\.tlog is empty: not a recording/ };
    for (const [name, pattern] of Object.entries(why)) {
      const replayed = await runMavgate(['replay', join(dir, name), '--speed', 'max', '--no-server']);
      expect(replayed, name).toMatchObject({ code: 2, stderr: expect.stringMatching(pattern) });
      expect(replayed.stderr, name).not.toMatch(/running:|link replay:/);
      // run keeps going with a dead link: it must refuse the file before starting, not wait for a signal.
      const run = MavgateProcess.start(['run', '--link', `replay:${join(dir, name)}`, '--no-server']);
      cleanup.push(async () => void (await run.stop('SIGKILL')));
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        once(run.child, 'close').then(([c]) => c as number | null),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running after 10 s'), 10_000))),
      ]).finally(() => clearTimeout(timer));
      expect(code, name).toBe(2);
      expect(run.stderr, name).toMatch(pattern);
      expect(run.stderr, name).not.toMatch(/running:/);
    }
  });
});

describe('mavgate export', () => {
  function policyFor(dir: string): string {
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, `approved_sinks: { directories: [${dir}] }\n`);
    return path;
  }

  it('writes JSON Lines as decode prints them, CSV per message type, and refuses a directory the policy does not approve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-export-'));
    const frames = [heartbeat(0), attitude(1), frame({ name: 'STATUSTEXT', fields: { severity: 6, text: 'Ready, "set"' } }, { seq: 2 }), attitude(3)];
    const path = recording(dir, frames, 100);
    const policy = policyFor(dir);
    expect(await runMavgate(['export', path, '--format', 'jsonl', '--policy', policy, '--out', join(dir, 'out.jsonl')])).toMatchObject({ code: 0 });
    const decoded = await runMavgate(['decode', path]);
    expect(readFileSync(join(dir, 'out.jsonl'), 'utf8')).toBe(decoded.stdout);
    expect(await runMavgate(['export', path, '--format', 'csv', '--messages', 'ATTITUDE,STATUSTEXT', '--policy', policy, '--out', join(dir, 'csv')])).toMatchObject({ code: 0 });
    expect(readdirSync(join(dir, 'csv')).sort()).toEqual(['ATTITUDE.csv', 'STATUSTEXT.csv']);
    const attitudeCsv = readFileSync(join(dir, 'csv', 'ATTITUDE.csv'), 'utf8').trim().split('\n');
    expect(attitudeCsv[0]).toBe('time_us,time,sysid,compid,time_boot_ms,roll,pitch,yaw,rollspeed,pitchspeed,yawspeed');
    expect(attitudeCsv.slice(1)).toEqual([`${T0 + 100_000},2025-11-24T16:00:00.100000Z,1,1,1234,0.5,-0.25,3,0,0,0.125`, `${T0 + 300_000},2025-11-24T16:00:00.300000Z,1,1,1234,0.5,-0.25,3,0,0,0.125`]);
    expect(readFileSync(join(dir, 'csv', 'STATUSTEXT.csv'), 'utf8')).toContain(',6,"Ready, ""set""",');
    expect(await runMavgate(['export', path, '--format', 'jsonl', '--policy', policy, '--out', join(dir, 'out.jsonl')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/the file exists/) });
    expect(await runMavgate(['export', path, '--format', 'gpx', '--policy', policy, '--out', join(tmpdir(), 'elsewhere.gpx')])).toMatchObject({ code: 3, stderr: expect.stringMatching(/residency policy refuses export output/) });
  });

  it.skipIf(!HAS_CORPUS)(`puts every GLOBAL_POSITION_INT with a GPS fix of a corpus flight in the GPX and KML once, values exact, timed${CORPUS_SKIP_NOTE}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-export-'));
    const source = corpusFile('tlog', 'arducopter_2015-07-05_v1.tlog');
    const policy = policyFor(dir);
    expect(await runMavgate(['export', source, '--format', 'gpx', '--policy', policy, '--out', join(dir, 'track.gpx')])).toMatchObject({ code: 0 });
    expect(await runMavgate(['export', source, '--format', 'kml', '--policy', policy, '--out', join(dir, 'track.kml')])).toMatchObject({ code: 0 });
    const decoded = (await runMavgate(['decode', source])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; sysid: number; fields: Record<string, number>; time_us: number });
    // Independently of the exporter: a position counts once the newest GPS_RAW_INT has a 2D fix or better, and never at 0,0.
    let fix = 0;
    const positions = decoded.filter((r) => {
      if (r.sysid !== 1) return false;
      if (r.name === 'GPS_RAW_INT') fix = r.fields.fix_type!;
      return r.name === 'GLOBAL_POSITION_INT' && fix >= 2 && (r.fields.lat !== 0 || r.fields.lon !== 0);
    });
    const all = decoded.filter((r) => r.name === 'GLOBAL_POSITION_INT' && r.sysid === 1);
    expect(positions.length).toBeGreaterThan(1000);
    expect(all.length - positions.length).toBeGreaterThan(100);
    const gpxText = readFileSync(join(dir, 'track.gpx'), 'utf8');
    const gpx = [...gpxText.matchAll(/<trkpt lat="([^"]+)" lon="([^"]+)"><ele>([^<]+)<\/ele>/g)].map((m) => [m[1], m[2], m[3]]);
    expect(gpx).toEqual(positions.map((p) => [fixed(p.fields.lat!, 7), fixed(p.fields.lon!, 7), fixed(p.fields.alt!, 3)]));
    expect(gpxText).not.toMatch(/lat="0\.0000000" lon="0\.0000000"/);
    const kml = readFileSync(join(dir, 'track.kml'), 'utf8');
    expect(kml).toMatch(/xmlns:gx="http:\/\/www\.google\.com\/kml\/ext\/2\.2"/);
    const track = [...kml.matchAll(/<when>([^<]+)<\/when><gx:coord>([^<]+)<\/gx:coord>/g)];
    expect(track.map((m) => m[2])).toEqual(positions.map((p) => `${fixed(p.fields.lon!, 7)} ${fixed(p.fields.lat!, 7)} ${fixed(p.fields.alt!, 3)}`));
    expect(track.map((m) => Date.parse(m[1]!) * 1000)).toEqual(positions.map((p) => Math.floor(p.time_us / 1000) * 1000));
    expect(Number(gpx[100]![0])).toBeCloseTo(positions[100]!.fields.lat! / 1e7, 9);
  });

  const position = (seq: number, lat: number, lon: number, sysid = 1) =>
    frame({ name: 'GLOBAL_POSITION_INT', fields: { time_boot_ms: seq, lat, lon, alt: 100_000, relative_alt: 0, vx: 0, vy: 0, vz: 0, hdg: 0 } }, { seq, sysid });
  const gps = (seq: number, fixType: number) =>
    frame({ name: 'GPS_RAW_INT', fields: { time_usec: 0, fix_type: fixType, lat: 0, lon: 0, alt: 0, eph: 0, epv: 0, vel: 0, cog: 0, satellites_visible: 9 } }, { seq });

  it('skips positions without a fix: at 0,0 and while GPS_RAW_INT reports no fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-export-'));
    const path = recording(dir, [position(0, 0, 0), gps(1, 1), position(2, 488_000_000, 23_000_000), gps(3, 3), position(4, 488_000_001, 23_000_002), position(5, 0, 0)], 100);
    const run = await runMavgate(['export', path, '--format', 'gpx', '--policy', policyFor(dir), '--out', join(dir, 't.gpx')]);
    expect(run).toMatchObject({ code: 0, stderr: expect.stringContaining('"points":1,"no_fix_skipped":3') });
    expect([...readFileSync(join(dir, 't.gpx'), 'utf8').matchAll(/<trkpt lat="([^"]+)" lon="([^"]+)"/g)].map((m) => [m[1], m[2]])).toEqual([['48.8000001', '2.3000002']]);
  });

  it('exits 2 and leaves no file for a file that is not a recording, an unknown --messages name, a --sysid not in the file, options of another format', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-export-'));
    const policy = policyFor(dir);
    const notTlog = join(dir, 'notes.txt');
    writeFileSync(notTlog, 'these are my flight notes, not a recording\n');
    expect(await runMavgate(['export', notTlog, '--format', 'gpx', '--policy', policy, '--out', join(dir, 'a.gpx')]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/notes\.txt is not a tlog/) });
    writeFileSync(join(dir, 'empty.tlog'), '');
    expect(await runMavgate(['export', join(dir, 'empty.tlog'), '--format', 'jsonl', '--policy', policy, '--out', join(dir, 'b.jsonl')]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/empty\.tlog is empty: not a recording/) });
    const path = recording(dir, [heartbeat(0), gps(1, 3), position(2, 488_000_000, 23_000_000), attitude(3)], 100);
    expect(await runMavgate(['export', path, '--format', 'csv', '--messages', 'ATTITUD,VFR_HUD', '--policy', policy, '--out', join(dir, 'c')]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/--messages: no message named "ATTITUD" \(did you mean ATTITUDE\?\)/) });
    expect(await runMavgate(['export', path, '--format', 'csv', '--messages', 'VFR_HUD', '--policy', policy, '--out', join(dir, 'd')]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/no VFR_HUD frame in the recording/) });
    expect(await runMavgate(['export', path, '--format', 'kml', '--sysid', '7', '--policy', policy, '--out', join(dir, 'e.kml')]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/no position from system 7; the recording has positions from system 1 \(--sysid\)/) });
    expect(await runMavgate(['export', path, '--format', 'gpx', '--messages', 'ATTITUDE', '--policy', policy]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/--messages applies to jsonl and csv/) });
    expect(await runMavgate(['export', path, '--format', 'jsonl', '--sysid', '1', '--policy', policy]))
      .toMatchObject({ code: 2, stderr: expect.stringMatching(/--sysid applies to gpx and kml/) });
    expect(readdirSync(dir).sort()).toEqual(['empty.tlog', 'flight.tlog', 'notes.txt', 'policy.yaml']);
  });

  it('export and report refuse an output that exists before reading the recording, and a missing recording is still named first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-export-'));
    const policy = policyFor(dir);
    // An encrypted recording past its first 64 KiB read, its last chunk damaged: reading it all fails, its start does not.
    const key = randomBytes(32);
    writeFileSync(join(dir, 'team.key'), `${key.toString('hex')}\n`, { mode: 0o600 });
    const plain = Buffer.concat(Array.from({ length: 3000 }, (_, i) => encodeTlogRecord(T0 + i * 10_000, i % 10 === 0 ? heartbeat(i & 0xff) : attitude(i & 0xff))));
    expect(plain.length).toBeGreaterThan(128 * 1024);
    const sealer = new ChunkSealer(key);
    const sealed = Buffer.concat([sealer.header(), sealer.seal(plain.subarray(0, 1000)), sealer.seal(plain.subarray(1000), true)]);
    sealed[sealed.length - 5]! ^= 0xff;
    const input = join(dir, 'damaged.tlog.enc');
    writeFileSync(input, sealed);
    const withKey = ['--key', join(dir, 'team.key'), '--policy', policy];
    const exists = (out: string) => new RegExp(`^mavgate: cannot write ${out.replace(/[.]/g, '\\.')}: the file exists; choose another --out\n`);
    for (const [args, out] of [
      [['export', input, '--format', 'gpx'], join(dir, 'track.gpx')],
      // A message the recording does not hold: nothing would be written, so nothing would collide, until its end.
      [['export', input, '--format', 'jsonl', '--messages', 'GLOBAL_POSITION_INT'], join(dir, 'positions.jsonl')],
      [['report', input], join(dir, 'report.html')],
    ] as const) {
      writeFileSync(out, 'kept\n');
      expect(await runMavgate([...args, ...withKey, '--out', out]), out).toMatchObject({ code: 2, stderr: expect.stringMatching(exists(out)) });
      expect(readFileSync(out, 'utf8')).toBe('kept\n');
      expect(await runMavgate([args[0], join(dir, 'none.tlog'), ...args.slice(2), ...withKey, '--out', out]), out)
        .toMatchObject({ code: 2, stderr: expect.stringMatching(/^mavgate: cannot read .*none\.tlog: no such file\n/) });
    }
  });
});
