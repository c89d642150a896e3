/**
 * `npm run bench:record`: the flight recorder under load, and export throughput.
 *
 * Recording: a realistic telemetry stream (bench/telemetry.ts, 1,400-byte reads) decoded
 * and routed as a link's frames would be, with the recorder on the router, for
 * BENCH_SECONDS (default 10): paced at 100,000 frames/s (without a recorder, recording,
 * recording encrypted), then as fast as this process can feed it. Frames recorded vs
 * frames routed (loss), process CPU and peak RSS; median of BENCH_RUNS (default 3).
 *
 * Export: `mavgate export` (jsonl, csv, gpx) on the largest corpus tlog, in MB/s of input,
 * next to `mavgate decode` into a null sink in the same run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { runDecode } from '../src/cli/decode.js';
import { runExport } from '../src/cli/export.js';
import { FrameDecoder, loadRegistry } from '../src/mavlink/index.js';
import { EgressGate } from '../src/residency/gate.js';
import { buildPolicy, DEFAULT_DOCUMENT } from '../src/residency/policy.js';
import { Router } from '../src/router/router.js';
import { VehicleStateStore } from '../src/router/vehicle-state.js';
import { DEFAULT_RECORDER, Recorder } from '../src/sinks/recorder.js';
import { machine, markdownTable, median, saveResults } from './stats.js';
import { chunksOf, telemetryStream } from './telemetry.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RATE = 100_000;
const registry = loadRegistry();
const stream = telemetryStream(300_000);
const chunks = chunksOf(stream.bytes, 1400);
const framesPerChunk = stream.frames / chunks.length;

type Variant = { label: string; record: boolean; encrypt: boolean; paced: boolean };
const VARIANTS: Variant[] = ([
  { label: '100k/s, no recording', record: false, encrypt: false, paced: true },
  { label: '100k/s, recording', record: true, encrypt: false, paced: true },
  { label: '100k/s, recording encrypted', record: true, encrypt: true, paced: true },
  { label: 'max, recording', record: true, encrypt: false, paced: false },
  { label: 'max, recording encrypted', record: true, encrypt: true, paced: false },
] satisfies Variant[]).filter((v) => !process.env.BENCH_VARIANTS || process.env.BENCH_VARIANTS.split(',').some((w) => v.label.startsWith(w)));

interface RecordRun { routed: number; recorded: number; dropped: number; cpuPercent: number; rssMiB: number; framesPerSecond: number }

function policyFor(dir: string) {
  return buildPolicy({ ...DEFAULT_DOCUMENT, approved_sinks: { directories: [dir], networks: [] } }, 'bench', dir);
}

async function recordOnce(v: Variant): Promise<RecordRun> {
  const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-record-'));
  const gate = new EgressGate(policyFor(dir));
  const router = new Router(registry);
  const state = new VehicleStateStore();
  router.onFrame((f) => state.observe(f));
  const port = router.attach({ id: 'link', role: 'link', send: () => true });
  let recorder: Recorder | null = null;
  if (v.record) {
    recorder = new Recorder(gate.grantDirectory('bench', dir), { site: 'bench', jurisdiction: 'XX', policySha256: '0'.repeat(64), gatewayVersion: 'bench' },
      registry, state, { ...DEFAULT_RECORDER, key: v.encrypt ? randomBytes(32) : null }, { audit: () => {}, log: () => {} });
    const r = recorder;
    router.onFrame((f) => r.observe(f, true));
  }
  let routed = 0;
  router.onFrame(() => routed++);
  const decoder = new FrameDecoder(registry, (f) => router.route(f, port));
  let next = 0;
  let rss = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  while (performance.now() < end) {
    const target = v.paced ? ((performance.now() - t0) / 1000) * RATE : Infinity;
    let fed = 0;
    // Feed what is due (paced) or a batch (max), then let timers and the disk run.
    while (routed < target && fed < 200) {
      decoder.push(chunks[next++ % chunks.length]!);
      fed++;
    }
    rss = Math.max(rss, process.memoryUsage.rss());
    await new Promise((r) => (v.paced ? setTimeout(r, 1) : setImmediate(r)));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await recorder?.close();
  const stats = recorder?.stats();
  return {
    routed,
    recorded: stats?.recorded ?? 0,
    dropped: stats?.dropped ?? 0,
    cpuPercent: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
    rssMiB: rss / 1048576,
    framesPerSecond: (stats?.recorded ?? routed) / elapsed,
  };
}

const results: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), seconds: SECONDS, runs: RUNS, framesPerChunk };
const rows: (string | number)[][] = [];
for (const v of VARIANTS) {
  const runs: RecordRun[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await recordOnce(v));
    const r = runs.at(-1)!;
    process.stderr.write(`${v.label}: routed ${r.routed}, recorded ${r.recorded}, dropped ${r.dropped}, cpu ${r.cpuPercent.toFixed(1)}%, rss ${r.rssMiB.toFixed(0)} MiB\n`);
  }
  results[v.label] = runs;
  const m = (f: (r: RecordRun) => number) => median(runs.map(f));
  rows.push([v.label, m((r) => r.framesPerSecond).toFixed(0), v.record ? runs.map((r) => r.routed - r.recorded).join('/') : '-', m((r) => r.cpuPercent).toFixed(1), m((r) => r.rssMiB).toFixed(0)]);
}
process.stdout.write(`\nRecording, ${SECONDS} s per run, median of ${RUNS}; ${machine()}\n\n`);
process.stdout.write(`${markdownTable(['variant', 'frames/s recorded (routed without recorder)', 'frames routed but not recorded, per run', 'process CPU %', 'peak RSS MiB'], rows)}\n`);

const corpus = resolve(import.meta.dirname, '../../shared/corpus/tlog/arducopter_2015-07-05_v1.tlog');
if (existsSync(corpus)) {
  const size = statSync(corpus).size;
  const exportRows: (string | number)[][] = [];
  const nul = () => new Writable({ write: (_c, _e, cb) => cb() });
  const jobs: [string, () => Promise<unknown>][] = [
    ['decode (reference)', () => runDecode({ input: corpus, raw: false }, { stdout: nul(), stderr: nul() })],
    ...(['jsonl', 'csv', 'gpx'] as const).map((format): [string, () => Promise<unknown>] => [`export ${format}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-export-'));
      return runExport({ input: corpus, format, policy: policyFor(dir), out: join(dir, format === 'csv' ? 'csv' : `out.${format}`), progress: false });
    }]),
  ];
  const exportResults: Record<string, number[]> = {};
  for (const [label, job] of jobs) {
    const times: number[] = [];
    for (let i = 0; i < Math.max(RUNS, 5); i++) {
      const t = performance.now();
      await job();
      times.push(performance.now() - t);
    }
    exportResults[label] = times;
    exportRows.push([label, median(times).toFixed(0), (size / 1e6 / (median(times) / 1000)).toFixed(1)]);
  }
  results.export = { file: corpus, bytes: size, ms: exportResults };
  process.stdout.write(`\nExport of ${corpus.split('/').pop()} (${(size / 1e6).toFixed(1)} MB), median of ${Math.max(RUNS, 5)}\n\n${markdownTable(['job', 'ms', 'MB/s'], exportRows)}\n`);
} else {
  process.stdout.write(`\n(export benchmark skipped: no corpus at ${corpus})\n`);
}
saveResults('record', results);
