/**
 * Loss from sequence numbers, as ground stations count it, through the events that used
 * to fake it: a link that reconnects, a replay that starts again, frames of message ids
 * the dialect in use does not know.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runDecode } from '../src/cli/decode.js';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { ReplayLink } from '../src/links/replay-link.js';
import { encodeTlogRecord } from '../src/mavlink/index.js';
import { attitude, heartbeat } from './helpers/frames.js';
import { gateFor } from './helpers/gate.js';
import { tcpServer } from './helpers/ports.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

const T0 = 1_764_000_000_000_000;
const burst = (from: number, count: number) => Buffer.concat(Array.from({ length: count }, (_, i) => heartbeat((from + i) & 0xff)));

describe('sequence tracking restarts', () => {
  it('when a TCP link reconnects: the vehicle restarting its numbering is not loss', async () => {
    const vehicleServer = await tcpServer();
    cleanup.push(() => vehicleServer.close());
    const gateway = new Gateway({ links: [parseEndpoint(`tcp:127.0.0.1:${vehicleServer.port}`)] });
    const first = vehicleServer.nextConnection();
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const handle = gateway.links[0]!;
    let vehicle = await first;
    vehicle.write(burst(0, 10));
    await until(() => handle.port.framesIn === 10, 'the first ten frames');
    const again = vehicleServer.nextConnection();
    vehicle.destroy();
    vehicle = await again;
    cleanup.push(async () => { vehicle.destroy(); });
    // A rebooted autopilot (or a replugged radio's other end) numbers from wherever it is now.
    vehicle.write(burst(100, 10));
    await until(() => handle.port.framesIn === 20, 'ten more frames after the reconnect');
    const stats = gateway.stats();
    expect(stats.links[0]!.lossRate).toBe(0);
    expect(stats.vehicles).toEqual([{ sysid: 1, compid: 1, received: 20, lost: 0, lossRate: 0 }]);
  });

  it('when a replay loops: the recording starting again is not loss', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-loss-'));
    const path = join(dir, 'loop.tlog');
    // Fifty frames numbered 0..49: the wrap from 49 to 0 would read as 206 lost.
    writeFileSync(path, Buffer.concat(Array.from({ length: 50 }, (_, i) => encodeTlogRecord(T0 + i * 1000, i % 10 === 0 ? heartbeat(i) : attitude(i)))));
    const gateway = new Gateway({ links: [parseEndpoint(`replay:${path}`)], gate: gateFor({}), replay: { speed: 'max', loop: true, key: null } });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const link = gateway.links[0]!.link as ReplayLink;
    await until(() => link.progress.loops >= 2 && gateway.links[0]!.port.framesIn >= 150, 'three passes of the recording');
    const stats = gateway.stats();
    expect(stats.links[0]!.lossRate).toBe(0);
    expect(stats.vehicles[0]).toMatchObject({ sysid: 1, compid: 1, lost: 0 });
  });
});

describe('frames of message ids the dialect does not know', () => {
  it('count as received: decode --dialect minimal reports no loss for a vehicle that lost nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-loss-'));
    const path = join(dir, 'flight.tlog');
    writeFileSync(path, Buffer.concat(Array.from({ length: 60 }, (_, i) => encodeTlogRecord(T0 + i * 1000, i % 20 === 0 ? heartbeat(i) : attitude(i)))));
    const [stdout, stderr] = [new PassThrough(), new PassThrough()];
    stdout.resume();
    stderr.resume();
    const summary = await runDecode({ input: path, raw: false, dialects: ['minimal'] }, { stdout, stderr });
    expect(summary).toMatchObject({ unknown: 57, sources: [{ sysid: 1, compid: 1, received: 60, lost: 0, lossRate: 0 }] });
  });
});
