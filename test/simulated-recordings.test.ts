/**
 * A recording of the built-in simulator stays labelled as one wherever it goes next: its
 * post-flight report says SIMULATED, and replaying it warns and prefixes the status lines
 * as `mavgate run` on the simulator does. The label read is the sidecar's.
 */
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReport } from '../src/cli/report.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { MavgateProcess } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-simulated-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policy = parsePolicy({ approved_sinks: { directories: [dir] } }, 'simulated test policy');

/** A recording made by `mavgate run` of the simulator, renamed so that only its sidecar says simulated. */
let recording = '';
beforeAll(async () => {
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, `approved_sinks:\n  directories: [${dir}]\n`);
  const rec = join(dir, 'rec');
  const gw = MavgateProcess.start(['run', '--policy', policyPath, '--link', 'sim', '--record', rec, '--status-interval', '0', '--no-server'], false);
  await gw.waitFor(/recording the SIMULATED vehicle/);
  expect(await gw.stop('SIGINT')).toBe(0);
  const made = join(rec, readdirSync(rec).find((f) => f.endsWith('_SIMULATED.tlog'))!);
  expect(JSON.parse(readFileSync(`${made}.json`, 'utf8')).simulated).toBe(true);
  recording = join(rec, 'flight.tlog');
  renameSync(made, recording);
  renameSync(`${made}.json`, `${recording}.json`);
}, 30_000);

describe('a recording of the simulator', () => {
  it('has its post-flight report say SIMULATED, from the sidecar', async () => {
    const out = join(dir, 'report.html');
    await runReport({ input: recording, key: null, out, policy, progress: false });
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<title>SIMULATED Flight report: flight.tlog</title>');
    expect(html).toMatch(/<p class="simulated" id="simulated">SIMULATED: this recording is of mavgate&#39;s built-in simulated vehicle/);
    expect(html).toContain('<tr data-figure="simulated" data-value="true">');
  });

  it('a recording whose sidecar does not say simulated gets no such label', async () => {
    const real = join(dir, 'real.tlog');
    writeFileSync(real, readFileSync(recording));
    writeFileSync(`${real}.json`, JSON.stringify({ site: 'x' }));
    const out = join(dir, 'real.html');
    await runReport({ input: real, key: null, out, policy, progress: false });
    const html = readFileSync(out, 'utf8');
    expect(html).not.toContain('id="simulated"');
    expect(html).toContain('<tr data-figure="simulated" data-value="false">');
  });

  it('warns when replayed, and each status line starts SIMULATED |', async () => {
    const replay = MavgateProcess.start(['replay', recording, '--loop', '--status-interval', '100', '--no-server']);
    try {
      await replay.waitFor(/SIMULATED VEHICLE: \S*flight\.tlog is a recording of mavgate's built-in simulator/);
      await replay.waitFor(/info\s+SIMULATED \| vehicles: /);
      expect(replay.stderr).not.toMatch(/info\s+vehicles: /);
    } finally {
      await replay.stop('SIGINT');
    }
  });
});
