/** The client server from the command line: tokens, flags, errors, a pilot flying through a running mavgate. */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { hashToken } from '../src/server/tokens.js';
import { Client, commandLong } from './helpers/clients.js';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';

let processes: MavgateProcess[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop();
  processes = [];
});

describe('mavgate token add', () => {
  it('prints the token once and keeps only its hash in the config, keeping the file\'s comments', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-token-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, '# field laptop\nstatus_interval_ms: 0\ndialects: [ardupilotmega]\n');
    const run = await runMavgate(['token', 'add', '--role', 'pilot', '--components', '190,240', '--config', config, 'alice']);
    expect(run.code).toBe(0);
    const token = run.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const text = readFileSync(config, 'utf8');
    expect(text).toContain('# field laptop');
    expect(text).toContain('dialects: [ardupilotmega]\n');
    expect(text).not.toContain(token);
    expect(parse(text).tokens).toEqual([{ name: 'alice', role: 'pilot', sha256: hashToken(token), sources: [{ system: 255, components: [190, 240] }] }]);
    const again = await runMavgate(['token', 'add', '--role', 'pilot', '--config', config, 'alice']);
    expect(again).toMatchObject({ code: 2, stderr: expect.stringMatching(/a token named "alice" exists already/) });
  });
});

describe('the README', () => {
  it('shows a client configuration that parses', async () => {
    const { parseConfig } = await import('../src/cli/config.js');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = /```yaml\n(server:[\s\S]*?)```/.exec(readme)![1]!;
    const config = parseConfig(parse(block), 'README.md');
    expect(config.server).toMatchObject({
      listen: { host: '127.0.0.1', port: 8088 }, origins: ['http://cockpit.local'], tls: null, cockpit: 'https://cockpit.local/',
      tokens: [{ name: 'alice', role: 'pilot' }, { name: 'tablet-1', role: 'pilot', expires: Date.parse('2026-11-25T21:00:00Z') }],
      gcs: [{ endpoint: { kind: 'udp', port: 14550 }, as: 'qgc' }, { endpoint: { kind: 'udp-listen', port: 14551, coalesce: false } }],
      hub: { controlMode: 'auto', rateLimit: { perSecond: 100, burst: 200 } },
    });
  });
});

describe('mavgate run with clients', () => {
  it('serves a pilot whose token is in the config: take control, arm, see the COMMAND_ACK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-run-clients-'));
    const config = join(dir, 'gateway.yaml');
    const token = (await runMavgate(['token', 'add', '--role', 'pilot', '--config', config, 'alice'])).stdout.trim();
    const gw = MavgateProcess.start(['run', '--config', config, '--status-interval', '0']);
    processes.push(gw);
    await gw.waitFor(/clients: http:\/\/127\.0\.0\.1:(\d+)\//);
    expect(gw.stderr).not.toMatch(/NO CLIENT TOKENS/);
    // With tokens the bare page is refused: the log names the URL that opens it.
    expect(gw.stderr).toMatch(/dashboard: http:\/\/127\.0\.0\.1:\d+\/\?token=TOKEN \(TOKEN: one that mavgate token add printed; the page asks for it otherwise\)/);
    // The config token add wrote has no links: the run says it is on the simulator.
    expect(gw.stderr).toMatch(/gateway\.yaml has no links: .*starting the built-in simulated vehicle/);
    const port = /clients: http:\/\/127\.0\.0\.1:(\d+)\//.exec(gw.stderr)![1];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws/mavlink?filter=COMMAND_ACK`, { headers: { authorization: `Bearer ${token}` } });
    const client = new Client(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(await client.request({ control: 'take' })).toMatch(/"holder":"alice"/);
    const ack = client.telemetry('COMMAND_ACK');
    expect(await client.request(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toMatch(/^Ok/);
    expect((await ack).message.result).toEqual({ type: 'MAV_RESULT_ACCEPTED' });
    await gw.waitFor(/control: alice \(pilot\) took control/);
    await client.close();
    expect(await gw.stop()).toBe(0);
  });

  it('exits 2 naming the problem: server port in use, a GCS endpoint that is not a network one, an unknown token name', async () => {
    const holder = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    const port = (holder.address() as { port: number }).port;
    const inUse = await runMavgate(['run', '--listen', `127.0.0.1:${port}`]);
    holder.close();
    // Called what it is to the user: the client server, not a "link".
    expect(inUse).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`^mavgate: client server 127\\.0\\.0\\.1:${port}: cannot listen: address already in use.*--listen HOST:PORT, or --no-server`, 'm')) });
    const udpHolder = createSocket('udp4');
    await new Promise<void>((resolve) => udpHolder.bind(0, '127.0.0.1', resolve));
    const udpPort = udpHolder.address().port;
    const gcsInUse = await runMavgate(['run', '--no-server', '--gcs', `udp-listen:127.0.0.1:${udpPort}`]);
    udpHolder.close();
    expect(gcsInUse).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`^mavgate: ground-station endpoint udp-listen:127\\.0\\.0\\.1:${udpPort}: cannot listen: address already in use`, 'm')) });
    const gcs = await runMavgate(['run', '--gcs', 'serial:/dev/ttyUSB0:57600']);
    expect(gcs).toMatchObject({ code: 2, stderr: expect.stringMatching(/a ground-station endpoint is udp:HOST:PORT or tcp:HOST:PORT \(a ground station that listens\), or udp-listen:HOST:PORT or tcp-listen:HOST:PORT/) });
    const as = await runMavgate(['run', '--gcs', 'udp-listen:127.0.0.1:0,as=nobody']);
    expect(as).toMatchObject({ code: 2, stderr: expect.stringMatching(/gcs\[0\]: no token named "nobody"/) });
  });

  it('exits 3 when the policy does not approve the server\'s address', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-run-listen-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'listen: [127.0.0.2/32]\napproved_sinks: { directories: [data] }\n');
    const run = await runMavgate(['run', '--policy', policy, '--listen', '127.0.0.1:0']);
    expect(run).toMatchObject({ code: 3, stderr: expect.stringMatching(/residency policy refuses server\.listen: tcp-listen:127\.0\.0\.1:0/) });
  });
});
