/**
 * Signing on real links: the simulated vehicle signing on UDP, the gateway signing what it
 * sends and requiring signatures on what it receives; injected and replayed frames reach
 * neither ground stations nor recordings; key setup; the key shown nowhere.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Gateway } from '../src/gateway/gateway.js';
import { startSim } from '../src/cli/sim.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { DEFAULT_ALLOW_UNSIGNED } from '../src/links/link-signing.js';
import type { UdpLink } from '../src/links/udp-link.js';
import type { TransportEndpoint } from '../src/links/create-link.js';
import { defaultPolicy } from '../src/residency/policy.js';
import { DEFAULT_RECORDER, Recorder } from '../src/sinks/recorder.js';
import { frame } from './helpers/frames.js';
import { gateFor } from './helpers/gate.js';
import { GroundStation } from './helpers/gcs.js';
import { LABELS, tlogFrames } from './helpers/recording.js';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';
import { freeUdpPort } from './helpers/ports.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** Gateway: a signed vehicle link (udp-listen) and a ground-station link; the simulated vehicle signing on UDP; a recorder. */
async function signedFlightDeck() {
  const key = randomBytes(32);
  const dir = mkdtempSync(join(tmpdir(), 'mavgate-signed-'));
  const gate = gateFor({ approved_sinks: { directories: [dir] } });
  const vehicleSide = { ...parseEndpoint('udp-listen:127.0.0.1:0'), signing: { key, sign: true, requireSigned: true, linkId: 3, allowUnsigned: DEFAULT_ALLOW_UNSIGNED } };
  const gateway = new Gateway({ links: [vehicleSide, parseEndpoint('udp-listen:127.0.0.1:0')], gate });
  await gateway.start();
  const audit: { event: string; details: Record<string, unknown> }[] = [];
  gate.record = (event, details) => void audit.push({ event, details });
  const recorder = new Recorder(gate.grantDirectory('rec', dir), LABELS, gateway.registry, gateway.state, { ...DEFAULT_RECORDER, flushIntervalMs: 50 }, { audit: () => {}, log: () => {} });
  gateway.router.onFrame((f, from) => recorder.observe(f, from.endpoint.role === 'link'));
  const vehiclePort = (gateway.links[0]!.link as UdpLink).localPort;
  const sim = await startSim(parseEndpoint(`udp:127.0.0.1:${vehiclePort}`) as TransportEndpoint, { signingKey: key, rate: 5 }, defaultPolicy());
  const gcs = await GroundStation.open((gateway.links[1]!.link as UdpLink).localPort);
  cleanup.push(async () => {
    await gcs.close();
    await sim.stop();
    await gateway.stop();
    await recorder.close();
  });
  gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
  return { key, dir, gateway, sim, gcs, recorder, audit, vehiclePort, signing: () => gateway.stats().links[0]!.signing! };
}

describe('a signed vehicle link', () => {
  it('runs signed both ways: the vehicle\'s telemetry verified, the ground station\'s command signed and obeyed', async () => {
    const d = await signedFlightDeck();
    const hb = await d.gcs.next('HEARTBEAT', (f) => f.autopilot === 3);
    expect(hb.bytes[2]! & 1).toBe(1); // relayed as signed by the vehicle
    const ack = d.gcs.next('COMMAND_ACK', (f) => f.command === 400);
    d.gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    expect((await ack).fields!.result).toBe(0);
    expect(d.sim.vehicle.armed).toBe(true);
    expect(d.sim.vehicle.rejectedUnsigned).toBe(0);
    expect(d.signing()).toMatchObject({ unsignedDropped: 0, badSignature: 0, replayed: 0 });
    expect(d.signing().signedAccepted).toBeGreaterThan(0);
    expect(d.signing().signedOut).toBeGreaterThan(0);
  });

  it('drops injected unsigned frames and replayed signed ones before the router: no ground station, no recording sees them', async () => {
    const d = await signedFlightDeck();
    const captured = await d.gcs.next('ATTITUDE');
    const attacker = createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => attacker.close(() => r())));
    const injected = frame({ name: 'STATUSTEXT', fields: { severity: 0, text: 'INJECTED' } }, { sysid: 1, compid: 1 });
    const radio = frame({ name: 'RADIO_STATUS', fields: { rssi: 200, remrssi: 190, txbuf: 100 } }, { sysid: 51, compid: 68 });
    attacker.send(injected, d.vehiclePort, '127.0.0.1');
    attacker.send(captured.bytes, d.vehiclePort, '127.0.0.1');
    attacker.send(radio, d.vehiclePort, '127.0.0.1');
    const radioAtGcs = await d.gcs.next('RADIO_STATUS');
    expect(radioAtGcs.bytes).toEqual(radio); // the allow-listed radio message passes unsigned
    await until(() => d.signing().unsignedDropped >= 1 && d.signing().replayed >= 1, 'the injected and replayed frames counted');
    await d.gcs.next('ATTITUDE'); // the real vehicle keeps flowing
    await d.recorder.close();
    const recorded = readdirSync(d.dir).filter((n) => n.endsWith('.tlog')).flatMap((n) => tlogFrames(join(d.dir, n)).map((f) => f.bytes));
    expect(recorded.some((b) => b.equals(injected))).toBe(false);
    expect(recorded.filter((b) => b.equals(captured.bytes))).toHaveLength(1);
    expect(d.audit.filter((a) => a.event === 'signing_rejected').map((a) => a.details.kind).sort()).toEqual(['replayed', 'unsigned']);
    expect(d.signing().unsignedAllowed).toBe(1);
  });

  it('answers only a sender whose frame verified: forged datagrams do not divert what it sends to the vehicle', async () => {
    const d = await signedFlightDeck();
    await d.gcs.next('ATTITUDE');
    // The vehicle goes quiet (its telemetry stops; it still obeys), so only the forger speaks to the gateway now.
    d.sim.vehicle.stop();
    const attacker = createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => attacker.close(() => r())));
    await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', () => r()));
    const radio = frame({ name: 'RADIO_STATUS', fields: { rssi: 200 } }, { sysid: 51, compid: 68 });
    attacker.send(Buffer.concat([frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3 } }), radio]), d.vehiclePort, '127.0.0.1');
    await d.gcs.next('RADIO_STATUS'); // the forged datagram was handled (its allow-listed radio frame relayed)
    expect((d.gateway.links[0]!.link as UdpLink).peerAddress?.port).toBe((d.sim.link as UdpLink).localPort);
    const ack = d.gcs.next('COMMAND_ACK', (f) => f.command === 400);
    d.gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    expect((await ack).fields!.result).toBe(0);
  });
});

describe('a vehicle whose signing clock is behind', () => {
  it('gets a signed frame at once, moves its clock forward, and is heard: stale frames counted apart from replays, and said in the log', async () => {
    const key = randomBytes(32);
    // Require signatures, sign nothing else, no ground station, no --heartbeat: nothing but the nudge would ever reach the vehicle.
    const vehicleSide = { ...parseEndpoint('udp-listen:127.0.0.1:0'), signing: { key, sign: false, requireSigned: true, linkId: 0, allowUnsigned: DEFAULT_ALLOW_UNSIGNED } };
    const gateway = new Gateway({ links: [vehicleSide], gate: gateFor({}) });
    const notices: string[] = [];
    gateway.events$.subscribe((e) => { if (e.type === 'notice') notices.push(`${e.level} ${e.message}`); });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const port = (gateway.links[0]!.link as UdpLink).localPort;
    // An autopilot that booted without GPS time: its signing clock ten minutes behind.
    const sim = await startSim(parseEndpoint(`udp:127.0.0.1:${port}`) as TransportEndpoint, { signingKey: key, signingClockBehindMs: 600_000, rate: 5 }, defaultPolicy());
    cleanup.push(() => sim.stop());
    await until(() => gateway.state.vehicles().length === 1, 'the vehicle heard despite its old clock', 5000);
    const counters = gateway.stats().links[0]!.signing!;
    expect(counters.staleStream).toBeGreaterThan(0);
    expect(counters.replayed).toBe(0);
    expect(counters.clockNudges).toBeGreaterThanOrEqual(1);
    expect(counters.signedOut).toBe(counters.clockNudges);
    expect(notices[0]).toMatch(/^warn link links\[0\] udp-listen:127\.0\.0\.1:0: 1\/1 signs with a clock (59\d|60\d) s behind mavgate's.*dropped as a stale stream.*sending it a signed frame/);
    await until(() => notices.some((n) => /^info .*signed frames from 1\/1 accepted again/.test(n)), 'the recovery told');
  });

  it('counts as signed out only what left the link', async () => {
    const key = randomBytes(32);
    const vehicleSide = { ...parseEndpoint('udp-listen:127.0.0.1:0'), signing: { key, sign: true, requireSigned: false, linkId: 0, allowUnsigned: DEFAULT_ALLOW_UNSIGNED } };
    const gateway = new Gateway({ links: [vehicleSide, parseEndpoint('udp-listen:127.0.0.1:0')], gate: gateFor({}) });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const gcs = await GroundStation.open((gateway.links[1]!.link as UdpLink).localPort);
    cleanup.push(() => gcs.close());
    // Nobody has spoken on the vehicle link yet: it has no peer, and what is routed to it cannot leave.
    for (let i = 0; i < 5; i++) gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
    const link = gateway.links[0]!;
    await until(() => link.link.counters.writesDropped >= 5, 'the writes dropped');
    expect(link.signing!.counters.signedOut).toBe(0);
  });
});

describe('mavgate key setup', () => {
  it('refuses a link that is not serial unless it is marked trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-keysetup-'));
    const keyPath = join(dir, 'signing.key');
    writeFileSync(keyPath, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const run = await runMavgate(['key', 'setup', '--link', 'udp:127.0.0.1:14550', '--key', keyPath]);
    expect(run).toMatchObject({ code: 2, stderr: expect.stringMatching(/only over a link you trust.*add --trusted/) });
  });

  it('gives the vehicle the key, sees it sign, and the key appears in no log, audit record, recording or API answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-keysetup-'));
    const key = randomBytes(32);
    const keyPath = join(dir, 'signing.key');
    writeFileSync(keyPath, `${key.toString('hex')}\n`, { mode: 0o600 });
    // A vehicle that does not sign yet, on UDP; key setup over UDP (trusted) gives it the key.
    const port = await freeUdpPort();
    const sim = MavgateProcess.start(['sim', '--link', `udp-listen:127.0.0.1:${port}`, '--rate', '5']);
    cleanup.push(async () => void (await sim.stop()));
    await sim.waitFor(/simulated vehicle 1\/1/);
    const setup = await runMavgate(['key', 'setup', '--link', `udp:127.0.0.1:${port}`, '--trusted', '--key', keyPath, '--timeout', '5000']);
    expect(setup).toMatchObject({ code: 0, stderr: expect.stringMatching(/vehicle 1\/1 now signs with this key/) });
    // The gateway, signing and requiring signatures, with a policy (audit log), a recording and a client.
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks: { directories: [${dir}] }\n`);
    const gw = MavgateProcess.start(['run', '--policy', join(dir, 'policy.yaml'), '--link', `udp:127.0.0.1:${port}`, '--heartbeat', '--signing-key', keyPath, '--sign', '--require-signed', '--record', join(dir, 'rec'), '--status-interval', '200']);
    cleanup.push(async () => void (await gw.stop()));
    await gw.waitFor(/clients: http:\/\/127\.0\.0\.1:(\d+)\//);
    const http = `http://127.0.0.1:${/clients: http:\/\/127\.0\.0\.1:(\d+)\//.exec(gw.stderr)![1]}`;
    const ws = new WebSocket(`${http.replace('http', 'ws')}/v1/ws/mavlink`);
    const seen: string[] = [];
    ws.on('message', (d: Buffer) => seen.push(d.toString()));
    await new Promise((r) => ws.once('open', r));
    cleanup.push(() => void ws.terminate());
    await until(() => seen.some((m) => m.includes('"HEARTBEAT"')), 'signed telemetry at the client', 8000);
    const answers = [await (await fetch(`${http}/v1/stats`)).text(), await (await fetch(`${http}/v1/mavlink`)).text()];
    expect(JSON.parse(answers[0]!).links[0].signing.signedAccepted).toBeGreaterThan(0);
    await gw.stop();
    const forms = [key.toString('hex'), key.toString('hex').toUpperCase(), key.toString('base64'), key.toString('base64url'), JSON.stringify([...key]), [...key].join(',')];
    const places: [string, string][] = [
      ['key setup output', setup.stdout + setup.stderr], ['sim log', sim.stderr], ['gateway log', gw.stderr],
      ['WebSocket messages', seen.join('\n')], ['REST answers', answers.join('\n')],
      ...readdirSync(join(dir, 'audit')).map((n): [string, string] => [`audit ${n}`, readFileSync(join(dir, 'audit', n), 'latin1')]),
      ...readdirSync(join(dir, 'rec')).map((n): [string, string] => [`recording ${n}`, readFileSync(join(dir, 'rec', n), 'latin1')]),
    ];
    for (const [where, text] of places) {
      for (const form of forms) expect([where, text.includes(form)]).toEqual([where, false]);
      expect([where, text.includes(key.toString('latin1'))]).toEqual([where, false]);
    }
  });
});

describe('signing settings', () => {
  it('reads per-link signing from the config, and names what is wrong', async () => {
    const { parseConfig } = await import('../src/cli/config.js');
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-signing-config-'));
    writeFileSync(join(dir, 'k'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'loose'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o644 });
    const source = join(dir, 'g.yaml');
    const config = parseConfig({ links: ['sim', { endpoint: 'udp:127.0.0.1:14550', signing: { key_file: 'k', require_signed: false } }] }, source);
    expect(config.links[1]).toMatchObject({ kind: 'udp', signing: { sign: true, requireSigned: false, linkId: 1, allowUnsigned: ['RADIO_STATUS', 'RADIO'] } });
    expect((config.links[1] as { signing: { key: Buffer } }).signing.key).toHaveLength(32);
    expect(() => parseConfig({ links: [{ endpoint: 'sim', signing: { key_file: 'k' } }] }, source)).toThrow(/links\[0\]\.signing: sim links carry no vehicle/);
    expect(() => parseConfig({ links: [{ endpoint: 'udp:127.0.0.1:1', signing: { key_file: 'loose' } }] }, source)).toThrow(/links\[0\]\.signing\.key_file: .*chmod 600/);
  });

  it('the flags need each other', async () => {
    expect(await runMavgate(['run', '--sign'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--sign and --require-signed need --signing-key FILE/) });
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-signing-flags-'));
    writeFileSync(join(dir, 'k'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    expect(await runMavgate(['run', '--signing-key', join(dir, 'k')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/say what to do with it/) });
  });
});
