/**
 * Bytes arrive but no vehicle appears: the log says why (a wrong signing key, a dialect
 * not loaded, checksums failing), with the fix, once and then at most once a minute, and
 * the status line marks the link.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diagnose } from '../src/router/link-monitor.js';
import { MavgateProcess } from './helpers/process.js';
import { freeUdpPort } from './helpers/ports.js';

let running: MavgateProcess[] = [];
afterEach(async () => {
  await Promise.all(running.map((p) => p.stop()));
  running = [];
});
const start = (args: string[]) => {
  const p = MavgateProcess.start(args);
  running.push(p);
  return p;
};

const quiet = { bytesIn: 5000, framesIn: 0, crcErrors: 0, unknownFrames: 0, bytesSkipped: 0, badSignature: 0, unsignedDropped: 0, lost: 0, received: 0 };

describe('the diagnosis of a link whose bytes make no frames', () => {
  it('names the likely cause and the fix, and says nothing while most frames get through', () => {
    expect(diagnose({ ...quiet, badSignature: 40 }, 'udp:127.0.0.1:14550', 'common')?.message).toMatch(/fail their signature .*another key .*mavgate key setup/);
    expect(diagnose({ ...quiet, unsignedDropped: 40 }, 'udp:127.0.0.1:14550', 'common')?.kind).toBe('unsigned');
    expect(diagnose({ ...quiet, framesIn: 40, unknownFrames: 40 }, 'udp:127.0.0.1:14550', 'minimal')?.message).toMatch(/no loaded dialect knows .*loaded: minimal.*--dialect/);
    expect(diagnose({ ...quiet, crcErrors: 40 }, 'serial:/dev/ttyUSB0:115200', 'all')?.message).toMatch(/fail their checksum .*wrong baud rate/);
    expect(diagnose({ ...quiet, bytesSkipped: 5000 }, 'serial:/dev/ttyUSB0:9600', 'all')?.message).toMatch(/no MAVLink frame: likely a wrong baud rate/);
    expect(diagnose({ ...quiet, framesIn: 100, crcErrors: 3 }, 'serial:/dev/ttyUSB0:57600', 'all')).toBeNull();
    expect(diagnose({ ...quiet, bytesIn: 50 }, 'serial:/dev/ttyUSB0:57600', 'all')).toBeNull();
  });

  it('a vehicle signing with another key: the log says so once, with the fix, and the status line marks the link', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-diagnosis-'));
    const [ours, theirs] = ['ours.key', 'theirs.key'].map((name) => {
      writeFileSync(join(dir, name), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      return join(dir, name);
    });
    const port = await freeUdpPort();
    const gw = start(['run', '--link', `udp-listen:127.0.0.1:${port}`, '--signing-key', ours!, '--require-signed', '--status-interval', '1000']);
    await gw.waitFor(/running: 1 link/);
    start(['sim', '--link', `udp:127.0.0.1:${port}`, '--signing-key', theirs!]);
    await gw.waitFor(/warn  link udp-listen:127\.0\.0\.1:\d+: frames arrive but fail their signature \(\d+ in 5 s\): the vehicle signs with another key than this link's --signing-key/, 15_000);
    await gw.waitFor(/vehicles: none yet \| links: udp-listen:127\.0\.0\.1:\d+ up in 0 fr\/s [\d.]+ kB\/s .* FRAMES FAILING \(signature\)/, 5000);
    await gw.waitFor(/(vehicles: none yet.*\n.*){3}/, 6000);
    expect(gw.count(/fail their signature/)).toBe(1);
  }, 40_000);

  it('a vehicle whose messages are not in the loaded dialects: the log names the dialects and the flag', async () => {
    const port = await freeUdpPort();
    const gw = start(['run', '--dialect', 'minimal', '--no-server', '--link', `udp-listen:127.0.0.1:${port}`, '--status-interval', '0']);
    await gw.waitFor(/running: 1 link/);
    start(['sim', '--link', `udp:127.0.0.1:${port}`]);
    await gw.waitFor(/warn  link udp-listen:127\.0\.0\.1:\d+: frames arrive with message ids no loaded dialect knows \(\d+ in 5 s; loaded: minimal\): give the vehicle's dialect with --dialect/, 15_000);
  }, 30_000);
});
