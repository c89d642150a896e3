/**
 * The relay of `mavgate run` (its own start-up and SIGHUP code, in this process) with a
 * reload every second: two policy files take turns, both approving the bench's sink
 * (127.0.0.1), only the first approving a second destination on 127.0.0.3. Every reload
 * also asks for a decoy on 127.0.0.2, which no policy approves.
 *
 *   node --import tsx bench/reloading-relay.ts IN OUT REPORT.jsonl [RELOAD_MS]
 *
 * RELOAD_MS 0 runs the same process with no reloads: the like-for-like baseline. At exit
 * (SIGTERM from the harness) one line goes to REPORT: reloads made, datagrams the 127.0.0.3
 * destination received while a policy refused it (must be 0), and bytes at the decoy
 * (must be 0). "While refused" is exact: at the moment a policy takes force the gate tells
 * this process synchronously, which sends the destination's socket a marker; on loopback a
 * socket's queue keeps arrival order, so anything behind the marker was sent after it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway } from '../src/cli/run.js';
import { DEFAULT_RUN_CONFIG, type RunConfig } from '../src/cli/run-config.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { loadPolicyFile } from '../src/residency/policy-file.js';

const [inPort, outPort, reportPath, reloadArg] = process.argv.slice(2);
if (!inPort || !outPort || !reportPath) {
  console.error('usage: reloading-relay.ts IN OUT REPORT.jsonl [RELOAD_MS]');
  process.exit(2);
}
const reloadMs = Number(reloadArg ?? 1000);

async function bound(address: string): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  return socket;
}

const MARKER = Buffer.from('policy-changed');
const second = await bound('127.0.0.3');
const decoy = await bound('127.0.0.2');
const marker = await bound('127.0.0.1');
/** Whether the policy in force refuses 127.0.0.3, as of the datagrams being read now; changes when its marker is read. */
let refusedNow = false;
const pending: boolean[] = [];
let whileRefused = 0;
let whileApproved = 0;
let decoyBytes = 0;
second.on('message', (msg) => {
  if (msg.equals(MARKER)) refusedNow = pending.shift()!;
  else if (refusedNow) whileRefused++;
  else whileApproved++;
});
decoy.on('message', (msg) => (decoyBytes += msg.length));

const dir = mkdtempSync(join(tmpdir(), 'mavgate-bench-reload-'));
const policyFile = (name: string, networks: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, `site: bench-reload\napproved_sinks:\n  directories: [${dir}]\n  networks:\n${networks.map((n) => `    - cidr: ${n}\n`).join('')}listen: [127.0.0.1/32]\n`);
  return path;
};
const policies = [policyFile('a.yaml', ['127.0.0.1/32', '127.0.0.3/32']), policyFile('b.yaml', ['127.0.0.1/32'])];
const links = [`udp-listen:127.0.0.1:${inPort}`, `udp:127.0.0.1:${outPort}`, `udp:127.0.0.3:${second.address().port}`].map(parseEndpoint);
const base: RunConfig = { ...DEFAULT_RUN_CONFIG, links, policy: loadPolicyFile(policies[0]!), statusIntervalMs: 0, server: { ...DEFAULT_RUN_CONFIG.server, listen: null, gcs: [] }, recording: null };
let turn = 0;
const reload = async (): Promise<RunConfig> => ({
  ...base,
  policy: loadPolicyFile(policies[++turn % 2]!),
  links: [...links, parseEndpoint(`udp:127.0.0.2:${decoy.address().port}`)],
});
const quiet = () => {};
const running = await startGateway(base, quiet, reload);
running.gateway.gate.watchPolicy(() => {
  // Synchronously, as the new policy takes force: what reaches 127.0.0.3 after this marker was sent after it.
  pending.push(turn % 2 === 1);
  marker.send(MARKER, second.address().port, '127.0.0.3');
});
let reloads = 0;
const timer = reloadMs > 0 ? setInterval(() => {
  reloads++;
  process.kill(process.pid, 'SIGHUP');
}, reloadMs) : null;

process.once('SIGTERM', () => {
  if (timer) clearInterval(timer);
  appendFileSync(reportPath, `${JSON.stringify({ reloadMs, reloads, whileRefused, whileApproved, decoyBytes, at: new Date().toISOString() })}\n`);
  void running.stop().finally(() => process.exit(0));
});
