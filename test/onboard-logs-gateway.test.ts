/**
 * Onboard logs through a running gateway: downloaded by the gateway for a client whose
 * role may (admin), refused for an observer and a pilot, and LOG_DATA delivered only to
 * the client that asked for it (never to the others, such as the dashboard's socket).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startGateway, type RunningGateway } from '../src/cli/run.js';
import { DEFAULT_RUN_CONFIG } from '../src/cli/run-config.js';
import { FrameEncoder } from '../src/mavlink/index.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken } from '../src/server/tokens.js';
import { SIM_LOG_SHA256 } from '../src/sim/onboard-logs.js';
import type { SimLink } from '../src/sim/sim-link.js';
import { runMavgate } from './helpers/cli.js';
import { Client } from './helpers/clients.js';
import { registry } from './helpers/frames.js';
import { until, waitFor } from './helpers/wait.js';

describe('onboard logs through a running gateway', () => {
  const data = mkdtempSync(join(tmpdir(), 'mavgate-gw-logs-'));
  const tokens = { admin: generateToken(), alice: generateToken(), screen: generateToken() };
  let running: RunningGateway;
  let base: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    const policy = parsePolicy({ site: 'field-3', jurisdiction: 'EU/FR', approved_sinks: { directories: [data] } }, 'test policy');
    const roles = { admin: 'admin', alice: 'pilot', screen: 'observer' } as const;
    running = await startGateway({
      ...DEFAULT_RUN_CONFIG,
      links: [{ kind: 'sim', text: 'sim' }],
      policy,
      statusIntervalMs: 0,
      recording: null,
      server: {
        ...DEFAULT_SERVER,
        listen: { host: '127.0.0.1', port: 0 },
        tokens: Object.entries(tokens).map(([name, token]) => ({ name, role: roles[name as keyof typeof roles], sha256: hashToken(token), sources: DEFAULT_SOURCES })),
      },
    }, () => {});
    base = running.clients!.server!.url;
    await until(() => running.gateway.state.vehicles().length > 0, 'the simulated vehicle heard', 10_000);
  }, 20_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    await running?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  const vehicle = () => (running.gateway.links[0]!.link as SimLink).vehicle;
  const http = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const connect = async (path: string, token: string) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}${path}`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new Client(ws);
    clients.push(client);
    return client;
  };

  it('refuses an observer and a pilot: nothing is asked of the vehicle, and the refusal is audited', async () => {
    const list = await http('GET', '/v1/logs/vehicles/1', tokens.screen);
    expect(list.status).toBe(403);
    expect(list.body.error).toMatch(/observers receive telemetry only/);
    const download = await http('POST', '/v1/logs/downloads', tokens.alice, { sysid: 1, logs: [1] });
    expect(download.status).toBe(403);
    expect(download.body.error).toBe('a pilot may not send LOG_REQUEST_DATA (admin only)');
    expect(vehicle().received.has('LOG_REQUEST_LIST')).toBe(false);
    expect(vehicle().received.has('LOG_REQUEST_DATA')).toBe(false);
    const cli = await runMavgate(['logs', 'download', '1', '--gateway', base, '--token', tokens.screen]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/the gateway refuses: observers receive telemetry only/);
    const audit = readFileSync(join(data, 'audit', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"event":"client_refused_message".*"message":"LOG_REQUEST_DATA"/);
  });

  it('connects only to a gateway whose address the policy approves (the decoy 127.0.0.2 is refused, exit 3)', async () => {
    const policy = join(data, 'only-127.0.0.1.yaml');
    writeFileSync(policy, 'approved_sinks:\n  networks: [{ cidr: 127.0.0.1/32 }]\n');
    const run = await runMavgate(['logs', 'list', '--gateway', 'http://127.0.0.2:8088', '--token', tokens.admin, '--policy', policy]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/residency policy refuses --gateway: tcp:127\.0\.0\.2:8088 \(127\.0\.0\.2\): 127\.0\.0\.2 \(loopback\) is in no approved network/);
  });

  it('downloads for an admin with `mavgate logs download`, into the gateway\'s approved logs directory, audited', async () => {
    const run = await runMavgate(['logs', 'download', '2', '--gateway', base, '--token', tokens.admin]);
    expect(run.code, run.stderr).toBe(0);
    const file = join(data, 'logs', 'field-3_sys1_log2_20260702T070000Z.bin');
    expect(run.stdout).toContain(`${file}  183000 bytes  sha256 ${SIM_LOG_SHA256[2]}`);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(SIM_LOG_SHA256[2]);
    const listed = await runMavgate(['logs', 'list', '--gateway', base, '--token', tokens.admin]);
    expect(listed.stdout).toMatch(/\n {3}1 {5}4\.3 kB {2}2026-07-02T06:00:00Z/);
    expect(listed.stdout).toMatch(/\n {3}2 {3}183\.0 kB {2}2026-07-02T07:00:00Z {2}downloaded: field-3_sys1_log2_20260702T070000Z\.bin/);
    const files = await http('GET', '/v1/logs', tokens.screen);
    expect(files.body.files).toEqual([expect.objectContaining({ file: 'field-3_sys1_log2_20260702T070000Z.bin', sha256: SIM_LOG_SHA256[2], site: 'field-3' })]);
    const audit = readFileSync(join(data, 'audit', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"event":"onboard_log_downloaded","details":\{"sysid":1,"log_id":2,.*"by":"admin","file":"field-3_sys1_log2_20260702T070000Z\.bin"/);
  }, 30_000);

  it('downloads again after the logs directory was removed while the gateway runs: recreated where the policy approves it', async () => {
    expect((await runMavgate(['logs', 'download', '2', '--gateway', base, '--token', tokens.admin])).code).toBe(0);
    rmSync(join(data, 'logs'), { recursive: true, force: true });
    const listed = await http('GET', '/v1/logs', tokens.admin);
    expect(listed.body.files).toEqual([]);
    // Before the fix the job stayed "queued" and the command followed it forever.
    const run = await runMavgate(['logs', 'download', '2', '--gateway', base, '--token', tokens.admin]);
    expect(run.code, run.stderr).toBe(0);
    const file = join(data, 'logs', 'field-3_sys1_log2_20260702T070000Z.bin');
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(SIM_LOG_SHA256[2]);
  }, 30_000);

  it('gives LOG_DATA only to the client that asked; the others (the dashboard\'s socket) keep their telemetry', async () => {
    const asker = await connect('/v1/ws/raw', tokens.admin);
    const bystander = await connect('/v1/ws/raw', tokens.screen);
    const dashboard = await connect('/v1/ws/mavlink', tokens.screen);
    let askerData = 0;
    let bystanderData = 0;
    let dashboardData = 0;
    asker.frames$.subscribe((f) => f.name === 'LOG_DATA' && askerData++);
    bystander.frames$.subscribe((f) => f.name === 'LOG_DATA' && bystanderData++);
    dashboard.messages$.subscribe((m) => 'text' in m && m.text.includes('"LOG_DATA"') && dashboardData++);

    const encoder = new FrameEncoder(registry);
    const last = asker.frame('LOG_DATA', (f) => Number(f.count) < 90, 15_000);
    asker.ws.send(encoder.encode({ name: 'LOG_REQUEST_DATA', fields: { target_system: 1, target_component: 1, id: 2, ofs: 0, count: 0xffffffff } }, { sysid: 255, compid: 190 }));
    await last;
    expect(askerData).toBeGreaterThanOrEqual(Math.ceil(183_000 / 90));
    await waitFor(bystander.frames$, (f) => f.name === 'HEARTBEAT', 'a HEARTBEAT to the bystander after the download', 5000);
    await waitFor(dashboard.messages$, (m) => 'text' in m && m.text.includes('"HEARTBEAT"'), 'a HEARTBEAT to the dashboard', 5000);
    expect(bystanderData).toBe(0);
    expect(dashboardData).toBe(0);

    // The gateway's own download (asked for through the API) goes to no client at all.
    asker.ws.send(encoder.encode({ name: 'LOG_REQUEST_END', fields: { target_system: 1, target_component: 1 } }, { sysid: 255, compid: 190 }));
    const before = askerData;
    const started = await http('POST', '/v1/logs/downloads', tokens.admin, { sysid: 1, logs: [1] });
    expect(started.status).toBe(202);
    const job = (started.body.downloads as { job: string }[])[0]!.job;
    // Each poll is a request to the server: no fixed wait in between.
    const deadline = Date.now() + 10_000;
    let state = '';
    while (state !== 'done' && state !== 'failed' && Date.now() < deadline) {
      const jobs = (await http('GET', '/v1/logs/downloads', tokens.screen)).body.downloads as { job: string; state: string }[];
      state = jobs.find((j) => j.job === job)!.state;
    }
    expect(state).toBe('done');
    expect(askerData).toBe(before);
    expect(bystanderData).toBe(0);
    expect(dashboardData).toBe(0);
  }, 30_000);
});
