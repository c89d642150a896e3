/**
 * Onboard logs from the simulated vehicle: straight on UDP, TCP and serial links (socat),
 * with chunks the vehicle drops, a link that goes down mid-way, a download stopped and
 * continued by a new process, encrypted at rest, and only into an approved directory.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { downloadOnLink, type LinkOptions, listOnLink } from '../src/cli/logs.js';
import { startSim, type RunningSim } from '../src/cli/sim.js';
import type { TransportEndpoint } from '../src/links/create-link.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { TcpServerLink } from '../src/links/tcp-link.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { SIM_LOG_SHA256, SIM_LOGS, simLogBytes, simLogSha256 } from '../src/sim/onboard-logs.js';
import type { SimOptions } from '../src/sim/sim-vehicle.js';
import { ChunkMap } from '../src/sinks/onboard-logs/chunk-map.js';
import { selectLogs } from '../src/sinks/onboard-logs/log-service.js';
import { LogStore } from '../src/sinks/onboard-logs/log-store.js';
import { partialCipher, partialKey } from '../src/sinks/onboard-logs/partial-log.js';
import { EgressGate } from '../src/residency/gate.js';
import { RecordingReader } from '../src/sinks/recording-reader.js';
import { runMavgate } from './helpers/cli.js';
import { registry } from './helpers/frames.js';
import { FrameEncoder } from '../src/mavlink/index.js';
import { freeTcpPort } from './helpers/ports.js';
import { MavgateProcess } from './helpers/process.js';
import { PtyPair } from './helpers/socat.js';
import { until } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sims: RunningSim[] = [];
afterEach(async () => {
  for (const s of sims) await s.stop();
  sims = [];
});

const quiet = { out: () => {}, err: Object.assign(Object.create(process.stderr) as NodeJS.WriteStream, { isTTY: false, write: () => true }) };

async function sim(link: string, options: SimOptions): Promise<RunningSim> {
  const s = await startSim(parseEndpoint(link) as TransportEndpoint, options, parsePolicy({}, 'test'));
  sims.push(s);
  return s;
}

let n = 0;
/** A fresh approved data directory, and options to download into its logs/. */
function linkOptions(link: string, extra: Partial<LinkOptions> = {}): LinkOptions & { data: string } {
  const data = join(dir, `data${n++}`);
  mkdirSync(data);
  const policy = parsePolicy({ site: 'field-3', jurisdiction: 'EU/FR', approved_sinks: { directories: [data] } }, 'test');
  return { endpoint: parseEndpoint(link) as TransportEndpoint, policy, audit: false, key: null, timeoutMs: 10_000, data, ...extra };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const log = (id: number) => SIM_LOGS.find((l) => l.id === id)!;

describe('the simulated vehicle\'s onboard logs', () => {
  it('are the synthetic content whose SHA-256 is known in advance', () => {
    for (const l of SIM_LOGS) expect(simLogSha256(l)).toBe(SIM_LOG_SHA256[l.id]);
    expect(SIM_LOGS[0]!.size).toBeLessThan(10_000);
    expect(SIM_LOGS.at(-1)!.size).toBeGreaterThan(10_000_000);
  });

  it('a chunk map asks for the first gap, with the gaps a few chunks after it, and only for those', () => {
    const map = new ChunkMap(90 * 100 + 7);
    for (let i = 0; i < 101; i++) if (![3, 5, 50, 100].includes(i)) map.mark(i);
    expect(map.nextRequest(4)).toEqual({ offset: 3 * 90, count: 3 * 90 });
    expect(map.nextRequest(45)).toEqual({ offset: 3 * 90, count: 48 * 90 });
    map.mark(3);
    map.mark(5);
    map.mark(50);
    expect(map.nextRequest(4)).toEqual({ offset: 100 * 90, count: 7 });
    map.mark(100);
    expect(map.complete).toBe(true);
    expect(map.nextRequest(4)).toBeNull();
  });

  it('a LOG_DATA encodes from a block of bytes exactly as from an array of numbers', () => {
    const data = simLogBytes(2, 0, 90);
    const encoder = new FrameEncoder(registry);
    const fields = { id: 2, ofs: 0, count: 90 };
    expect(encoder.encode({ name: 'LOG_DATA', fields: { ...fields, data } }, { sysid: 1, compid: 1 }))
      .toEqual(new FrameEncoder(registry).encode({ name: 'LOG_DATA', fields: { ...fields, data: [...data] } }, { sysid: 1, compid: 1 }));
    expect(() => encoder.encode({ name: 'LOG_DATA', fields: { ...fields, data: Buffer.alloc(91) } }, { sysid: 1, compid: 1 })).toThrow(/LOG_DATA\.data: array of 91 values does not fit uint8_t\[90\]/);
  });

  it('"latest" is the log started last; an id the vehicle lacks is refused naming those it has', () => {
    expect(selectLogs(SIM_LOGS.map((l) => ({ id: l.id, size: l.size, timeUtc: l.timeUtc })), 'latest').map((e) => e.id)).toEqual([4]);
    expect(() => selectLogs(SIM_LOGS, [9])).toThrow(/the vehicle has no log 9 \(it has 1, 2, 3, 4\)/);
  });
});

describe('mavgate logs straight on a link', () => {
  it('downloads over UDP with dropped chunks asked for again, the SHA-256 matching, with its sidecar', async () => {
    const s = await sim('udp-listen:127.0.0.1:0', { logs: { drop: 0.05 } });
    const options = linkOptions(`udp:127.0.0.1:${(s.link as UdpLink).localPort}`);
    let listed = '';
    await listOnLink(options, false, { ...quiet, out: (t) => (listed += t) });
    expect(listed).toMatch(/vehicle 1: 4 onboard log\(s\)/);
    const [file] = await downloadOnLink(options, [2], quiet);
    expect(s.vehicle.logs.dropped).toBeGreaterThan(20);
    expect(file!.sha256).toBe(SIM_LOG_SHA256[2]);
    const logs = join(options.data, 'logs');
    expect(sha256(readFileSync(join(logs, file!.file)))).toBe(SIM_LOG_SHA256[2]);
    const sidecar = JSON.parse(readFileSync(join(logs, `${file!.file}.json`), 'utf8'));
    expect(sidecar).toMatchObject({ sysid: 1, log_id: 2, size: log(2).size, sha256: SIM_LOG_SHA256[2], log_time: '2026-07-02T07:00:00.000Z', encrypted: false, site: 'field-3', jurisdiction: 'EU/FR' });
    expect(file!.file).toBe('field-3_sys1_log2_20260702T070000Z.bin');
    expect(readdirSync(logs).filter((f) => f.includes('.part'))).toEqual([]);
    // Listed again, the log shows as downloaded; downloaded again, it is not fetched twice.
    listed = '';
    await listOnLink(options, false, { ...quiet, out: (t) => (listed += t) });
    expect(listed).toContain(`downloaded: ${file!.file}`);
    const sent = s.vehicle.logs.sentBytes;
    await downloadOnLink(options, [2], quiet);
    expect(s.vehicle.logs.sentBytes).toBe(sent);
  });

  it('downloads over TCP through a link that goes down mid-way, continuing where it stopped', async () => {
    const port = await freeTcpPort();
    const link = `tcp-listen:127.0.0.1:${port}`;
    const vehicle = { logs: { bytesPerSecond: 1_000_000 } };
    const first = await sim(link, vehicle);
    const options = linkOptions(`tcp:127.0.0.1:${port}`);
    const download = downloadOnLink(options, [3], quiet);
    await until(() => first.vehicle.logs.sentBytes > 800_000, 'the first 800 kB sent', 10_000);
    // The vehicle's end of the link goes away (and its transfer with it), then comes back.
    await first.stop();
    sims = sims.filter((s) => s !== first);
    const second = await sim(link, vehicle);
    const [file] = await download;
    expect(file!.sha256).toBe(SIM_LOG_SHA256[3]);
    expect(sha256(readFileSync(join(options.data, 'logs', file!.file)))).toBe(SIM_LOG_SHA256[3]);
    // The vehicle that came back was asked only for what was missing.
    expect(second.vehicle.logs.sentBytes).toBeGreaterThan(0);
    expect(second.vehicle.logs.sentBytes).toBeLessThan(log(3).size - 600_000);
  }, 30_000);

  it('downloads over a serial link (a socat pseudo-terminal pair) with dropped chunks', async () => {
    const pty = await PtyPair.start(dir, 'logs');
    try {
      await sim(`serial:${pty.a}:115200`, { logs: { drop: 0.05 } });
      const options = linkOptions(`serial:${pty.b}:115200`);
      const [file] = await downloadOnLink(options, [2], quiet);
      expect(file!.sha256).toBe(SIM_LOG_SHA256[2]);
    } finally {
      await pty.stop();
    }
  }, 60_000);

  it('seals the log at rest when a key is given, from the partial download on', async () => {
    const s = await sim('tcp-listen:127.0.0.1:0', { logs: { bytesPerSecond: 1_000_000 } });
    const key = Buffer.alloc(32, 7);
    const options = linkOptions(`tcp:127.0.0.1:${(s.link as TcpServerLink).localPort}`, { key });
    const [file] = await downloadOnLink(options, [3], quiet);
    expect(file!.file).toMatch(/_sys1_log3_20260702T080000Z\.bin\.enc$/);
    expect(file!.encrypted).toBe(true);
    const sealed = readFileSync(join(options.data, 'logs', file!.file));
    expect(sealed.includes(simLogBytes(3, 0, 90))).toBe(false);
    const reader = new RecordingReader(key);
    const pushed = reader.push(sealed);
    const end = reader.end();
    expect(end.encrypted!.complete).toBe(true);
    expect(sha256(Buffer.concat([...pushed, ...end.rest]))).toBe(SIM_LOG_SHA256[3]);
    expect(file!.file_sha256).toBe(sha256(sealed));
  });

  it('keeps a partial download encrypted on disk too, readable only with the key', async () => {
    const options = linkOptions('tcp:127.0.0.1:1');
    const key = Buffer.alloc(32, 9);
    const store = new LogStore(new EgressGate(options.policy).grantDirectory('logs', join(options.data, 'logs')), { site: 's', jurisdiction: 'j', policySha256: 'p', gatewayVersion: 'v' }, key);
    const vehicle = { sysid: 1, compid: 1, autopilot: 3 };
    const partial = await store.openPartial(vehicle, log(3), () => {});
    const plain = simLogBytes(3, 900, 180);
    partial.write(900, plain.subarray(0, 90));
    partial.write(990, plain.subarray(90));
    await partial.close();
    const onDisk = readFileSync(join(options.data, 'logs', `${store.fileName(vehicle, log(3))}.part`)).subarray(900, 1080);
    expect(onDisk.equals(plain)).toBe(false);
    const state = JSON.parse(readFileSync(join(options.data, 'logs', `${store.fileName(vehicle, log(3))}.part.json`), 'utf8'));
    const iv = Buffer.from(state.iv, 'hex');
    expect(partialCipher(partialKey(key, iv), iv, 900).update(onDisk).equals(plain)).toBe(true);
    expect(store.partialBytes(vehicle, log(3))).toBe(180);
  });

  it('refuses a directory the policy does not approve, before writing anything', async () => {
    const s = await sim('tcp-listen:127.0.0.1:0', {});
    const data = join(dir, 'approved');
    const elsewhere = join(dir, 'not-approved');
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks:\n  directories: [${data}]\n`);
    const run = await runMavgate(['logs', 'download', '1', '--link', `tcp:127.0.0.1:${(s.link as TcpServerLink).localPort}`, '--policy', join(dir, 'policy.yaml'), '--out', elsewhere]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/residency policy refuses --out: .*not-approved.*outside every approved directory/);
    expect(existsSync(elsewhere)).toBe(false);
  });
});

describe('a download stopped and continued by a new mavgate process', () => {
  let proc: MavgateProcess | null = null;
  afterEach(async () => {
    await proc?.stop('SIGKILL');
  });

  it('keeps what arrived when stopped (exit 1), and the same command fetches only the rest', async () => {
    const s = await sim('tcp-listen:127.0.0.1:0', { logs: { bytesPerSecond: 600_000 } });
    const out = join(dir, 'resumed');
    mkdirSync(out);
    writeFileSync(join(dir, 'resume-policy.yaml'), `approved_sinks:\n  directories: [${out}]\n`);
    const args = ['logs', 'download', '3', '--link', `tcp:127.0.0.1:${(s.link as TcpServerLink).localPort}`, '--policy', join(dir, 'resume-policy.yaml')];
    proc = MavgateProcess.start(args);
    await until(() => s.vehicle.logs.sentBytes > 900_000, 'the first 900 kB sent', 15_000);
    expect(await proc.stop('SIGINT')).toBe(1);
    expect(proc.stderr).toMatch(/log 3: stopped; \d+ of 2500007 bytes kept in .*: run the same command again to continue/);
    const partial = readdirSync(join(out, 'logs')).find((f) => f.endsWith('.part.json'));
    expect(partial).toBeDefined();
    const before = s.vehicle.logs.sentBytes;
    const run = await runMavgate(args);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`sha256 ${SIM_LOG_SHA256[3]}`);
    expect(s.vehicle.logs.sentBytes - before).toBeLessThan(log(3).size - 700_000);
    // The audit log (a policy file was given) has the stop and the completion.
    const audit = readFileSync(join(out, 'audit', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"event":"onboard_log_download_stopped"/);
    expect(audit).toMatch(/"event":"onboard_log_downloaded".*"sha256":"79a74ed9/);
  }, 40_000);
});
