/**
 * The flight recorder on a real gateway with real UDP links and real files: what it writes
 * is what the links delivered, byte for byte, in both directions; it rotates, keeps to its
 * retention limits, survives a full disk and a vanished directory, and never drops silently.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attitude, frame, heartbeat, signed, unknownFrame } from './helpers/frames.js';
import { RecordingRig, tlogFrames } from './helpers/recording.js';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function rig(...args: Parameters<typeof RecordingRig.start>): Promise<RecordingRig> {
  const r = await RecordingRig.start(...args);
  cleanup.push(() => r.stop());
  return r;
}

const recordings = (dir: string) => readdirSync(dir).filter((n) => /\.tlog(\.enc)?$/.test(n)).sort();

describe('recording', () => {
  it('writes every frame as received, signed and unknown ones included, and the ground station\'s control frames, targeted ones too', async () => {
    const r = await rig();
    const fromVehicle = [heartbeat(0), attitude(1), signed(frame({ name: 'SYS_STATUS', fields: { load: 250 } }, { seq: 2 })), frame({ name: 'VFR_HUD', fields: { alt: 12 } }, { seq: 3, version: 1 }), unknownFrame(0xabcdef, [1, 2, 3, 4], 4), attitude(5)];
    r.send(...fromVehicle);
    await until(() => r.vehicleFramesIn === fromVehicle.length, 'the vehicle frames at the router');
    r.gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
    r.gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    r.gcs.send({ name: 'PARAM_REQUEST_READ', fields: { target_system: 1, target_component: 1, param_id: 'SYSID_THISMAV', param_index: -1 } });
    await until(() => r.gateway.links[1]!.port.framesIn === 3, 'the ground station frames at the router');
    await r.recorder.close();
    const files = recordings(r.dir);
    // The unknown frame's source (7/8) is a vehicle of its own.
    expect(files).toEqual([expect.stringMatching(/^test-site_sys1_\d{8}T\d{6}Z\.tlog$/), expect.stringMatching(/^test-site_sys7_/)]);
    const sys1 = tlogFrames(join(r.dir, files[0]!));
    const recorded = sys1.map((f) => f.bytes);
    expect(recorded.slice(0, 4)).toEqual(fromVehicle.slice(0, 4));
    expect(recorded[4]).toEqual(fromVehicle[5]);
    expect(recorded.slice(5).map((b) => b[7])).toEqual([0, 76, 20]); // HEARTBEAT, COMMAND_LONG, PARAM_REQUEST_READ from the ground station
    // A ground station's broadcast (its heartbeat) goes into every vehicle's recording.
    expect(tlogFrames(join(r.dir, files[1]!)).map((f) => f.bytes)).toEqual([fromVehicle[4], recorded[5]]);
    // Timestamps: microseconds since the epoch, in order.
    const times = sys1.map((f) => f.timeUs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.abs(times[0]! / 1000 - Date.now())).toBeLessThan(60_000);
    const sidecar = JSON.parse(readFileSync(join(r.dir, `${files[0]}.json`), 'utf8'));
    expect(sidecar).toMatchObject({ sysid: 1, site: 'test-site', jurisdiction: 'XX', policy_sha256: 'f'.repeat(64), gateway_version: 'test', frames: 8 });
    expect(sidecar.sha256).toBe(createHash('sha256').update(readFileSync(join(r.dir, files[0]!))).digest('hex'));
  });

  it('rotates by size, every file complete and readable', async () => {
    const r = await rig({ rotateBytes: 2000 });
    for (let i = 0; i < 300; i++) {
      r.send(attitude(i & 0xff));
      if (i % 50 === 49) await until(() => r.vehicleFramesIn === i + 1, 'frames at the router');
      if (i % 50 === 49) await r.recorder.flush();
    }
    await until(() => r.vehicleFramesIn === 300, 'all frames at the router');
    await r.recorder.close();
    const files = recordings(r.dir);
    expect(files.length).toBeGreaterThan(3);
    const total = files.reduce((n, f) => n + tlogFrames(join(r.dir, f)).length, 0);
    expect(total).toBe(300);
    for (const f of files) expect(JSON.parse(readFileSync(join(r.dir, `${f}.json`), 'utf8')).frames).toBe(tlogFrames(join(r.dir, f)).length);
    expect(r.audit.filter((a) => a.event === 'recording_closed')).toHaveLength(files.length);
  });

  it('deletes the oldest recordings past the age and size limits, each deletion audited', async () => {
    const dir = join(tmpdir(), `mavgate-retention-${process.pid}-${Date.now()}`);
    mkdirSync(dir);
    const old = (name: string, days: number, bytes: number) => {
      writeFileSync(join(dir, name), Buffer.alloc(bytes));
      writeFileSync(join(dir, `${name}.json`), '{}');
      const t = (Date.now() - days * 86_400_000) / 1000;
      utimesSync(join(dir, name), t, t);
    };
    old('a_sys1_20260101T000000Z.tlog', 40, 1000);
    old('b_sys1_20261101T000000Z.tlog', 20, 5000);
    old('c_sys1_20261120T000000Z.tlog', 5, 5000);
    old('d_sys1_20261124T000000Z.tlog', 1, 5000);
    writeFileSync(join(dir, 'notes.txt'), 'not a recording');
    const r = await rig({ retention: { maxAgeMs: 30 * 86_400_000, maxTotalBytes: 12_000 } }, dir);
    r.send(heartbeat(0));
    await until(() => r.audit.filter((a) => a.event === 'recording_deleted').length === 2, 'two deletions');
    expect(r.audit.filter((a) => a.event === 'recording_deleted').map((a) => [a.details.file, a.details.reason])).toEqual([
      ['a_sys1_20260101T000000Z.tlog', 'older than 30 days'],
      ['b_sys1_20261101T000000Z.tlog', 'recordings exceed 12000 bytes'],
    ]);
    expect(readdirSync(dir).sort()).toEqual(['c_sys1_20261120T000000Z.tlog', 'c_sys1_20261120T000000Z.tlog.json', 'd_sys1_20261124T000000Z.tlog', 'd_sys1_20261124T000000Z.tlog.json', 'notes.txt', ...recordings(dir).filter((n) => n.startsWith('test-site')).flatMap((n) => [n, `${n}.json`])].sort());
  });

  it('counts, logs and audits frames it cannot queue; it never drops silently', async () => {
    const r = await rig({ queueBytes: 200, flushIntervalMs: 3_600_000 });
    r.send(...Array.from({ length: 20 }, (_, i) => attitude(i)));
    await until(() => r.vehicleFramesIn === 20, 'frames at the router');
    const stats = r.recorder.stats();
    expect(stats.dropped).toBeGreaterThan(0);
    expect(r.audit.some((a) => a.event === 'recording_dropping')).toBe(true);
    await r.recorder.close();
    const kept = tlogFrames(join(r.dir, recordings(r.dir)[0]!)).length;
    expect(kept + stats.dropped).toBe(20);
  });

  it('starts a new file when the directory vanishes under it, and says so', async () => {
    const r = await rig();
    r.send(heartbeat(0));
    await until(() => r.recorder.stats().recorded === 1, 'the first frame on disk');
    rmSync(r.dir, { recursive: true });
    r.send(attitude(1));
    await until(() => r.audit.some((a) => a.event === 'recording_lost_file'), 'the lost file to be noticed');
    // The count is of frames on disk: the deleted file's frame went with it.
    await until(() => r.audit.filter((a) => a.event === 'recording_started').length === 2 && r.recorder.stats().files[0]?.frames === 1, 'the next frame on disk, in a new file');
    expect(r.recorder.stats().recorded).toBe(1);
    await r.recorder.close();
    expect(tlogFrames(join(r.dir, recordings(r.dir)[0]!)).map((f) => f.bytes)).toEqual([attitude(1)]);
  });

  it('does not follow a directory recreated as a symlink out of the approved ones: refused and audited, resumed when the real one is back', async () => {
    const data = mkdtempSync(join(tmpdir(), 'mavgate-rec-data-'));
    const outside = mkdtempSync(join(tmpdir(), 'mavgate-rec-outside-'));
    const rec2 = join(data, 'rec2');
    const r = await rig({}, rec2, data);
    r.send(heartbeat(0));
    await until(() => r.recorder.stats().recorded === 1, 'the first frame on disk');
    rmSync(rec2, { recursive: true });
    symlinkSync(outside, rec2);
    r.send(attitude(1));
    await until(() => r.audit.some((a) => a.event === 'refused' && a.details.destination === rec2), 'the refusal audited');
    const refusal = r.audit.find((a) => a.event === 'refused')!.details;
    expect(refusal).toMatchObject({ entry: 'recording', rule: 'approved_sinks.directories', reason: expect.stringMatching(/now leads to .*mavgate-rec-outside-.*not followed/) });
    await until(() => r.recorder.stats().state === 'error', 'the recorder to report it');
    expect(readdirSync(outside)).toEqual([]);
    // The real directory is back: recording resumes there, with the frame that waited.
    unlinkSync(rec2);
    await until(() => r.recorder.stats().state === 'recording' && r.recorder.stats().queuedBytes === 0, 'recording to resume in the real directory');
    await r.recorder.close();
    expect(readdirSync(outside)).toEqual([]);
    expect(recordings(rec2).flatMap((f) => tlogFrames(join(rec2, f)).map((x) => x.bytes))).toEqual([attitude(1)]);
  });
});

describe('mavgate run --record', () => {
  it('after kill -9, the recording reads up to the last flush, and decode says whether the last record is torn', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-kill-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `approved_sinks: { directories: [${dir}] }\nsite: field-3\n`);
    const gw = MavgateProcess.start(['run', '--policy', policy, '--record', dir, '--status-interval', '0']);
    cleanup.push(async () => void (await gw.stop('SIGKILL')));
    await gw.waitFor(/recording the SIMULATED vehicle \(not a flight\): .*field-3_sys1_\d{8}T\d{6}Z_SIMULATED\.tlog/);
    await gw.waitFor(/clients: http/);
    const name = recordings(dir)[0]!;
    await until(() => statSync(join(dir, name)).size > 1500, 'a few flushes on disk', 8000);
    // The stats API shows the recording.
    const port = /clients: http:\/\/127\.0\.0\.1:(\d+)\//.exec(gw.stderr)![1];
    const stats = (await (await fetch(`http://127.0.0.1:${port}/v1/stats`)).json()) as { recording: { state: string; files: { path: string }[]; dropped: number } };
    expect(stats.recording).toMatchObject({ state: 'recording', files: [{ path: join(dir, name) }], dropped: 0 });
    expect(await gw.stop('SIGKILL')).toBe(null);
    const decoded = await runMavgate(['decode', join(dir, name)]);
    expect(decoded.code).toBe(0);
    const summary = JSON.parse(decoded.stderr.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ crc_errors: 0, bytes_skipped: 0 });
    expect(summary.frames).toBeGreaterThan(10);
    expect(summary).toHaveProperty('torn_record');
    // The sidecar written at start names the recording; only a clean close adds the count and hash.
    expect(JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'))).not.toHaveProperty('sha256');
  });
});

function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = join(tmpdir(), `mavgate-tmpfs-probe-${process.pid}`);
  mkdirSync(probe, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const TMPFS = canMountTmpfs();

/** A real tmpfs of `size` (e.g. 64k), unmounted after the test. */
function smallDisk(size: string): string {
  const dir = join(tmpdir(), `mavgate-full-${process.pid}-${Date.now()}`);
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  cleanup.push(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * A recorder on a small tmpfs with one frame on disk; then the disk is filled with
 * something else to the last byte, and `sent` frames are relayed while it is full.
 */
async function relayedOnFullDisk(size: string, sent: number, settings: Parameters<typeof rig>[0] = {}): Promise<{ r: RecordingRig; dir: string }> {
  const dir = smallDisk(size);
  const r = await rig(settings, dir);
  r.send(heartbeat(0));
  await until(() => r.recorder.stats().recorded === 1, 'the first frame on disk');
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(256 * 1024));
  } catch {
    // ENOSPC: the disk is full, as wanted.
  }
  for (let i = 1; i <= sent; i++) r.send(attitude(i & 0xff));
  await until(() => r.vehicleFramesIn === sent + 1, 'every frame relayed while the disk is full');
  await until(() => r.recorder.stats().state === 'error', 'the full disk to be reported');
  return { r, dir };
}

describe.skipIf(!TMPFS)('a full disk (a 64 KiB tmpfs; skipped where this user cannot mount one)', () => {
  it('reports the error, keeps relaying, and resumes where it stopped when space returns, no record torn', async () => {
    const sent = 400;
    const { r, dir } = await relayedOnFullDisk('64k', sent);
    expect(r.recorder.stats().error).toBe('disk full');
    expect(r.audit.some((a) => a.event === 'recording_error' && a.details.error === 'disk full')).toBe(true);
    rmSync(join(dir, 'filler'));
    await until(() => r.recorder.stats().state === 'recording' && r.recorder.stats().queuedBytes === 0, 'recording to resume', 5000);
    expect(r.audit.some((a) => a.event === 'recording_resumed')).toBe(true);
    await r.recorder.close();
    const frames = tlogFrames(join(dir, recordings(dir)[0]!));
    expect(frames).toHaveLength(sent + 1);
    expect(frames.slice(1).map((f) => f.bytes)).toEqual(Array.from({ length: sent }, (_, i) => attitude((i + 1) & 0xff)));
  });
});

describe.skipIf(!TMPFS)('shutting down on a full disk (a 48 KiB tmpfs)', () => {
  it('counts only what is on disk: the stats, the sidecar, the audit record and the file agree; no torn record; the rest reported unwritten', async () => {
    const sent = 300;
    const { r, dir } = await relayedOnFullDisk('48k', sent, { flushIntervalMs: 20 });
    await r.recorder.close();
    const stats = r.recorder.stats();
    const name = recordings(dir)[0]!;
    const onDisk = tlogFrames(join(dir, name));
    const sidecar = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { frames: number; bytes: number; sha256: string; unwritten_frames?: number };
    const closed = r.audit.find((a) => a.event === 'recording_closed')!.details;
    expect(stats.unwritten).toBeGreaterThan(0);
    expect(onDisk.length).toBe(stats.recorded);
    expect(sidecar.frames).toBe(stats.recorded);
    expect(closed.frames).toBe(stats.recorded);
    expect(stats.recorded + stats.unwritten + stats.dropped).toBe(sent + 1);
    expect(sidecar.unwritten_frames).toBe(stats.unwritten);
    // No torn record: the file is exactly its whole records, and its hash is the sidecar's.
    const bytes = readFileSync(join(dir, name));
    expect(bytes.length).toBe(onDisk.reduce((n, f) => n + 8 + f.bytes.length, 0));
    expect(sidecar.bytes).toBe(bytes.length);
    expect(sidecar.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});

describe('recording settings', () => {
  it('rotates by time', async () => {
    const r = await RecordingRig.start({ rotateMs: 1 });
    cleanup.push(() => r.stop());
    for (let i = 0; i < 3; i++) {
      r.send(attitude(i));
      await until(() => r.recorder.stats().recorded === i + 1, `frame ${i} on disk`);
    }
    await r.recorder.close();
    const files = recordings(r.dir);
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(files.flatMap((f) => tlogFrames(join(r.dir, f)).map((x) => x.bytes))).toEqual([0, 1, 2].map((i) => attitude(i)));
  });

  it('reads recording: from the config, every error naming the key', async () => {
    const { parseConfig } = await import('../src/cli/config.js');
    expect(parseConfig({ recording: { directory: 'rec', rotate_mb: 1, retain_days: 2, key_file: 'k', encrypt: true } }, '/etc/mavgate/g.yaml').recording).toEqual({
      directory: '/etc/mavgate/rec', flushIntervalMs: 1000, rotateBytes: 1_048_576, retainMs: 172_800_000, keyFile: '/etc/mavgate/k',
    });
    expect(parseConfig({ recording: false }, 'g.yaml').recording).toBe(null);
    expect(() => parseConfig({ recording: { encrypt: true } }, 'g.yaml')).toThrow(/g\.yaml: recording\.key_file: encrypt: true needs the key file/);
    expect(() => parseConfig({ recording: { rotate_mb: -1 } }, 'g.yaml')).toThrow(/recording\.rotate_mb/);
  });

  it('mavgate run records nothing when the config says recording: false, unless --record asks for it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-norec-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'gateway.yaml'), 'recording: false\n');
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks:\n  directories: [${dir}]\n`);
    const statusOf = async (extra: string[]) => {
      const gw = MavgateProcess.start(['run', '--config', join(dir, 'gateway.yaml'), '--policy', join(dir, 'policy.yaml'), '--listen', '127.0.0.1:0', '--status-interval', '0', ...extra], false);
      cleanup.push(async () => void (await gw.stop()));
      await gw.waitFor(/system 1\/1: heartbeat/);
      gw.child.kill('SIGUSR1');
      await gw.waitFor(/vehicles: 1\/1.*\n/);
      expect(await gw.stop()).toBe(0);
      return gw.stderr;
    };
    const off = await statusOf([]);
    expect(off).not.toMatch(/\| rec |recording( the|:| closed)/);
    expect(readdirSync(dir).sort()).toEqual(['audit', 'gateway.yaml', 'policy.yaml']);
    const on = await statusOf(['--record', join(dir, 'rec')]);
    expect(on).toMatch(/\| rec \d+ file/);
  }, 30_000);
});
