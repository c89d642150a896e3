/**
 * The residency policy, the gate's verdicts (pure functions: public and private addresses
 * are judged, never contacted), grants, and refusals end to end against a decoy listener
 * on an unapproved loopback address.
 */
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLink } from '../src/links/create-link.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { EgressGate, type Grant, ResidencyRefusal } from '../src/residency/gate.js';
import { PolicyError } from '../src/residency/policy.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { judgeDestination, judgeListener } from '../src/residency/verdicts.js';
import { verifyAuditLog } from '../src/residency/audit-verify.js';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-residency-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lan = parsePolicy({
  site: 'field-team-3',
  approved_sinks: {
    directories: [join(dir, 'data')],
    networks: [{ cidr: '127.0.0.1/32' }, { cidr: '192.168.10.0/24', ports: [14550, 14551] }, { cidr: 'fd00:10::/64' }],
  },
  listen: ['127.0.0.1/32', '192.168.10.5'],
}, 'lan policy');

describe('residency policy', () => {
  it('defaults to loopback and the data directory only', () => {
    const p = parsePolicy({}, 'defaults', '/srv');
    expect(p.networks.map((n) => n.cidr)).toEqual(['127.0.0.0/8', '::1/128']);
    expect(p.directories.map((d) => d.path)).toEqual(['/srv/mavgate-data']);
    expect(p.listen.map((l) => l.cidr)).toEqual(['127.0.0.0/8', '::1/128']);
    expect(p.auditDirectory).toBe('/srv/mavgate-data/audit');
    expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    [{ approved_sinks: { networks: [{ cidr: '10.0.0.0/33' }] } }, 'approved_sinks.networks[0]', /not an address or CIDR/],
    [{ approved_sinks: { networks: [{ cidr: '0.0.0.0/0' }] } }, 'approved_sinks.networks[0]', /approves every address/],
    [{ approved_sinks: { networks: [{ cidr: '10.0.0.0/8', ports: [70000] }] } }, 'approved_sinks.networks[0].ports[0]', /<=65535/],
    [{ site: 'team 3' }, 'site', /letters, digits/],
    [{ listen: ['::/0'] }, 'listen[0]', /approves every address/],
    [{ sinks: [] }, '', /Unrecognized key: "sinks"/],
  ])('refuses %j naming the key', (doc, key, reason) => {
    let error: PolicyError | undefined;
    try {
      parsePolicy(doc, 'p.yaml');
    } catch (e) {
      error = e as PolicyError;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect(error!.key).toBe(key);
    expect(error!.message).toMatch(reason);
  });
});

describe('verdicts (pure: nothing is contacted)', () => {
  it('refuses public and unapproved private destinations, naming the rule', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888', '10.0.0.5', '172.16.3.4', '192.168.11.1', '127.0.0.2']) {
      const v = judgeDestination(lan, address, 14550);
      expect(v.approved, address).toBe(false);
    }
    expect(judgeDestination(lan, '8.8.8.8', 53)).toMatchObject({ approved: false, rule: 'approved_sinks.networks', reason: '8.8.8.8 (unicast) is in no approved network' });
  });

  it('approves destinations inside an approved network, on its ports', () => {
    expect(judgeDestination(lan, '192.168.10.20', 14550)).toEqual({ approved: true, rule: 'approved_sinks.networks[1] (192.168.10.0/24 ports 14550,14551)' });
    expect(judgeDestination(lan, '192.168.10.20', 5760)).toMatchObject({ approved: false, rule: 'approved_sinks.networks[1]', reason: expect.stringMatching(/port 5760/) });
    expect(judgeDestination(lan, '127.0.0.1', 9)).toMatchObject({ approved: true });
    expect(judgeDestination(lan, 'fd00:10::7', 14550)).toMatchObject({ approved: true });
    // An IPv4-mapped IPv6 address is judged as the IPv4 address it is.
    expect(judgeDestination(lan, '::ffff:192.168.10.20', 14550)).toMatchObject({ approved: true });
    expect(judgeDestination(lan, '::ffff:8.8.8.8', 14550)).toMatchObject({ approved: false });
  });

  it('refuses wildcard and broadcast destinations unless approved exactly', () => {
    expect(judgeDestination(lan, '0.0.0.0', 14550)).toMatchObject({ approved: false, rule: 'wildcard' });
    expect(judgeDestination(lan, '192.168.10.255', 14550)).toMatchObject({ approved: true }); // a host address inside the /24 as far as the policy knows
    expect(judgeDestination(lan, '255.255.255.255', 14550)).toMatchObject({ approved: false, rule: 'broadcast' });
    expect(judgeDestination(lan, 'not-an-ip', 1)).toMatchObject({ approved: false });
  });

  it('lets mavgate listen only on approved addresses; every interface only when listed literally', () => {
    expect(judgeListener(lan, '127.0.0.1')).toMatchObject({ approved: true });
    expect(judgeListener(lan, '192.168.10.5')).toMatchObject({ approved: true });
    expect(judgeListener(lan, '192.168.10.6')).toMatchObject({ approved: false });
    expect(judgeListener(lan, '0.0.0.0')).toMatchObject({ approved: false, reason: expect.stringMatching(/list "0.0.0.0" under listen/) });
    expect(judgeListener(parsePolicy({ listen: ['0.0.0.0'] }, 'p'), '0.0.0.0')).toMatchObject({ approved: true });
  });
});

describe('EgressGate', () => {
  const resolver = (table: Record<string, string[]>) => async (host: string) => {
    if (!(host in table)) throw new Error('ENOTFOUND');
    return table[host]!;
  };

  it('resolves a host name once, checks every address, and grants the checked address', async () => {
    const gate = new EgressGate(lan, resolver({ 'gcs.lan': ['192.168.10.20'], 'mixed.lan': ['192.168.10.21', '203.0.113.9'] }));
    const grant = await gate.grantConnect('links[0]', 'udp', 'gcs.lan', 14550);
    expect(grant).toMatchObject({ kind: 'connect', host: 'gcs.lan', address: '192.168.10.20', port: 14550 });
    await expect(gate.grantConnect('links[1]', 'udp', 'mixed.lan', 14550)).rejects.toThrow(/203\.0\.113\.9.*in no approved network/);
    await expect(gate.grantConnect('links[2]', 'tcp', 'nowhere.lan', 14550)).rejects.toThrow(/cannot resolve nowhere.lan/);
  });

  it('refuses with the config entry, the destination and the rule', async () => {
    const gate = new EgressGate(lan);
    const refusal = await gate.grantConnect('links[3] udp:8.8.8.8:14550', 'udp', '8.8.8.8', 14550).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(ResidencyRefusal);
    expect((refusal as ResidencyRefusal).message).toBe(
      'residency policy refuses links[3] udp:8.8.8.8:14550: udp:8.8.8.8:14550 (8.8.8.8): 8.8.8.8 (unicast) is in no approved network (rule: approved_sinks.networks)',
    );
    expect((refusal as ResidencyRefusal).exitCode).toBe(3);
    // An IPv6 destination is written as an endpoint writes it, in brackets.
    const wildcard = await gate.grantListen('links[4] udp-listen:[::]:14610', 'udp', '::', 14610).catch((e: unknown) => e);
    expect((wildcard as ResidencyRefusal).message).toMatch(/^residency policy refuses links\[4\] udp-listen:\[::\]:14610: udp-listen:\[::\]:14610: :: listens on every interface/);
  });

  it('grants directories by real path: refuses a symlink pointing out, and `..` escapes', () => {
    const data = join(dir, 'data');
    mkdirSync(data, { recursive: true });
    const gate = new EgressGate(lan);
    expect(gate.grantDirectory('recordings', join(data, 'recordings')).path).toBe(resolve(data, 'recordings'));
    symlinkSync(tmpdir(), join(data, 'escape'));
    expect(() => gate.grantDirectory('exports', join(data, 'escape', 'x'))).toThrow(/outside every approved directory/);
    expect(() => gate.grantDirectory('exports', join(data, '..', 'elsewhere'))).toThrow(ResidencyRefusal);
  });

  it('makes links only from its own grants: a forged grant is refused at run time', () => {
    const forged = { kind: 'connect', protocol: 'udp', host: '8.8.8.8', address: '8.8.8.8', port: 14550, rule: 'forged', entry: 'x' } as unknown as Grant;
    expect(() => createLink('x', parseEndpoint('udp:8.8.8.8:14550') as never, forged)).toThrow(/not a connect grant from the egress gate/);
  });
});

/** A decoy "cloud" on an unapproved loopback address: it must see no byte and no connection. */
async function decoy() {
  const udp = createSocket('udp4');
  let udpBytes = 0;
  udp.on('message', (m) => (udpBytes += m.length));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.2', r));
  let tcpConnections = 0;
  const tcp = createServer(() => tcpConnections++);
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.2', r));
  return {
    udpPort: udp.address().port,
    tcpPort: (tcp.address() as { port: number }).port,
    counts: () => ({ udpBytes, tcpConnections }),
    close: async () => {
      udp.close();
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

describe('refusals end to end (decoy on 127.0.0.2)', () => {
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, `site: bench-test\napproved_sinks:\n  directories: [data]\n  networks:\n    - cidr: 127.0.0.1/32\nlisten: [127.0.0.1/32]\n`);

  it('exits 3 naming the entry, destination and rule; the decoy sees nothing; the refusal is audited', async () => {
    const cloud = await decoy();
    try {
      const udp = await runMavgate(['run', '--policy', policyPath, '--link', 'sim', '--link', `udp:127.0.0.2:${cloud.udpPort}`]);
      expect(udp.code).toBe(3);
      expect(udp.stderr).toMatch(new RegExp(`residency policy refuses links\\[1\\] udp:127\\.0\\.0\\.2:${cloud.udpPort}: .*127\\.0\\.0\\.2 \\(loopback\\) is in no approved network \\(rule: approved_sinks\\.networks\\)`));
      const tcp = await runMavgate(['run', '--policy', policyPath, '--link', `tcp:127.0.0.2:${cloud.tcpPort}`]);
      expect(tcp.code).toBe(3);
      const listen = await runMavgate(['run', '--policy', policyPath, '--link', 'udp-listen:0.0.0.0:0']);
      expect(listen.code).toBe(3);
      expect(listen.stderr).toMatch(/listens on every interface/);
      expect(cloud.counts()).toEqual({ udpBytes: 0, tcpConnections: 0 });

      const auditPath = join(dir, 'data', 'audit', 'audit.jsonl');
      const events = readFileSync(auditPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(events.filter((e) => e.event === 'refused').map((e) => e.details.destination)).toEqual([
        `udp:127.0.0.2:${cloud.udpPort} (127.0.0.2)`, `tcp:127.0.0.2:${cloud.tcpPort} (127.0.0.2)`, 'udp-listen:0.0.0.0:0',
      ]);
      expect(verifyAuditLog(auditPath)).toMatchObject({ ok: true });
    } finally {
      await cloud.close();
    }
  });

  it('refuses a policy error with exit 2, naming the key', async () => {
    const bad = join(dir, 'bad-policy.yaml');
    writeFileSync(bad, 'approved_sinks:\n  networks:\n    - cidr: 0.0.0.0/0\n');
    const run = await runMavgate(['run', '--policy', bad]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/approved_sinks\.networks\[0\]: "0\.0\.0\.0\/0" approves every address/);
  });

  it('says a missing policy file is missing, in words', async () => {
    const missing = join(dir, 'no-policy.yaml');
    expect(await runMavgate(['run', '--policy', missing])).toMatchObject({ code: 2, stderr: `mavgate: residency policy ${missing}: cannot read: no such file\n` });
  });

  it('audits an approved run: policy, grants, link states; prints the chain head at shutdown; the log verifies', async () => {
    const gw = MavgateProcess.start(['run', '--policy', policyPath, '--status-interval', '0']);
    await gw.waitFor(/system 1\/1: heartbeat/);
    expect(await gw.stop()).toBe(0);
    const head = /audit log (\S+): chain head seq (\d+) ([0-9a-f]{64})/.exec(gw.stderr)!;
    expect(head).not.toBeNull();
    const result = verifyAuditLog(head[1]!);
    expect(result).toMatchObject({ ok: true, head: { seq: Number(head[2]), hash: head[3] } });
    const events = readFileSync(head[1]!, 'utf8').trim().split('\n').map((l) => JSON.parse(l).event);
    expect(events).toEqual(expect.arrayContaining(['policy_loaded', 'granted', 'link_state']));
  });
});

describe('source scan: only the modules that take grants open sockets, devices or files', () => {
  const SRC = resolve(import.meta.dirname, '../src');
  /** The modules allowed to use each API, and why. */
  const ALLOWED: [RegExp, string[]][] = [
    [/from 'node:(net|dgram|http|https|tls)'|from '(ws|serialport|mqtt)'|import\('serialport'\)/, ['links/udp-link.ts', 'links/datagram-socket.ts', 'links/tcp-link.ts', 'links/serial-link.ts', 'links/ports.ts', 'server/http-server.ts', 'server/gcs-endpoints.ts', 'sinks/mqtt-sink.ts', 'links/fleet-link.ts']],
    [/\b(writeFileSync|writeFile|appendFile|appendFileSync|createWriteStream|writeSync|mkdirSync|mkdir|renameSync|rename|openSync|copyFile|symlink)\b/, ['residency/audit-log.ts', 'residency/gate.ts', 'sinks/files.ts', 'server/tls-directory.ts', 'cli/token.ts', 'cli/key.ts']],
    // Native code can open anything: only the UDP socket module loads it (native/udp, sockets only).
    [/\.node['"`]|process\.dlopen/, ['links/datagram-socket.ts']],
  ];

  function files(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  }

  it('finds socket and file-write APIs nowhere else in src/', () => {
    const offenders: string[] = [];
    for (const file of files(SRC)) {
      const rel = relative(SRC, file);
      const text = readFileSync(file, 'utf8');
      for (const [pattern, allowed] of ALLOWED) {
        // Comments and type-only imports open nothing.
        const line = text.split('\n').findIndex((l) => pattern.test(l) && !/^(\*|\/\/|import type )/.test(l.trim()));
        if (line >= 0 && !allowed.includes(rel)) offenders.push(`${rel}:${line + 1}: ${text.split('\n')[line]!.trim()}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('would catch a module that sneaks a socket in', () => {
    const [pattern] = ALLOWED[0]!;
    expect(pattern.test("import { createSocket } from 'node:dgram';")).toBe(true);
    expect(ALLOWED[1]![0].test('writeFileSync(path, data)')).toBe(true);
    expect(ALLOWED[2]![0].test("const addon = createRequire(import.meta.url)('./x.node');")).toBe(true);
    expect(ALLOWED[2]![0].test('process.dlopen(module, path)')).toBe(true);
  });

  it('lets only the modules that take UDP grants (links, ground-station endpoints) use the UDP socket module', () => {
    const importers = files(SRC)
      .filter((file) => /from '\.\/datagram-socket\.js'|from '\.\.\/links\/datagram-socket\.js'/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(SRC, file));
    expect(importers.sort()).toEqual(['links/udp-link.ts', 'server/gcs-endpoints.ts']);
  });
});

describe('mavgate residency report', () => {
  it('lists the policy, each destination with what it received by class, and every refusal; the log verifies', async () => {
    const home = mkdtempSync(join(dir, 'report-'));
    const policyPath = join(home, 'policy.yaml');
    writeFileSync(policyPath, 'site: report-test\njurisdiction: EU\napproved_sinks:\n  directories: [data]\n  networks: [{ cidr: 127.0.0.1/32 }]\nrules:\n  - to: 127.0.0.1/32\n    classes: [health]\n');
    const sink = createSocket('udp4');
    let received = 0;
    sink.on('message', () => received++);
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    try {
      const gw = MavgateProcess.start(['run', '--policy', policyPath, '--link', 'sim', '--link', `udp:127.0.0.1:${sink.address().port}`, '--status-interval', '0']);
      await gw.waitFor(/system 1\/1: heartbeat/);
      const { until } = await import('./helpers/wait.js');
      await until(() => received >= 10, 'health frames at the approved destination');
      expect(await gw.stop()).toBe(0);
      const refused = await runMavgate(['run', '--policy', policyPath, '--link', 'udp:127.0.0.2:14550']);
      expect(refused.code).toBe(3);

      const report = await runMavgate(['residency', 'report', '--policy', policyPath]);
      expect(report.code).toBe(0);
      expect(report.stdout).toMatch(/Audit log verified: \d+ records/);
      expect(report.stdout).toMatch(/site report-test, jurisdiction EU, sha256 [0-9a-f]{64}/);
      expect(report.stdout).toMatch(new RegExp(`links\\[1\\] udp:127\\.0\\.0\\.1:${sink.address().port} → udp:127\\.0\\.0\\.1:\\d+ \\(approved by approved_sinks\\.networks\\[0\\] \\(127\\.0\\.0\\.1/32\\)\\)\\n\\s+health\\s+\\d+ frames`));
      expect(report.stdout).toMatch(/withheld by its rule: \d+ frames/);
      const block = report.stdout.slice(report.stdout.indexOf('links[1] udp:'), report.stdout.indexOf('Refusals:'));
      expect(block).not.toMatch(/position/);
      expect(report.stdout).toMatch(/Refusals: 1\n.*links\[0\] udp:127\.0\.0\.2:14550 → udp:127\.0\.0\.2:14550 \(127\.0\.0\.2\): 127\.0\.0\.2 \(loopback\) is in no approved network/);

      const later = await runMavgate(['residency', 'report', '--policy', policyPath, '--since', '2999-01-01']);
      expect(later.stdout).toMatch(/No records in the period/);
      const badSince = await runMavgate(['residency', 'report', '--policy', policyPath, '--since', 'yesterday-ish']);
      expect(badSince.code).toBe(2);
    } finally {
      sink.close();
    }
  });
});

describe('the residency report of a run with a REST client, stopped cleanly', () => {
  it('lists the REST client with what it was sent, the server as sending nothing itself, and says each client once', async () => {
    const home = mkdtempSync(join(dir, 'rest-report-'));
    const policyPath = join(home, 'policy.yaml');
    writeFileSync(policyPath, 'site: rest-report\napproved_sinks:\n  directories: [data]\n');
    const gw = MavgateProcess.start(['run', '--policy', policyPath, '--link', 'sim', '--status-interval', '0']);
    await gw.waitFor(/system 1\/1: heartbeat/);
    await gw.waitFor(/dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    const base = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(gw.stderr)![1]!;
    const url = `${base}/v1/mavlink/vehicles/1/components/1/messages/GLOBAL_POSITION_INT`;
    // Asked until the vehicle has reported one (a 404 before that sends nothing).
    const deadline = Date.now() + 5000;
    let position: { message?: { lat?: number } } = {};
    while (typeof position.message?.lat !== 'number') {
      if (Date.now() > deadline) throw new Error('timed out waiting for a position over REST');
      const res = await fetch(url);
      position = res.ok ? await res.json() as typeof position : {};
    }
    const ws = new (await import('ws')).WebSocket(`${base.replace('http', 'ws')}/v1/ws/mavlink`);
    await new Promise((r) => ws.once('message', r));
    expect(await gw.stop('SIGINT')).toBe(0);
    ws.terminate();

    const report = await runMavgate(['residency', 'report', '--policy', policyPath]);
    expect(report.code).toBe(0);
    expect(report.stdout).not.toMatch(/ended without a clean stop/);
    expect(report.stdout).toMatch(/server\.listen → tcp-listen:127\.0\.0\.1:\d+ \(approved by [^\n]*\)\n\s+sends nothing itself; 2 client\(s\) came through it[^\n]*client1, client2/);
    // The REST client received the one position it asked for (each GET that found none sent nothing).
    expect(report.stdout).toMatch(/\n  client\d+ rest anonymous \(observer\) from 127\.0\.0\.1:\d+\n\s+position\s+1 frames/);
    const wsLine = /\n  (client\d+ ws-json [^\n]*)\n/.exec(report.stdout)![1]!;
    expect(wsLine).toMatch(/^client\d+ ws-json anonymous \(observer\) from 127\.0\.0\.1:\d+$/);
  });
});

describe('the residency report agrees with the run it was made from', () => {
  it('counts every destination the log says received data, the recording included, figure for figure', async () => {
    const home = mkdtempSync(join(dir, 'known-run-'));
    const { Gateway } = await import('../src/gateway/gateway.js');
    const { AuditLog } = await import('../src/residency/audit-log.js');
    const { Recorder, DEFAULT_RECORDER } = await import('../src/sinks/recorder.js');
    const { summarize, residencyReport } = await import('../src/residency/report.js');
    const { LoopbackPeer } = await import('./helpers/loopback.js');
    const { TlogDecoder } = await import('../src/mavlink/index.js');
    const { registry } = await import('./helpers/frames.js');
    const { until } = await import('./helpers/wait.js');
    const sink = await LoopbackPeer.open('127.0.0.1');
    const gate = new EgressGate(parsePolicy({ site: 'known', approved_sinks: { directories: [home], networks: [{ cidr: '127.0.0.1/32' }] }, rules: [{ to: '127.0.0.1/32', classes: ['health', 'position'] }] }, 'known run'));
    const auditGrant = gate.grantDirectory('audit.directory', join(home, 'audit'));
    const audit = new AuditLog(auditGrant);
    gate.attachAudit(audit, auditGrant);
    const gateway = new Gateway({ links: [parseEndpoint('sim'), parseEndpoint(`udp:127.0.0.1:${sink.port}`)], gate, sim: { rate: 20 } });
    await gateway.start();
    const recorder = new Recorder(gate.grantDirectory('recording.directory', join(home, 'rec')), { site: 'known', jurisdiction: 'x', policySha256: gate.policy.sha256, gatewayVersion: 't' },
      gateway.registry, gateway.state, { ...DEFAULT_RECORDER, flushIntervalMs: 50 }, { audit: (e, d) => gate.record(e, d), log: () => {} });
    gateway.router.onFrame((frame, from) => recorder.observe(frame, from.endpoint.role === 'link'));
    await until(() => sink.frames.length > 100, 'telemetry at the UDP destination');
    await gateway.stop();
    await recorder.close();
    audit.close();
    await sink.sync();
    await sink.close();

    // Independently: what arrived at the destination, and what the recording file holds.
    const recordingFile = readdirSync(join(home, 'rec')).find((f) => f.endsWith('.tlog'))!;
    const fileBytes = readFileSync(join(home, 'rec', recordingFile));
    let recordedFrames = 0;
    const tlog = new TlogDecoder(registry, () => recordedFrames++);
    tlog.push(fileBytes);
    tlog.end();
    const records = readFileSync(audit.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const summary = summarize(records);
    const link = summary.destinations.find((d) => d.entry.startsWith('links[1]'))!;
    const total = (classes: Map<string, { frames: number; bytes: number }>) => [...classes.values()].reduce((t, c) => ({ frames: t.frames + c.frames, bytes: t.bytes + c.bytes }), { frames: 0, bytes: 0 });
    expect(total(link.classes!)).toEqual({ frames: sink.frames.length, bytes: sink.bytes });
    expect([...link.classes!.keys()].sort()).toEqual(['health', 'position']);
    expect(link.approvedBy).toMatch(/approved_sinks\.networks\[0\]/);
    const recording = summary.destinations.find((d) => d.entry === 'recording.directory')!;
    expect(recording.recordings).toEqual([{ file: recordingFile, frames: recordedFrames, bytes: fileBytes.length, unwritten: 0 }]);

    const text = residencyReport(audit.path);
    expect(text).toMatch(/Audit log verified/);
    expect(text).toContain(`recordings    1 file(s) ${String(recordedFrames).padStart(9)} frames`);
    expect(text).not.toMatch(/recording\.directory[^\n]*\n\s+nothing sent/);
  });
});

describe('listener peers are destinations too', () => {
  const policy = { approved_sinks: { networks: [{ cidr: '127.0.0.1/32' }] }, listen: ['127.0.0.1/32'] };

  it('udp-listen neither hears nor answers a peer the policy does not approve (127.0.0.2), and audits it once', async () => {
    const { gateFor } = await import('./helpers/gate.js');
    const { grantedLink } = await import('../src/links/create-link.js');
    const gate = gateFor(policy);
    const link = (await grantedLink(gate, 'l', parseEndpoint('udp-listen:127.0.0.1:0') as never, 'links[0]')) as import('../src/links/udp-link.js').UdpLink;
    const heard: string[] = [];
    link.data$.subscribe((c) => heard.push(c.toString()));
    await link.open();
    const stranger = createSocket('udp4');
    let strangerGot = 0;
    stranger.on('message', () => strangerGot++);
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.2', r));
    const friend = createSocket('udp4');
    await new Promise<void>((r) => friend.bind(0, '127.0.0.1', r));
    try {
      stranger.send('from the stranger', link.localPort, '127.0.0.1');
      stranger.send('again', link.localPort, '127.0.0.1');
      const { until } = await import('./helpers/wait.js');
      await until(() => link.counters.peersRefused === 2, 'the stranger refused');
      friend.send('from a friend', link.localPort, '127.0.0.1');
      await until(() => heard.length === 1, 'the friend heard');
      expect(heard).toEqual(['from a friend']);
      const reply = new Promise<Buffer>((r) => friend.once('message', r));
      link.write(Buffer.from('telemetry'));
      expect((await reply).toString()).toBe('telemetry');
      expect(strangerGot).toBe(0);
    } finally {
      stranger.close();
      friend.close();
      await link.close();
    }
  });

  it('tcp-listen disconnects a peer the policy does not approve', async () => {
    const { gateFor } = await import('./helpers/gate.js');
    const { grantedLink } = await import('../src/links/create-link.js');
    const { connect } = await import('node:net');
    const link = (await grantedLink(gateFor(policy), 't', parseEndpoint('tcp-listen:127.0.0.1:0') as never, 'links[0]')) as import('../src/links/tcp-link.js').TcpServerLink;
    await link.open();
    try {
      const stranger = connect({ host: '127.0.0.1', port: link.localPort, localAddress: '127.0.0.2' });
      let strangerGot = 0;
      stranger.on('data', () => strangerGot++);
      await new Promise<void>((r) => stranger.on('close', () => r()));
      expect(link.counters.peersRefused).toBe(1);
      link.write(Buffer.from('telemetry'));
      expect(strangerGot).toBe(0);
    } finally {
      await link.close();
    }
  });
});

describe('plug-in points for ground-control clients (issue 5)', () => {
  it('approves client networks with their roles (default: loopback, every role)', async () => {
    const { judgeClient } = await import('../src/residency/verdicts.js');
    const defaults = parsePolicy({}, 'defaults');
    expect(judgeClient(defaults, '127.0.0.1')).toMatchObject({ approved: true, roles: ['observer', 'pilot', 'admin'] });
    expect(judgeClient(defaults, '192.168.1.10')).toMatchObject({ approved: false, rule: 'client_networks' });
    const p = parsePolicy({ client_networks: [{ cidr: '192.168.10.0/24', roles: ['observer'] }] }, 'p');
    expect(judgeClient(p, '192.168.10.7')).toMatchObject({ approved: true, roles: ['observer'], rule: 'client_networks[0] (192.168.10.0/24)' });
    expect(() => parsePolicy({ client_networks: [{ cidr: '10.0.0.0/8', roles: ['captain'] }] }, 'p')).toThrow(/client_networks\[0\]\.roles\[0\]/);
  });

  it('gives each role its rule: an observer gets positions on a grid, a pilot gets them as they are', async () => {
    const { decodeAll, frame: build } = await import('./helpers/frames.js');
    const gate = new EgressGate(parsePolicy({ rules: [{ to: 'role:observer', redact: { position: { grid_m: 500 }, identity: 'drop' } }] }, 'p'));
    const { registry } = await import('./helpers/frames.js');
    const position = decodeAll(registry, build({ name: 'GLOBAL_POSITION_INT', fields: { lat: -353632620, lon: 1491652370, time_boot_ms: 5 } })).frames[0]!;
    const identity = decodeAll(registry, build({ name: 'AUTOPILOT_VERSION', fields: { uid: 123456 } })).frames[0]!;
    const observer = gate.egressForRole('observer', registry);
    const pilot = gate.egressForRole('pilot', registry);
    const coarse = observer.filter(position)!;
    const fields = decodeAll(registry, coarse).frames[0]!.decode()!;
    expect(fields.time_boot_ms).toBe(5);
    expect(fields.lat).not.toBe(-353632620);
    expect(Math.abs((fields.lat as number) - -353632620)).toBeLessThan(500 / 111_320 * 1e7);
    expect(observer.filter(identity)).toBeNull();
    expect(pilot.filter(position)).toBeUndefined(); // as it arrived
    expect(position.decode()!.lat).toBe(-353632620); // the original is untouched
    expect(() => parsePolicy({ rules: [{ to: 'role:captain' }] }, 'p')).toThrow(/rules\[0\]\.to: unknown role "captain"/);
  });
});

describe('control messages in the audit log', () => {
  it('records who sent which control message to which vehicle', async () => {
    const home = mkdtempSync(join(dir, 'control-'));
    const policy = parsePolicy({ approved_sinks: { directories: [home] } }, 'p');
    const gate = new EgressGate(policy);
    const { AuditLog } = await import('../src/residency/audit-log.js');
    const audit = new AuditLog(gate.grantDirectory('audit', join(home, 'audit')));
    gate.attachAudit(audit);
    const { Gateway } = await import('../src/gateway/gateway.js');
    const { GroundStation } = await import('./helpers/gcs.js');
    const gateway = new Gateway({ links: [parseEndpoint('sim'), parseEndpoint('udp-listen:127.0.0.1:0')], gate });
    await gateway.start();
    const gcs = await GroundStation.open((gateway.links[1]!.link as import('../src/links/udp-link.js').UdpLink).localPort);
    try {
      gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
      const ack = gcs.next('COMMAND_ACK');
      gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
      await ack;
    } finally {
      await gcs.close();
      await gateway.stop();
      audit.close();
    }
    const records = readFileSync(audit.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const control = records.filter((r) => r.event === 'control');
    expect(control).toEqual([expect.objectContaining({ details: { from: expect.stringMatching(/^links\[1\] udp-listen:127\.0\.0\.1:0$/), source: '255/190', message: 'COMMAND_LONG', target: '1/1', command: 400 } })]);
    expect(verifyAuditLog(audit.path)).toMatchObject({ ok: true });
  });
});

describe('configuration reload at run time', () => {
  it('refuses the one unapproved new link, closes a link a new policy refuses, and keeps the rest running', async () => {
    const { Gateway } = await import('../src/gateway/gateway.js');
    const { until } = await import('./helpers/wait.js');
    const cloud = await decoy();
    const sink = createSocket('udp4');
    let sinkFrames = 0;
    sink.on('message', () => sinkFrames++);
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    const approving = new EgressGate(parsePolicy({ approved_sinks: { networks: [{ cidr: '127.0.0.1/32' }] } }, 'first'));
    const gateway = new Gateway({ links: [parseEndpoint('sim'), parseEndpoint(`udp:127.0.0.1:${sink.address().port}`)], gate: approving, sim: { rate: 4 } });
    await gateway.start();
    try {
      await until(() => sinkFrames > 5, 'telemetry at the sink');
      const first = await gateway.reload([parseEndpoint('sim'), parseEndpoint(`udp:127.0.0.1:${sink.address().port}`), parseEndpoint(`udp:127.0.0.2:${cloud.udpPort}`)]);
      expect(first).toMatchObject({ added: [], removed: [], failed: [] });
      expect(first.refused).toEqual([expect.stringMatching(/refuses links\[2\] udp:127\.0\.0\.2/)]);
      const before = sinkFrames;
      await until(() => sinkFrames > before + 5, 'the approved link still flowing');

      const change = approving.applyPolicy(parsePolicy({ approved_sinks: { networks: [{ cidr: '127.0.0.3/32' }] } }, 'second'));
      expect(change.revoked.map((r) => r.message)).toEqual([expect.stringMatching(/refuses links\[1\] udp:127\.0\.0\.1/)]);
      // Off the router the moment the policy took force.
      expect(gateway.links.map((h) => h.link.endpoint.text)).toEqual(['sim']);
      const second = await gateway.reload([parseEndpoint('sim'), parseEndpoint(`udp:127.0.0.1:${sink.address().port}`)]);
      expect(second.refused).toEqual([expect.stringMatching(/refuses links\[1\] udp:127\.0\.0\.1/)]);
      expect(gateway.links.map((h) => h.link.endpoint.text)).toEqual(['sim']);
      const heartbeats = gateway.state.get(1, 1)!.message('HEARTBEAT')!.count;
      await until(() => gateway.state.get(1, 1)!.message('HEARTBEAT')!.count > heartbeats, 'the vehicle still heard');
      expect(cloud.counts()).toEqual({ udpBytes: 0, tcpConnections: 0 });
    } finally {
      await gateway.stop();
      sink.close();
      await cloud.close();
    }
  });

  it('mavgate run reloads its policy on SIGHUP and refuses what the new one does not approve', async () => {
    const home = mkdtempSync(join(dir, 'sighup-'));
    const policyPath = join(home, 'policy.yaml');
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    writeFileSync(policyPath, 'approved_sinks:\n  directories: [data]\n  networks: [{ cidr: 127.0.0.1/32 }]\n');
    const gw = MavgateProcess.start(['run', '--policy', policyPath, '--link', 'sim', '--link', `udp:127.0.0.1:${sink.address().port}`, '--status-interval', '0']);
    try {
      await gw.waitFor(/running: 2 link\(s\); SIGUSR1 prints the status, SIGHUP reloads the configuration/);
      writeFileSync(policyPath, 'approved_sinks:\n  directories: [data]\n  networks: [{ cidr: 127.0.0.3/32 }]\n');
      gw.child.kill('SIGHUP');
      await gw.waitFor(/SIGHUP: reloaded with a new policy \(1 grant\(s\) revoked\): 0 link\(s\) added, 0 removed, 1 refused, 0 failed/);
      expect(gw.stderr).toMatch(/refuses links\[1\] udp:127\.0\.0\.1/);
      writeFileSync(policyPath, 'approved_sinks: [broken');
      gw.child.kill('SIGHUP');
      await gw.waitFor(/SIGHUP: configuration not reloaded, the running one stays/);
      expect(await gw.stop()).toBe(0);
    } finally {
      sink.close();
    }
  });
});

describe('start-up refusals, each with exit code 3 and a message naming the entry', () => {
  it('refuses an unapproved host name, an audit directory outside the approved ones, and a symlink pointing out of one', async () => {
    const home = mkdtempSync(join(dir, 'startup-'));
    mkdirSync(join(home, 'data'));
    const only2 = join(home, 'only-127-0-0-2.yaml');
    writeFileSync(only2, 'approved_sinks:\n  directories: [data]\n  networks: [{ cidr: 127.0.0.2/32 }]\n');
    const hostname = await runMavgate(['run', '--policy', only2, '--link', 'udp:localhost:14550']);
    expect(hostname.code).toBe(3);
    expect(hostname.stderr).toMatch(/refuses links\[0\] udp:localhost:14550: udp:localhost:14550 \((127\.0\.0\.1|::1)\): .* is in no approved network/);

    const outside = join(home, 'outside.yaml');
    writeFileSync(outside, `approved_sinks:\n  directories: [data]\naudit:\n  directory: ${join(home, 'elsewhere')}\n`);
    const path = await runMavgate(['run', '--policy', outside]);
    expect(path.code).toBe(3);
    expect(path.stderr).toMatch(/refuses audit\.directory: .*elsewhere: .*elsewhere is outside every approved directory \(rule: approved_sinks\.directories\)/);

    symlinkSync(tmpdir(), join(home, 'data', 'escape'));
    const viaLink = join(home, 'via-link.yaml');
    writeFileSync(viaLink, `approved_sinks:\n  directories: [data]\naudit:\n  directory: data/escape/audit\n`);
    const symlink = await runMavgate(['run', '--policy', viaLink]);
    expect(symlink.code).toBe(3);
    expect(symlink.stderr).toMatch(/is outside every approved directory/);
  });
});
