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
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
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

const relay = `node ${mavgate} run --link udp-listen:127.0.0.1:{in} --link udp:127.0.0.1:{out} --status-interval 0 --no-server --no-record`;
const targets: Record<string, string> = {
  direct: 'direct',
  naive: `naive=node ${resolve(relayBench, 'naive-relay.js')} {in} {out}`,
  mavgate: `mavgate=${relay}`,
  'mavgate-policy': `mavgate-policy=${relay} --policy ${resolve(root, 'bench/residency-policy.yaml')}`,
  'mavgate-signing': `mavgate-signing=${relay} --signing-key ${signingKey} --sign`,
};
const only = process.env.BENCH_ONLY?.split(',');

const result = spawnSync(process.execPath, [
  resolve(relayBench, 'bench.js'),
  ...Object.entries(targets).filter(([name]) => !only || only.includes(name)).flatMap(([, target]) => ['--target', target]),
  ...extraTargets,
  '--rates', rates, '--runs', runs,
  '--out', resolve(root, 'bench/results/relay.jsonl'),
], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
