/**
 * `npm run bench:fleet`: fleet sync end to end. Ten simulated vehicles (this process) at
 * 50 msg/s each over UDP into ten `mavgate run --mqtt` processes (one per vehicle, one site
 * each), one local Mosquitto, and a `mavgate fleet` process with a WebSocket client on it:
 * latency from the vehicle to the fleet client (p50/p99), broker messages/s (a direct
 * subscriber), gateway CPU. Then the spool: events written while the broker is down, and
 * drained when it is back (in process). Median of BENCH_RUNS (default 3) × BENCH_SECONDS (10).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { encodeFrame, FrameDecoder, loadRegistry } from '../src/mavlink/index.js';
import { EgressGate } from '../src/residency/gate.js';
import { buildPolicy, DEFAULT_DOCUMENT } from '../src/residency/policy.js';
import { MqttSink } from '../src/sinks/mqtt-sink.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { freeTcpPort } from '../test/helpers/ports.js';
import { machine, markdownTable, median, saveResults } from './stats.js';

const VEHICLES = 10;
const RATE = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const mavgate = resolve(import.meta.dirname, '../dist/cli/main.js');
const registry = loadRegistry();

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  let text = '';
  return new Promise((resolvePromise, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      const m = pattern.exec(text);
      if (m) resolvePromise(m);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
}

async function endToEnd(): Promise<{ p50: number; p99: number; brokerPerSecond: number; gatewayCpu: number; received: number; sent: number }> {
  const broker = await Mosquitto.start();
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < VEHICLES; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-fleet-'));
    writeFileSync(join(dir, 'policy.yaml'), `site: team-${i + 1}\napproved_sinks: { directories: [${dir}] }\n`);
    const port = await freeTcpPort();
    ports.push(port);
    const child = spawn(process.execPath, [mavgate, 'run', '--policy', join(dir, 'policy.yaml'), '--link', `udp-listen:127.0.0.1:${port}`, '--mqtt', broker.url, '--no-server', '--no-record', '--status-interval', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    await waitForLine(child, /mqtt: connected/);
  }
  const fleet = spawn(process.execPath, [mavgate, 'fleet', '--broker', broker.url, '--listen', '127.0.0.1:0', '--status-interval', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(fleet);
  const httpPort = (await waitForLine(fleet, /clients: http:\/\/127\.0\.0\.1:(\d+)\//))[1];
  const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/v1/ws/mavlink?filter=^ATTITUDE$`);
  await new Promise((r) => ws.once('open', r));
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let measuring = false;
  ws.on('message', (data: Buffer) => {
    const now = performance.now();
    const at = data.indexOf('"time_boot_ms":');
    const id = Number.parseInt(data.toString('latin1', at + 15, at + 27), 10);
    const t = sentAt.get(id);
    if (t !== undefined && measuring) latencies.push(now - t);
  });
  let brokerMessages = 0;
  const direct = mqtt.connect(broker.url);
  await new Promise((r) => direct.once('connect', r));
  await direct.subscribeAsync('mavgate/#');
  direct.on('message', () => measuring && brokerMessages++);
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  let n = 0;
  const send = (vehicle: number, name: string, fields: Record<string, unknown>) =>
    udp.send(encodeFrame(registry, { name, fields }, { sysid: 1, compid: 1, seq: n & 0xff }), ports[vehicle]!, '127.0.0.1');
  const heartbeats = setInterval(() => { for (let v = 0; v < VEHICLES; v++) send(v, 'HEARTBEAT', { type: 2, autopilot: 3, base_mode: 81, system_status: 4, mavlink_version: 3 }); }, 1000);
  const start = performance.now();
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (n < due) {
      n++;
      for (let v = 0; v < VEHICLES; v++) {
        const id = v * 10_000_000 + n;
        sentAt.set(id, performance.now());
        send(v, 'ATTITUDE', { time_boot_ms: id, roll: 0.1, pitch: 0.2, yaw: 0.3, rollspeed: 0.01, pitchspeed: 0.01, yawspeed: 0.01 });
      }
    }
  }, 5);
  await new Promise((r) => setTimeout(r, 2000));
  measuring = true;
  const sentBefore = n;
  const cpu0 = children.slice(0, VEHICLES).map((c) => cpuSeconds(c.pid!));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = children.slice(0, VEHICLES).map((c, i) => ((cpuSeconds(c.pid!) - cpu0[i]!) / elapsed) * 100);
  const sent = (n - sentBefore) * VEHICLES;
  measuring = false;
  clearInterval(ticker);
  clearInterval(heartbeats);
  ws.terminate();
  await direct.endAsync(true);
  udp.close();
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  await broker.stop();
  latencies.sort((a, b) => a - b);
  return {
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? NaN, p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
    brokerPerSecond: brokerMessages / elapsed, gatewayCpu: median(cpu), received: latencies.length, sent,
  };
}

async function spool(): Promise<{ writePerSecond: number; drainPerSecond: number; events: number }> {
  const broker = await Mosquitto.start();
  const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-spool-'));
  const gate = new EgressGate(buildPolicy({ ...DEFAULT_DOCUMENT, site: 'bench', approved_sinks: { ...DEFAULT_DOCUMENT.approved_sinks, directories: [dir] } }, 'bench', dir));
  const gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0')], gate });
  await gateway.start();
  const sink = await MqttSink.start(gateway, { broker: broker.url, spoolDirectory: join(dir, 'spool'), spoolMaxBytes: 256 * 1024 * 1024 }, 'bench', () => {});
  await new Promise<void>((r) => { const t = setInterval(() => sink.stats().connected && (clearInterval(t), r()), 10); });
  await broker.stop();
  await new Promise<void>((r) => { const t = setInterval(() => !sink.stats().connected && (clearInterval(t), r()), 10); });
  const port = gateway.links[0]!.port;
  const inject = new FrameDecoder(registry, (f) => gateway.router.route(f, port));
  const events = 20_000;
  const t0 = performance.now();
  for (let i = 0; i < events; i++) inject.push(encodeFrame(registry, { name: 'STATUSTEXT', fields: { severity: 6, text: `event ${i}` } }, { sysid: 1, compid: 1, seq: i & 0xff }));
  const writeSeconds = (performance.now() - t0) / 1000;
  const spooled = sink.stats().spool.messages;
  await broker.restart();
  const t1 = performance.now();
  await new Promise<void>((r) => { const t = setInterval(() => sink.stats().spool.messages === 0 && (clearInterval(t), r()), 10); });
  const drainSeconds = (performance.now() - t1) / 1000;
  await sink.stop();
  await gateway.stop();
  await broker.stop();
  return { writePerSecond: spooled / writeSeconds, drainPerSecond: spooled / drainSeconds, events: spooled };
}

const e2e = [];
for (let r = 0; r < RUNS; r++) {
  e2e.push(await endToEnd());
  const x = e2e.at(-1)!;
  process.stderr.write(`run ${r + 1}: p50 ${x.p50.toFixed(2)} ms p99 ${x.p99.toFixed(2)} ms, broker ${x.brokerPerSecond.toFixed(0)} msg/s, gateway cpu ${x.gatewayCpu.toFixed(1)}%, received ${x.received}/${x.sent}\n`);
}
const spools = [];
for (let r = 0; r < RUNS; r++) spools.push(await spool());
const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
process.stdout.write(`\n${VEHICLES} vehicles × ${RATE} msg/s, ${SECONDS} s per run, median of ${RUNS}; ${machine()}\n\n`);
process.stdout.write(`${markdownTable(['vehicle → fleet client p50 ms', 'p99 ms', 'broker msg/s (all topics)', 'CPU % per gateway', 'ATTITUDE received / sent'], [[
  m(e2e, (x) => x.p50).toFixed(2), m(e2e, (x) => x.p99).toFixed(2), m(e2e, (x) => x.brokerPerSecond).toFixed(0), m(e2e, (x) => x.gatewayCpu).toFixed(1),
  `${m(e2e, (x) => x.received)} / ${m(e2e, (x) => x.sent)}`,
]])}\n\n`);
process.stdout.write(`${markdownTable(['spool: events', 'written while the broker is down (msg/s)', 'drained when it is back (msg/s)'], [[
  m(spools, (x) => x.events), m(spools, (x) => x.writePerSecond).toFixed(0), m(spools, (x) => x.drainPerSecond).toFixed(0),
]])}\n`);
saveResults('fleet', { date: new Date().toISOString(), machine: machine(), vehicles: VEHICLES, rate: RATE, seconds: SECONDS, runs: RUNS, e2e, spools });
