/**
 * npm run bench:relay — mavgate as a UDP relay, measured with the shared relay bench
 * (../shared/bench/relay) beside the direct path and the naive Node relay in the same
 * run: vehicle over UDP into mavgate, forwarded to a UDP client endpoint.
 *
 *   BENCH_RATES=1000,5000,20000,100000,150000,200000 BENCH_RUNS=5 npm run bench:relay
 *
 * "mavgate" runs with the default residency policy (no rules, no audit log);
 * "mavgate-policy" with bench/residency-policy.yaml: ten rules, positions redacted for
 * the sink, every decision audited — the cost of the gate; "mavgate-signing" signs every
 * frame it sends on (MAVLink 2 signing of outgoing frames, the cost per frame of signing
 * control towards a vehicle). BENCH_ONLY=mavgate,mavgate-signing runs a subset.
 *
 * "mavgate-reload" is mavgate run's own start-up and SIGHUP code with a reload every
 * second (two policies taking turns, see bench/reloading-relay.ts) and "mavgate-steady"
 * the same process with none: the cost of reloads, and the check that no frame to the
 * approved sink is lost across them and that a destination the policy in force refuses
 * receives nothing from the moment it takes force (BENCH_ONLY=direct,mavgate-steady,mavgate-reload).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const relayBench = resolve(root, '../shared/bench/relay');
if (!existsSync(relayBench)) {
  console.error(`bench:relay needs the shared relay bench at ${relayBench}`);
  process.exit(2);
}
const mavgate = resolve(root, 'dist/cli/main.js');
const rates = process.env.BENCH_RATES ?? '1000,5000,20000,100000,150000,200000';
const runs = process.env.BENCH_RUNS ?? '5';
const extraTargets = (process.env.BENCH_TARGETS ?? '').split(';').filter(Boolean).flatMap((t) => ['--target', t]);
mkdirSync(resolve(root, 'bench/results'), { recursive: true });
const signingKey = resolve(root, 'bench/results/signing.key');
writeFileSync(signingKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });

const reloadReport = resolve(root, 'bench/results/reload-checks.jsonl');
writeFileSync(reloadReport, '');
const reloading = (ms: number) => `node --import tsx ${resolve(root, 'bench/reloading-relay.ts')} {in} {out} ${reloadReport} ${ms}`;
const relay = `node ${mavgate} run --link udp-listen:127.0.0.1:{in} --link udp:127.0.0.1:{out} --status-interval 0 --no-server --no-record`;
const targets: Record<string, string> = {
  direct: 'direct',
  naive: `naive=node ${resolve(relayBench, 'naive-relay.js')} {in} {out}`,
  mavgate: `mavgate=${relay}`,
  'mavgate-policy': `mavgate-policy=${relay} --policy ${resolve(root, 'bench/residency-policy.yaml')}`,
  'mavgate-signing': `mavgate-signing=${relay} --signing-key ${signingKey} --sign`,
  'mavgate-steady': `mavgate-steady=${reloading(0)}`,
  'mavgate-reload': `mavgate-reload=${reloading(1000)}`,
};
const only = process.env.BENCH_ONLY?.split(',');

const result = spawnSync(process.execPath, [
  resolve(relayBench, 'bench.js'),
  ...Object.entries(targets).filter(([name]) => !only || only.includes(name)).flatMap(([, target]) => ['--target', target]),
  ...extraTargets,
  '--rates', rates, '--runs', runs,
  ...(process.env.BENCH_QUIET_WAIT ? ['--quiet-wait', process.env.BENCH_QUIET_WAIT] : []),
  ...(process.env.BENCH_DURATION ? ['--duration', process.env.BENCH_DURATION] : []),
  '--out', resolve(root, 'bench/results/relay.jsonl'),
], { stdio: 'inherit', cwd: root });

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
