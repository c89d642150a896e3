import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeTlogRecord } from '../src/mavlink/index.js';
import { corpusFile, HAS_CORPUS } from './helpers/corpus.js';
import { runMavgate } from './helpers/cli.js';
import { attitude, heartbeat } from './helpers/frames.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000_000;
const sampleTlog = Buffer.concat([encodeTlogRecord(T0, heartbeat(17)), encodeTlogRecord(T0 + 100, attitude(18))]);
const tlogPath = join(dir, 'sample.tlog');
writeFileSync(tlogPath, sampleTlog);

describe('mavgate --help', () => {
  it('is an executable bin after the build (npx mavgate works on a fresh clone)', async () => {
    const { accessSync, constants } = await import('node:fs');
    const { MAVGATE } = await import('./helpers/cli.js');
    expect(() => accessSync(MAVGATE, constants.X_OK)).not.toThrow();
  });

  it('is on PATH after the README\'s install step (npm link), from any directory', async () => {
    const { execFileSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const root = join(import.meta.dirname, '..');
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain('npm ci && npm link ');
    const prefix = mkdtempSync(join(tmpdir(), 'mavgate-prefix-'));
    // npm ci has built dist/ already (npm test too): the link's own prepare would rebuild it under the other tests' feet.
    execFileSync('npm', ['link', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: root, env: { ...process.env, npm_config_prefix: prefix }, stdio: 'pipe' });
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
    expect(execFileSync(join(prefix, 'bin', 'mavgate'), ['--version'], { cwd: prefix, encoding: 'utf8' }).trim()).toBe(version);
    rmSync(prefix, { recursive: true, force: true });
  });

  it('lists the commands, with examples of the common ones, and exits 0', async () => {
    const run = await runMavgate(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: mavgate/);
    expect(run.stdout).toMatch(/decode \[options\] <file>/);
    // Every command shown in an example is one the program has.
    const examples = run.stdout.slice(run.stdout.indexOf('Examples:'));
    const used = [...examples.matchAll(/\$ mavgate (\w+)/g)].map((m) => m[1]!);
    expect(used).toEqual(expect.arrayContaining(['run', 'replay', 'report', 'audit']));
    for (const command of new Set(used)) expect(run.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('run --help lists every endpoint kind and suggests only endpoints the default policy approves', async () => {
    const { stdout } = await runMavgate(['run', '--help']);
    for (const kind of ['serial:', 'udp-listen:', 'udp:', 'tcp:', 'tcp-listen:', 'profile:', 'replay:FILE', 'sim']) expect(stdout).toContain(kind);
    expect(stdout).toMatch(/profile:NAME\[:ARG\].*sik/s);
    expect(stdout).not.toMatch(/udp-listen:0\.0\.0\.0:14550(?!; )/);
  });

  it('exits 2 on an unknown command or a missing argument', async () => {
    expect((await runMavgate(['fly'])).code).toBe(2);
    const missing = await runMavgate(['decode']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument 'file'/);
  });
});

describe('mavgate decode', () => {
  it('prints one JSON line per frame and a summary on stderr', async () => {
    const run = await runMavgate(['decode', tlogPath]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({
      time_us: T0, version: 2, sysid: 1, compid: 1, seq: 17, msgid: 0, name: 'HEARTBEAT', signed: false,
      fields: { custom_mode: 5, type: 2, autopilot: 3, base_mode: 81, system_status: 4, mavlink_version: 3 },
    });
    expect(lines[1]).toMatchObject({ time_us: T0 + 100, name: 'ATTITUDE', fields: { roll: 0.5, yaw: 3 } });
    expect(JSON.parse(run.stderr)).toMatchObject({ frames: 2, v1: 0, v2: 2, crc_errors: 0, unknown: 0, bytes_skipped: 0, torn_record: null });
  });

  it('reads a raw byte stream from stdin with --raw -', async () => {
    const run = await runMavgate(['decode', '--raw', '-'], { input: Buffer.concat([heartbeat(1), Buffer.from([0, 1, 2]), attitude(2)]) });
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.time_us, l.name])).toEqual([[null, 'HEARTBEAT'], [null, 'ATTITUDE']]);
    expect(JSON.parse(run.stderr)).toMatchObject({ frames: 2, bytes_skipped: 3 });
  });

  it('reports a torn last record in the summary and still exits 0', async () => {
    const path = join(dir, 'torn.tlog');
    writeFileSync(path, sampleTlog.subarray(0, sampleTlog.length - 5));
    const run = await runMavgate(['decode', path]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(run.stderr).torn_record).toEqual({ offset: encodeTlogRecord(T0, heartbeat(17)).length, bytes: sampleTlog.length - 5 - encodeTlogRecord(T0, heartbeat(17)).length });
  });

  it('exits 2 with a clear message for a missing file, a directory, and a file that is not a tlog', async () => {
    const missing = await runMavgate(['decode', join(dir, 'nope.tlog')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`mavgate: cannot read ${join(dir, 'nope.tlog')}: no such file\n`);

    const directory = await runMavgate(['decode', dir]);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toMatch(/is a directory/);

    const rawPath = join(dir, 'raw.bin');
    writeFileSync(rawPath, Buffer.concat([heartbeat(1), attitude(2)]));
    const notTlog = await runMavgate(['decode', rawPath]);
    expect(notTlog.code).toBe(2);
    expect(notTlog.stderr).toMatch(/is not a tlog: .* \(use --raw for a raw MAVLink byte stream\)/);
    expect(notTlog.stdout).toBe('');

    const unknownDialect = await runMavgate(['decode', '--dialect', 'px9', tlogPath]);
    expect(unknownDialect.code).toBe(2);
    expect(unknownDialect.stderr).toMatch(/unknown MAVLink dialect "px9"/);
  });

  it.skipIf(!HAS_CORPUS)('decodes a corpus tlog with the counts of its README', async () => {
    const run = await runMavgate(['decode', corpusFile('tlog', 'arducopter_2015-07-05_v1.tlog')]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(75_477);
    expect(JSON.parse(run.stderr)).toMatchObject({ records: 76_791, frames: 75_477, v1: 75_477, crc_errors: 1314, torn_record: { offset: 2_723_821, bytes: 19 } });
  });

  it('streams: a 40 MB tlog decodes within a 32 MB JavaScript heap', async () => {
    const records = Buffer.concat(Array.from({ length: 1000 }, (_, i) => encodeTlogRecord(T0 + i * 1000, i % 2 ? attitude(i & 0xff) : heartbeat(i & 0xff))));
    const path = join(dir, 'big.tlog');
    const copies = Math.ceil((40 * 1024 * 1024) / records.length);
    writeFileSync(path, Buffer.concat(Array.from({ length: copies }, () => records)));
    const out = openSync('/dev/null', 'w');
    try {
      const run = await runMavgate(['decode', path], { nodeArgs: ['--max-old-space-size=32'], stdout: out });
      expect(run.stderr).not.toMatch(/heap/i);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stderr).frames).toBe(copies * 1000);
    } finally {
      closeSync(out);
    }
  });
});
