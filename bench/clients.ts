/**
 * `npm run bench:clients`: mavgate fanning a vehicle's telemetry out to WebSocket clients.
 *
 * This process plays the vehicle: it sends 2,000 frames/s over UDP to a mavgate process
 * (`run --link udp-listen:…`), each frame carrying its number in `time_boot_ms`, and opens
 * 1, 10 and 50 clients on mavgate's server (half mavlink2rest JSON, half raw MAVLink);
 * then 10 clients plus one that stops reading. Each configuration runs over plain WebSocket
 * and over TLS (WSS, `run --tls` with the local authority, clients trusting it), in the same
 * run (BENCH_TRANSPORTS, default `ws,wss`). Per configuration and run: p50/p99 latency
 * from the frame leaving here to a client receiving it, mavgate's CPU (utime+stime from
 * /proc) and RSS, and frames dropped (mavgate's count, and frames a healthy client never
 * saw). Medians over BENCH_RUNS runs (default 3) of BENCH_SECONDS (default 10; 30 with the
 * stalled client); for WSS, its CPU as a ratio of WS's.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { encodeFrame, loadRegistry, type OutgoingMessage } from '../src/mavlink/index.js';
import { freeUdpPort } from '../test/helpers/ports.js';
import { machine, markdownTable, median, saveResults } from './stats.js';

const root = resolve(import.meta.dirname, '..');
const mavgate = resolve(root, 'dist/cli/main.js');
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WARMUP_MS = 1500;
const CONFIGS = (process.env.BENCH_CLIENTS ?? '1,10,50,10+stalled').split(',').map((c) => ({ label: c, clients: Number.parseInt(c, 10), stalled: c.endsWith('+stalled') }));
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? 'ws,wss').split(',') as ('ws' | 'wss')[];

const registry = loadRegistry();

/** Messages whose first field on the wire is `time_boot_ms`: it carries the frame's number. */
const MIX: ((n: number) => OutgoingMessage)[] = [
  (n) => ({ name: 'ATTITUDE', fields: { time_boot_ms: n, roll: 0.1, pitch: -0.05, yaw: 1.5, rollspeed: 0.01, pitchspeed: 0.02, yawspeed: 0.03 } }),
  (n) => ({ name: 'ATTITUDE', fields: { time_boot_ms: n, roll: 0.1, pitch: -0.05, yaw: 1.5, rollspeed: 0.01, pitchspeed: 0.02, yawspeed: 0.03 } }),
  (n) => ({ name: 'GLOBAL_POSITION_INT', fields: { time_boot_ms: n, lat: -353632620, lon: 1491652370, alt: 584000, relative_alt: 10000, vx: 100, vy: -50, vz: 5, hdg: 27000 } }),
  (n) => ({ name: 'SCALED_PRESSURE', fields: { time_boot_ms: n, press_abs: 1013.2, press_diff: 0.1, temperature: 2500, temperature_press_diff: 1 } }),
  (n) => ({ name: 'RC_CHANNELS', fields: { time_boot_ms: n, chancount: 16, chan1_raw: 1500, chan2_raw: 1500, chan3_raw: 1100, chan4_raw: 1500, rssi: 255 } }),
];

function frameNumber(msg: Buffer, binary: boolean): number {
  if (binary) {
    // MAVLink 2: payload at byte 10; a payload may be truncated, so read what is there.
    let n = 0;
    for (let i = 0; i < 4 && i < msg[1]!; i++) n |= msg[10 + i]! << (8 * i);
    return msg[7] === 0 ? -1 : n >>> 0; // HEARTBEAT (id 0) carries no number
  }
  const at = msg.indexOf('"time_boot_ms":');
  return at < 0 ? -1 : Number.parseInt(msg.toString('latin1', at + 15, at + 27), 10);
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number.parseInt(line.split(/\s+/)[1]!, 10) / 1024;
}


/** GET a JSON document, over HTTPS trusting `ca` when given (fetch cannot be given an authority). */
function getJson<T>(url: string, ca: string | undefined): Promise<T> {
  if (!ca) return fetch(url).then((r) => r.json() as Promise<T>);
  return new Promise((resolveJson, reject) => {
    request(url, { ca }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolveJson(JSON.parse(text) as T));
    }).on('error', reject).end();
  });
}

interface RunResult { rssSeries: number[]; p50: number; p99: number; cpu: number; rssStart: number; rssEnd: number; rssMax: number; dropped: number; missed: number; stalledDropped: number; stalledDisconnected: boolean; sent: number }

async function runOnce(clients: number, stalled: boolean, transport: 'ws' | 'wss'): Promise<RunResult> {
  // Long enough for the stalled client's socket to fill, its queue to drop, and the server to cut it off.
  const seconds = stalled ? Math.max(SECONDS, 30) : SECONDS;
  const udpPort = await freeUdpPort();
  // A working directory of its own: with --tls, the local authority is made in its mavgate-data/tls.
  const cwd = mkdtempSync(join(tmpdir(), 'mavgate-bench-clients-'));
  const tls = transport === 'wss';
  const child = spawn(process.execPath, [mavgate, 'run', '--link', `udp-listen:127.0.0.1:${udpPort}`, '--listen', '127.0.0.1:0', '--status-interval', '0', '--no-record', ...(tls ? ['--tls'] : [])], { stdio: ['ignore', 'ignore', 'pipe'], cwd });
  let stderr = '';
  const httpPort = await new Promise<number>((resolvePort, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /clients: https?:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (m) resolvePort(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`mavgate exited:\n${stderr}`)));
  });
  const ca = tls ? readFileSync(join(cwd, 'mavgate-data', 'tls', 'ca.crt'), 'utf8') : undefined;
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${httpPort}`;
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const send = (message: OutgoingMessage, seq: number) => udp.send(encodeFrame(registry, message, { sysid: 1, compid: 1, seq: seq & 0xff }), udpPort, '127.0.0.1');
  send({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 81, system_status: 4, mavlink_version: 3 } }, 0);

  const sentAt = new Float64Array(RATE * (seconds + 10));
  const samples = new Float64Array(clients * RATE * (seconds + 2));
  let sampleCount = 0;
  let measureFrom = Infinity;
  let measureTo = Infinity;
  const received = new Array<number>(clients).fill(0);
  const sockets: WebSocket[] = [];
  const open = (path: string) => new Promise<WebSocket>((r, j) => {
    const ws = new WebSocket(`${transport}://127.0.0.1:${httpPort}${path}`, { perMessageDeflate: false, ...(ca ? { ca } : {}) });
    ws.once('open', () => r(ws)).once('error', j);
    sockets.push(ws);
  });
  for (let i = 0; i < clients; i++) {
    const binary = i % 2 === 1;
    const ws = await open(binary ? '/v1/ws/raw' : '/v1/ws/mavlink');
    ws.on('message', (data: Buffer) => {
      const now = performance.now();
      const n = frameNumber(data, binary);
      if (n < measureFrom || n >= measureTo) return;
      received[i]!++;
      if (sampleCount < samples.length) samples[sampleCount++] = now - sentAt[n]!;
    });
  }
  if (stalled) (await open('/v1/ws/mavlink')).pause();

  // The vehicle: RATE frames/s, in 2 ms ticks, catching up if a tick is late.
  let n = 1;
  const start = performance.now();
  let cpuStart = 0;
  let rssStart = 0;
  let rssMax = 0;
  const rssSeries: number[] = [];
  // The stalled client's drops, read while it is still connected (it is cut off once stuck for 10 s).
  let stalledDropped = 0;
  const rssTimer = setInterval(() => {
    const rss = rssMiB(child.pid!);
    rssMax = Math.max(rssMax, rss);
    rssSeries.push(Math.round(rss));
    if (stalled) {
      void getJson<{ clients: { dropped: number }[] }>(`${base}/v1/stats`, ca).then((s) => {
        if (s.clients[clients]) stalledDropped = s.clients[clients].dropped;
      }, () => {});
    }
  }, 1000);
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE) + 1;
    while (n < due && n < sentAt.length) {
      sentAt[n] = performance.now();
      send(MIX[n % MIX.length]!(n), n);
      n++;
    }
  }, 2);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measureFrom = n;
  cpuStart = cpuSeconds(child.pid!);
  rssStart = rssMiB(child.pid!);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measureTo = n;
  const cpu = ((cpuSeconds(child.pid!) - cpuStart) / ((performance.now() - t0) / 1000)) * 100;
  clearInterval(ticker);
  // Let the last frames arrive.
  await new Promise((r) => setTimeout(r, 500));
  clearInterval(rssTimer);
  const rssEnd = rssMiB(child.pid!);
  const stats = await getJson<{ clients: { id: string; dropped: number; kind: string }[]; disconnected_slow: number }>(`${base}/v1/stats`, ca);
  const healthy = stats.clients.slice(0, clients);
  const stalledClient = stalled ? stats.clients[clients] : undefined;
  for (const ws of sockets) ws.terminate();
  udp.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(cwd, { recursive: true, force: true });
  const sorted = samples.subarray(0, sampleCount).sort();
  const expected = measureTo - measureFrom;
  return {
    rssSeries,
    p50: sorted[Math.floor(sampleCount * 0.5)]!,
    p99: sorted[Math.floor(sampleCount * 0.99)]!,
    cpu, rssStart, rssEnd, rssMax,
    dropped: healthy.reduce((a, c) => a + c.dropped, 0),
    missed: received.reduce((a, r) => a + (expected - r), 0),
    stalledDropped: stalledClient?.dropped ?? stalledDropped,
    stalledDisconnected: stalled && (stalledClient === undefined || stats.disconnected_slow > 0),
    sent: expected,
  };
}

const rows: (string | number)[][] = [];
const results: Record<string, RunResult[]> = {};
for (const { label: config, clients, stalled } of CONFIGS) {
  const cpuOf: Partial<Record<'ws' | 'wss', number>> = {};
  for (const transport of TRANSPORTS) {
    const label = `${config} ${transport}`;
    const runs: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      runs.push(await runOnce(clients, stalled, transport));
      const last = runs.at(-1)!;
      process.stderr.write(`${label}: run ${r + 1}/${RUNS}: p50 ${last.p50.toFixed(2)} ms, p99 ${last.p99.toFixed(2)} ms, cpu ${last.cpu.toFixed(1)}%, RSS MiB each second ${last.rssSeries.join(' ')}\n`);
    }
    results[label] = runs;
    const m = (f: (r: RunResult) => number) => median(runs.map(f));
    cpuOf[transport] = m((r) => r.cpu);
    const cpuPerClientPerK = m((r) => r.cpu) / Math.max(1, clients) / (RATE / 1000);
    rows.push([
      label, m((r) => r.p50).toFixed(2), m((r) => r.p99).toFixed(2), m((r) => r.cpu).toFixed(1), cpuPerClientPerK.toFixed(2),
      transport === 'wss' && cpuOf.ws ? `${(cpuOf.wss! / cpuOf.ws).toFixed(2)}×` : '-',
      `${m((r) => r.rssStart).toFixed(0)} → ${m((r) => r.rssEnd).toFixed(0)} (max ${m((r) => r.rssMax).toFixed(0)})`,
      `${m((r) => r.dropped)} / ${m((r) => r.missed)}`,
      stalled ? `${m((r) => r.stalledDropped)} dropped${runs.every((r) => r.stalledDisconnected) ? ', disconnected' : ''}` : '-',
    ]);
  }
}
const table = markdownTable(
  ['clients', 'p50 ms', 'p99 ms', 'mavgate CPU %', 'CPU % per client per 1k msg/s', 'WSS CPU / WS CPU', 'RSS MiB start → end', 'healthy drops (server / never seen)', 'stalled client'],
  rows,
);
process.stdout.write(`\n${RATE} msg/s, ${SECONDS} s per run (30 s with the stalled client), median of ${RUNS} runs; ${machine()}\n\n${table}\n`);
saveResults('clients', { date: new Date().toISOString(), machine: machine(), rate: RATE, seconds: SECONDS, runs: RUNS, transports: TRANSPORTS, results });
