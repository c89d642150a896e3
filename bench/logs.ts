/**
 * `npm run bench:logs`: onboard log download throughput from the simulated vehicle on a
 * TCP link, as real processes (the vehicle, the gateway, the command), in one run:
 *   direct     `mavgate logs download --link tcp:SIM` straight to a vehicle of its own;
 *   relayed    the same command as a ground station on mavgate's TCP ground-station port
 *              (`mavgate run --link tcp:SIM --gcs tcp-listen:…`), as QGroundControl would;
 *   gateway    `mavgate logs download --gateway URL`: the gateway downloads it itself.
 * Each mode gets a vehicle of its own (a vehicle serves one transfer at a time). The rate
 * is the download's own (first to last chunk), as the command's result line reports
 * it; median and range of BENCH_RUNS (default 3), ratio to direct. Target (issue 16): at
 * least 2.8 MB/s through mavgate. BENCH_LOG picks the simulated log (default 4: 24 MB;
 * 3 is 2.5 MB, for a smoke run), BENCH_LOG_RATE caps the vehicle (default 20 MB/s).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateToken, hashToken } from '../src/server/tokens.js';
import { SIM_LOG_SHA256, SIM_LOGS } from '../src/sim/onboard-logs.js';
import { freeTcpPort } from '../test/helpers/ports.js';
import { machine, markdownTable, median, range, saveResults } from './stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOG = Number(process.env.BENCH_LOG ?? 4);
const LOG_RATE = Number(process.env.BENCH_LOG_RATE ?? 20_000_000);
const MAVGATE = resolve(import.meta.dirname, '../dist/cli/main.js');
const log = SIM_LOGS.find((l) => l.id === LOG)!;

const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-logs-'));
const children: ChildProcess[] = [];

function start(args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAVGATE, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  return new Promise((resolveStart, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (ready.test(stderr)) resolveStart(child);
    });
    child.on('exit', (code) => reject(new Error(`mavgate ${args[0]} exited (${code}) before ${ready}:\n${stderr}`)));
  });
}

/** Runs one download command; its rate from the last progress line. */
function download(args: string[]): Promise<{ rate: number; seconds: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [MAVGATE, 'logs', 'download', String(LOG), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolveRun, reject) => {
    child.on('close', (code) => {
      const rates = [...stdout.matchAll(/\(([\d.]+) MB\/s\)$/gm)];
      if (code !== 0 || !stdout.includes(`sha256 ${SIM_LOG_SHA256[LOG]}`) || rates.length === 0) {
        reject(new Error(`logs download ${args.join(' ')}: exit ${code}\n${stdout}\n${stderr}`));
        return;
      }
      resolveRun({ rate: Number(rates.at(-1)![1]) * 1e6, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/**
 * A policy of its own for each process: each one audits into its policy's audit log, and
 * two processes must not append to one chain.
 */
function policy(name: string): { file: string; data: string } {
  const data = join(dir, name);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `site: bench\napproved_sinks:\n  directories: [${data}]\n`);
  return { file, data };
}

async function main(): Promise<void> {
  const token = generateToken();
  // The command on the ground-station port sends as QGroundControl does (255/190).
  writeFileSync(join(dir, 'gateway.yaml'), `tokens:\n  - { name: bench, role: admin, sha256: ${hashToken(token)}, sources: [{ system: 255, components: [] }] }\nrecording: false\n`);
  const ports = { direct: await freeTcpPort(), relayed: await freeTcpPort(), gateway: await freeTcpPort(), gcs: await freeTcpPort(), api: await freeTcpPort() };
  const sim = (port: number) => start(['sim', '--link', `tcp-listen:127.0.0.1:${port}`, '--log-rate', String(LOG_RATE)], /simulated vehicle/);
  await Promise.all([sim(ports.direct), sim(ports.relayed), sim(ports.gateway)]);
  const gateway = (sim: number, policyFile: string, extra: string[]) => start([
    'run', '--link', `tcp:127.0.0.1:${sim}`, '--config', join(dir, 'gateway.yaml'), '--policy', policyFile, '--status-interval', '0', ...extra,
  ], /system 1\/1: heartbeat/);
  await gateway(ports.relayed, policy('relaying-gateway').file, ['--no-server', '--gcs', `tcp-listen:127.0.0.1:${ports.gcs},as=bench`]);
  const downloading = policy('downloading-gateway');
  await gateway(ports.gateway, downloading.file, ['--listen', `127.0.0.1:${ports.api}`]);
  const direct = policy('direct');
  const relayed = policy('relayed');
  const modes = (process.env.BENCH_MODES ?? 'direct,relayed,gateway').split(',');
  const results: Record<string, { rate: number; seconds: number }[]> = Object.fromEntries(modes.map((m) => [m, []]));
  for (let run = 0; run < RUNS; run++) {
    if (results.direct) results.direct.push(await download(['--link', `tcp:127.0.0.1:${ports.direct}`, '--policy', direct.file, '--out', join(direct.data, `run-${run}`)]));
    if (results.relayed) results.relayed.push(await download(['--link', `tcp:127.0.0.1:${ports.gcs}`, '--policy', relayed.file, '--out', join(relayed.data, `run-${run}`)]));
    if (results.gateway) results.gateway.push(await download(['--gateway', `http://127.0.0.1:${ports.api}`, '--token', token]));
    // The gateway keeps what it downloaded: moved away, the next run downloads it again.
    rmSync(join(downloading.data, 'logs'), { recursive: true, force: true });
  }
  const reference = results.direct ? median(results.direct.map((r) => r.rate)) : Number.NaN;
  const rows = Object.entries(results).map(([mode, runs]) => {
    const rates = runs.map((r) => r.rate / 1e6);
    const [lo, hi] = range(rates);
    return [mode, median(rates).toFixed(2), `${lo.toFixed(2)}–${hi.toFixed(2)}`, (median(runs.map((r) => r.rate)) / reference).toFixed(2), median(runs.map((r) => r.seconds)).toFixed(1)];
  });
  const table = markdownTable(['mode', 'MB/s (median)', 'range', 'vs direct', 'command s'], rows);
  process.stdout.write(`onboard log ${LOG} (${(log.size / 1e6).toFixed(1)} MB) from the simulated vehicle over TCP, vehicle capped at ${(LOG_RATE / 1e6).toFixed(0)} MB/s, ${RUNS} run(s)\n${machine()}\n\n${table}\n`);
  const path = saveResults('logs', { date: new Date().toISOString(), machine: machine(), log: LOG, bytes: log.size, vehicleRate: LOG_RATE, runs: results });
  process.stdout.write(`\nresults: ${path}\n`);
}

try {
  await main();
} finally {
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
  rmSync(dir, { recursive: true, force: true });
}
