/**
 * `npm run bench:report`: the post-flight report of a ~1 GB recording, as the command
 * runs it, next to `mavgate decode` of the same file in the same run.
 *
 * The recording is made on the fly in a temporary directory: the shared corpus's tlogs
 * one after the other, timestamps moved so that each follows the last, repeated until
 * BENCH_REPORT_MB (default 1000) — some hundred hours of flying. Each command runs as its
 * own process; wall time and peak RSS (VmHWM, read every 20 ms), the report's size;
 * median and range of BENCH_RUNS (default 3). Targets (issue 16): the report within 2×
 * decode's time, under 200 MiB of RSS, the file under 5 MB.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeTlogRecord, loadRegistry, TlogDecoder } from '../src/mavlink/index.js';
import { corpusFile, TLOG_NAMES } from '../test/helpers/corpus.js';
import { machine, markdownTable, median, range, saveResults } from './stats.js';

const TARGET_MB = Number(process.env.BENCH_REPORT_MB ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MAVGATE = resolve(import.meta.dirname, '../dist/cli/main.js');
const START_US = Date.UTC(2026, 6, 1) * 1000;
const GAP_US = 60_000_000;

/** The corpus as one recording: each file's records moved to follow the previous file's. */
function unit(): { bytes: Buffer; stamps: number[]; spanUs: number } {
  const registry = loadRegistry();
  const records: Buffer[] = [];
  const stamps: number[] = [];
  let at = 0;
  let offset = 0;
  for (const name of TLOG_NAMES) {
    let first: number | null = null;
    let last = 0;
    const decoder = new TlogDecoder(registry, (frame, timeUs) => {
      first ??= timeUs;
      last = Math.max(last, timeUs);
      const t = at + Math.max(0, timeUs - first);
      const record = encodeTlogRecord(t, frame.bytes());
      stamps.push(offset);
      offset += record.length;
      records.push(record);
    });
    decoder.push(readFileSync(corpusFile('tlog', `${name}.tlog`)));
    decoder.end();
    at += last - (first ?? 0) + GAP_US;
  }
  return { bytes: Buffer.concat(records), stamps, spanUs: at };
}

/** Writes copies of the unit, each later by the unit's span, until `mb` megabytes. */
async function makeRecording(path: string, mb: number): Promise<number> {
  const u = unit();
  const out = createWriteStream(path);
  let written = 0;
  for (let k = 0; written < mb * 1e6; k++) {
    const copy = Buffer.from(u.bytes);
    const shift = START_US + k * u.spanUs;
    for (const p of u.stamps) {
      const t = copy.readUInt32BE(p) * 4294967296 + copy.readUInt32BE(p + 4) + shift;
      copy.writeUInt32BE(Math.floor(t / 4294967296), p);
      copy.writeUInt32BE(t % 4294967296, p + 4);
    }
    if (!out.write(copy)) await new Promise<void>((r) => out.once('drain', () => r()));
    written += copy.length;
  }
  await new Promise<void>((r, reject) => out.end((err?: Error | null) => (err ? reject(err) : r())));
  return written;
}

function hwmMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** One command: wall seconds and peak RSS. */
function measure(args: string[]): Promise<{ seconds: number; rssMiB: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [MAVGATE, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, hwmMiB(child.pid!))), 20);
  return new Promise((resolveRun, reject) => {
    child.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`mavgate ${args.join(' ')}: exit ${code}\n${stderr}`));
      else resolveRun({ seconds: (performance.now() - t0) / 1000, rssMiB: peak });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-report-'));
try {
  const recording = join(dir, 'day.tlog');
  const bytes = await makeRecording(recording, TARGET_MB);
  writeFileSync(join(dir, 'policy.yaml'), `approved_sinks:\n  directories: [${dir}]\n`);
  const runs: { report: { seconds: number; rssMiB: number; bytes: number }; decode: { seconds: number; rssMiB: number } }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = join(dir, `report-${i}.html`);
    const report = await measure(['report', recording, '--out', out, '--policy', join(dir, 'policy.yaml')]);
    const decode = await measure(['decode', recording]);
    runs.push({ report: { ...report, bytes: statSync(out).size }, decode });
  }
  const fmt = (values: number[], digits: number) => {
    const [lo, hi] = range(values);
    return `${median(values).toFixed(digits)} (${lo.toFixed(digits)}–${hi.toFixed(digits)})`;
  };
  const reportS = runs.map((r) => r.report.seconds);
  const decodeS = runs.map((r) => r.decode.seconds);
  const table = markdownTable(['command', 'seconds', 'MB/s', 'peak RSS MiB', 'output'], [
    ['mavgate report', fmt(reportS, 1), (bytes / 1e6 / median(reportS)).toFixed(0), fmt(runs.map((r) => r.report.rssMiB), 0), `${fmt(runs.map((r) => r.report.bytes / 1e6), 2)} MB`],
    ['mavgate decode', fmt(decodeS, 1), (bytes / 1e6 / median(decodeS)).toFixed(0), fmt(runs.map((r) => r.decode.rssMiB), 0), 'JSON Lines to /dev/null'],
  ]);
  const ratio = median(runs.map((r) => r.report.seconds / r.decode.seconds));
  process.stdout.write(`a ${(bytes / 1e6).toFixed(0)} MB recording (the corpus repeated), ${RUNS} run(s)\n${machine()}\n\n${table}\n\nreport time / decode time: ${ratio.toFixed(2)} (target ≤ 2); report peak RSS target < 200 MiB; report size target < 5 MB\n`);
  const path = saveResults('report', { date: new Date().toISOString(), machine: machine(), bytes, runs });
  process.stdout.write(`results: ${path}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
