/**
 * npm run bench:relay — mavgate as a UDP relay, measured with the shared relay bench
 * (../shared/bench/relay) beside the direct path and the naive Node relay in the same
 * run: vehicle over UDP into mavgate, forwarded to a UDP client endpoint. Runs are
 * interleaved across targets and rates; the harness waits for a quiet machine before
 * each run and repeats one disturbed by other load (BENCH_QUIET_WAIT seconds at most).
 *
 *   npm run bench:relay                                   # issue 18's comparison (below), 3 runs
 *   BENCH_ONLY=direct,mavgate,mavgate-signing npm run bench:relay
 *   BENCH_RATES=1000,20000 BENCH_RUNS=1 BENCH_DURATION=2 npm run bench:relay   # a smoke run
 *   BENCH_WARMUP=15 BENCH_ONLY=naive,mavgate BENCH_RATES=1000,5000 npm run bench:relay
 *     # the steady state: each relay relays for 15 s before its window (default 1 s), past
 *     # its start-up (V8 compiling its code, the first full GC ~8 s after start)
 *
 * Targets (BENCH_ONLY picks; the default is the first six):
 * - direct: the load generator straight to the sink, the baseline for added latency;
 * - naive: the shared bench's Node relay that parses nothing, the floor for any Node relay;
 * - naive-coalesce: the same, sending what one turn received as one datagram
 *   (bench/naive-coalescing-relay.js): what coalescing alone costs or saves;
 * - mavgate: `mavgate run` with the default policy (every frame checked, routed, tracked in
 *   the vehicle state, classified and counted for the residency report), coalesced sends;
 * - mavgate-nocoalesce: the same with --no-coalesce (one datagram per frame);
 * - mavgate-dgram: mavgate on Node's dgram sockets (MAVGATE_UDP=dgram) instead of the native
 *   recvmmsg path: what the native path saves;
 * - mavgate-gcs: the sink as a ground station mavgate sends to (`--gcs udp:…`, with the HTTP
 *   server on an ephemeral port): frames through the client hub, as QGroundControl gets them;
 * - mavgate-policy: bench/residency-policy.yaml (ten rules, positions redacted, every
 *   decision audited): the cost of the gate;
 * - mavgate-signing: MAVLink 2 signing of every frame sent on;
 * - mavgate-steady / mavgate-reload: mavgate run's own start-up and SIGHUP code with no
 *   reload and with one every second (bench/reloading-relay.ts), checking that a refused
 *   destination receives nothing from the moment a policy takes force;
 * - mavgate-rcvbuf-N: mavgate with a UDP receive buffer of N bytes, for each N in
 *   BENCH_RCVBUF (e.g. 262144,1048576): what a smaller buffer does to loss and p99.
 *
 * BENCH_LOAD=sendmsg: the shared load generator with its sends made by one sendmsg(2) each
 * (bench/load-sendmsg.cjs) instead of dgram's: a cheaper generator, for the rates where
 * the shared one cannot keep up while it shares two cores with a relay and a sink.
 *
 * Results: bench/results/relay.jsonl (every run, the harness's own format) and
 * bench/results/relay-summary.md (medians and ranges, added latency against the direct
 * path, CPU per frame against the naive relay, disturbed runs named);
 * BENCH_SUMMARIZE=bench/results/relay.jsonl npm run bench:relay prints that summary again.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { machine, markdownTable, median, range } from './stats.js';

const root = resolve(import.meta.dirname, '..');
const relayBench = resolve(root, '../shared/bench/relay');
if (!existsSync(relayBench)) {
  console.error(`bench:relay needs the shared relay bench (load.js, sink.js, bench.js, naive-relay.js) at ${relayBench}: the team's shared folder sits beside this checkout as ../shared; place or link a copy of it there`);
  process.exit(2);
}
/** Background CPU (% of a core) above which the harness repeats a run, and this summary calls a kept one disturbed. */
const maxBg = process.env.BENCH_MAX_BG ?? '30';
// BENCH_SUMMARIZE=FILE.jsonl: print the summary of an earlier run and stop.
if (process.env.BENCH_SUMMARIZE) {
  summarise(resolve(process.env.BENCH_SUMMARIZE));
  process.exit(0);
}
const mavgate = resolve(root, 'dist/cli/main.js');
// mavgate runs as its executable would: with the environment and Node flags of its #! line (`env -S NAME=VALUE… node FLAGS…`).
const shebang = /^#!\S*env -S (.*)$/.exec(readFileSync(mavgate, 'utf8').split('\n')[0]!)?.[1]?.trim() ?? 'node';
const node = `env ${shebang}`;
const rates = process.env.BENCH_RATES ?? '1000,5000,20000,50000,100000,150000';
const runs = process.env.BENCH_RUNS ?? '3';
const extraTargets = (process.env.BENCH_TARGETS ?? '').split(';').filter(Boolean).flatMap((t) => ['--target', t]);
mkdirSync(resolve(root, 'bench/results'), { recursive: true });
const signingKey = resolve(root, 'bench/results/signing.key');
writeFileSync(signingKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });

const reloadReport = resolve(root, 'bench/results/reload-checks.jsonl');
writeFileSync(reloadReport, '');
const reloading = (ms: number) => `${node} --import tsx ${resolve(root, 'bench/reloading-relay.ts')} {in} {out} ${reloadReport} ${ms}`;
const relay = `${node} ${mavgate} run --link udp-listen:127.0.0.1:{in} --link udp:127.0.0.1:{out} --status-interval 0 --no-server --no-record`;
const targets: Record<string, string> = {
  direct: 'direct',
  naive: `naive=node ${resolve(relayBench, 'naive-relay.js')} {in} {out}`,
  'naive-coalesce': `naive-coalesce=node ${resolve(root, 'bench/naive-coalescing-relay.js')} {in} {out}`,
  mavgate: `mavgate=${relay}`,
  'mavgate-nocoalesce': `mavgate-nocoalesce=${relay} --no-coalesce`,
  'mavgate-dgram': `mavgate-dgram=env MAVGATE_UDP=dgram ${relay}`,
  'mavgate-gcs': `mavgate-gcs=${node} ${mavgate} run --link udp-listen:127.0.0.1:{in} --gcs udp:127.0.0.1:{out} --listen 127.0.0.1:0 --status-interval 0 --no-record`,
  'mavgate-policy': `mavgate-policy=${relay} --policy ${resolve(root, 'bench/residency-policy.yaml')}`,
  'mavgate-signing': `mavgate-signing=${relay} --signing-key ${signingKey} --sign`,
  'mavgate-steady': `mavgate-steady=${reloading(0)}`,
  'mavgate-reload': `mavgate-reload=${reloading(1000)}`,
};
for (const bytes of (process.env.BENCH_RCVBUF ?? '').split(',').filter(Boolean)) {
  targets[`mavgate-rcvbuf-${bytes}`] = `mavgate-rcvbuf-${bytes}=${relay} --udp-receive-buffer ${bytes}`;
}
const only = process.env.BENCH_ONLY?.split(',') ?? ['direct', 'naive', 'naive-coalesce', 'mavgate', 'mavgate-nocoalesce', 'mavgate-dgram'];
const unknown = only.filter((name) => !(name in targets));
if (unknown.length > 0) {
  console.error(`BENCH_ONLY: unknown target(s) ${unknown.join(', ')}; targets are ${Object.keys(targets).join(', ')} (mavgate-rcvbuf-N with BENCH_RCVBUF=N)`);
  process.exit(2);
}

const out = resolve(root, 'bench/results/relay.jsonl');
writeFileSync(out, '');
const result = spawnSync(process.execPath, [
  resolve(harness(process.env.BENCH_LOAD ?? 'dgram'), 'bench.js'),
  ...Object.entries(targets).filter(([name]) => only.includes(name)).flatMap(([, target]) => ['--target', target]),
  ...extraTargets,
  '--rates', rates, '--runs', runs, '--max-bg', maxBg,
  ...(process.env.BENCH_QUIET_WAIT ? ['--quiet-wait', process.env.BENCH_QUIET_WAIT] : []),
  ...(process.env.BENCH_DURATION ? ['--duration', process.env.BENCH_DURATION] : []),
  ...(process.env.BENCH_WARMUP ? ['--warmup', process.env.BENCH_WARMUP] : []),
  '--out', out,
], { stdio: 'inherit', cwd: root });

summarise(out);

// What the reloading relays saw of the refused destinations, over every run.
const checks = readFileSync(reloadReport, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reloadMs: number; reloads: number; whileRefused: number; whileApproved: number; decoyBytes: number });
if (checks.length > 0) {
  const sum = (rows: typeof checks, key: 'reloads' | 'whileRefused' | 'whileApproved' | 'decoyBytes') => rows.reduce((n, r) => n + r[key], 0);
  const reloadingRuns = checks.filter((c) => c.reloadMs > 0);
  console.log(`\nreload checks (${checks.length} relay processes, ${reloadingRuns.length} reloading): ${sum(checks, 'reloads')} reloads; ` +
    `127.0.0.3 received ${sum(checks, 'whileApproved')} datagrams while approved and ${sum(checks, 'whileRefused')} while refused (must be 0); decoy 127.0.0.2: ${sum(checks, 'decoyBytes')} bytes (must be 0)`);
  if (sum(checks, 'whileRefused') + sum(checks, 'decoyBytes') > 0) process.exit(1);
}
process.exit(result.status ?? 1);

/**
 * The folder whose bench.js runs: the shared one, or a copy of it whose load.js is the
 * sendmsg generator (bench.js starts the load.js beside itself).
 */
function harness(load: string): string {
  if (load === 'dgram') return relayBench;
  if (load !== 'sendmsg') {
    console.error(`BENCH_LOAD: ${load} is not a load generator; say dgram (the shared load.js, the default) or sendmsg (bench/load-sendmsg.cjs)`);
    process.exit(2);
  }
  const copy = resolve(root, 'bench/results/harness-sendmsg');
  mkdirSync(copy, { recursive: true });
  for (const file of ['bench.js', 'sink.js', 'mavframes.js', 'package.json']) copyFileSync(resolve(relayBench, file), resolve(copy, file));
  writeFileSync(resolve(copy, 'load.js'), `'use strict';\nrequire(${JSON.stringify(resolve(root, 'bench/load-sendmsg.cjs'))});\n`);
  return copy;
}

interface Run {
  target: string;
  /** Set by bench/load-sendmsg.cjs; the shared load.js leaves it out. */
  loadSender?: 'sendmsg';
  rate: number;
  error?: string;
  discarded?: boolean;
  windowS: number;
  offeredPerSec: number;
  relayedPerSec: number;
  lossPct: number;
  latencyUs: { p50: number; p99: number };
  routerCpuPct: number | null;
  routerRssKiB: number | null;
  bgCpuPct: number;
  quiet: { notQuiet?: boolean };
  sink: { datagrams: number; framesAllPhases: number };
}

/** Medians and ranges per target and rate, beside the direct path and the naive relay of the same run. */
function summarise(file: string): void {
  const rows = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Run);
  const kept = rows.filter((r) => !r.discarded && !r.error);
  const discarded = rows.filter((r) => r.discarded).length;
  const group = (target: string, rate: number) => kept.filter((r) => r.target === target && r.rate === rate);
  const cell = (values: number[], digits = 0) => {
    if (values.length === 0) return '–';
    const [lo, hi] = range(values);
    const f = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
    return values.length === 1 ? f(values[0]!) : `${f(median(values))} (${f(lo)}–${f(hi)})`;
  };
  const cpuPerFrameUs = (r: Run) => (r.routerCpuPct === null ? null : (r.routerCpuPct / 100) * 1e6 / r.offeredPerSec);
  // A relay that loses frames spends nothing on them: per frame it relayed tells its cost then.
  const cpuPerRelayedUs = (r: Run) => (r.routerCpuPct === null || r.relayedPerSec === 0 ? null : (r.routerCpuPct / 100) * 1e6 / r.relayedPerSec);
  const targetNames = [...new Set(kept.map((r) => r.target))];
  const senders = [...new Set(kept.map((r) => r.loadSender ?? 'dgram'))];
  const rateList = [...new Set(kept.map((r) => r.rate))].sort((a, b) => a - b);
  const table: (string | number)[][] = [];
  for (const rate of rateList) {
    const direct = group('direct', rate);
    const directP50 = direct.length ? median(direct.map((r) => r.latencyUs.p50)) : null;
    const directP99 = direct.length ? median(direct.map((r) => r.latencyUs.p99)) : null;
    const naiveCpu = group('naive', rate).map(cpuPerFrameUs).filter((x): x is number => x !== null);
    const naiveRelayed = group('naive', rate).map(cpuPerRelayedUs).filter((x): x is number => x !== null);
    for (const target of targetNames) {
      const g = group(target, rate);
      if (g.length === 0) continue;
      const cpu = g.map(cpuPerFrameUs).filter((x): x is number => x !== null);
      const relayed = g.map(cpuPerRelayedUs).filter((x): x is number => x !== null);
      const disturbed = g.filter((r) => r.bgCpuPct > Number(maxBg) || r.quiet?.notQuiet).length;
      table.push([
        rate.toLocaleString('en-US'), target, g.length, cell(g.map((r) => r.lossPct), 3),
        target === 'direct' || directP50 === null ? cell(g.map((r) => r.latencyUs.p50)) + ' (abs)' : cell(g.map((r) => r.latencyUs.p50 - directP50)),
        target === 'direct' || directP99 === null ? cell(g.map((r) => r.latencyUs.p99)) + ' (abs)' : cell(g.map((r) => r.latencyUs.p99 - directP99)),
        cpu.length ? cell(cpu, 1) : '–',
        cpu.length && naiveCpu.length && target !== 'naive' ? `${(median(cpu) / median(naiveCpu)).toFixed(2)}×` : '–',
        relayed.length ? cell(relayed, 1) : '–',
        relayed.length && naiveRelayed.length && target !== 'naive' ? `${(median(relayed) / median(naiveRelayed)).toFixed(2)}×` : '–',
        g[0]!.routerRssKiB === null ? '–' : cell(g.map((r) => (r.routerRssKiB ?? 0) / 1024), 1),
        cell(g.map((r) => r.sink.framesAllPhases / Math.max(1, r.sink.datagrams)), 1),
        disturbed ? `${disturbed} of ${g.length}` : '0',
      ]);
    }
  }
  const text = [
    `# bench:relay, ${new Date().toISOString()}`,
    '',
    `${machine()}; targets ${targetNames.join(', ')}; rates ${rateList.join(', ')}; load generator ${senders.map((s) => (s === 'dgram' ? 'the shared load.js (dgram sends)' : 'load.js with sendmsg sends (BENCH_LOAD=sendmsg)')).join(' and ')}; a ${kept[0]?.windowS ?? '?'} s window after ${process.env.BENCH_WARMUP ?? 1} s of warm-up; median (min–max) of the kept runs; ${discarded} run(s) discarded as disturbed and repeated (background CPU over ${maxBg}% of a core).`,
    `Added p50/p99: the relay's latency minus the direct path's median at the same rate, µs. CPU per frame: the relay's CPU time per offered frame and per frame it relayed, µs; "vs naive": its median over the naive relay's. Frames per datagram: at the sink.`,
    '',
    markdownTable(['offered/s', 'target', 'runs', 'loss %', 'added p50 µs', 'added p99 µs', 'CPU µs/frame offered', 'vs naive', 'CPU µs/frame relayed', 'vs naive', 'RSS MiB', 'frames/datagram', 'disturbed'], table),
    '',
  ].join('\n');
  writeFileSync(resolve(root, 'bench/results/relay-summary.md'), text);
  console.log(`\n${text}`);
}
