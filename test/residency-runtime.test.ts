/**
 * The residency promise across changes at run time, not only at start-up: random
 * sequences of policy reloads, sinks added and removed, and peers appearing on loopback
 * addresses, driven against a running gateway on real sockets (fast-check's model-based
 * commands). After every step: no byte reached a destination the policy in force
 * refuses, every approved destination got every frame, and every refusal is in the
 * audit log. 127.0.0.2 is never approved: it must receive nothing, ever.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { AuditLog } from '../src/residency/audit-log.js';
import type { AuditRecord } from '../src/residency/audit-record.js';
import { EgressGate } from '../src/residency/gate.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { frame } from './helpers/frames.js';
import { LoopbackPeer } from './helpers/loopback.js';
import { HAS_MOSQUITTO, Mosquitto } from './helpers/mosquitto.js';
import { MavgateProcess } from './helpers/process.js';
import { freeUdpPort } from './helpers/ports.js';
import { until } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Addresses a policy may approve; 127.0.0.1 always is (the vehicle and one sink live there). */
const CANDIDATES = ['127.0.0.3', '127.0.0.4', '127.0.0.5'] as const;
/** Never approved by any policy here. */
const DECOY = '127.0.0.2';
const ADDRESSES = [...CANDIDATES, DECOY];
const BURST = 4;

interface Model {
  approved: Set<string>;
  /** Addresses configured as `udp:` sink links (refused ones included: a reload tries them again). */
  sinks: Set<string>;
  /** The ground listener's peer: the last approved sender, forgotten when a policy refuses it. */
  learnedPeer: string | null;
  /** Peers refused under the policy in force (the gate audits a refused peer once per policy). */
  peersRefused: Set<string>;
}

interface Expectation { event: string; address: string }

class Real {
  step = 0;
  /** Datagrams each receiver had at the end of the last step. */
  private readonly seen = new Map<LoopbackPeer, number>();
  expectations: Expectation[] = [];
  private auditFrom = 0;

  private constructor(
    readonly gate: EgressGate,
    readonly audit: AuditLog,
    readonly gateway: Gateway,
    readonly vehicle: LoopbackPeer,
    readonly always: LoopbackPeer,
    readonly sinkPeers: Map<string, LoopbackPeer>,
    readonly groundPeers: Map<string, LoopbackPeer>,
    readonly ports: { vehicle: number; ground: number },
  ) {}

  static async start(): Promise<Real> {
    const home = mkdtempSync(join(dir, 'run-'));
    const gate = new EgressGate(policyOf(new Set(), home));
    const grant = gate.grantDirectory('audit.directory', join(home, 'audit'));
    const audit = new AuditLog(grant);
    gate.attachAudit(audit, grant);
    const vehicle = await LoopbackPeer.open('127.0.0.1');
    const always = await LoopbackPeer.open('127.0.0.1');
    const sinkPeers = new Map<string, LoopbackPeer>();
    const groundPeers = new Map<string, LoopbackPeer>();
    for (const a of ADDRESSES) {
      sinkPeers.set(a, await LoopbackPeer.open(a));
      groundPeers.set(a, await LoopbackPeer.open(a));
    }
    const gateway = new Gateway({ links: [], gate });
    await gateway.start();
    // The listening ports are chosen free, then bound by the gateway: another test file may
    // take one in between (the ground peers would then talk to it, not to mavgate). Chosen again until both bind.
    for (let attempt = 1; ; attempt++) {
      const ports = { vehicle: await freeUdpPort(), ground: await freeUdpPort() };
      const real = new Real(gate, audit, gateway, vehicle, always, sinkPeers, groundPeers, ports);
      const { failed } = await gateway.reload(real.endpoints(new Set()));
      if (failed.length === 0) return real.introduceVehicle();
      if (attempt === 5) throw new Error(`the gateway's links did not bind: ${failed.join('; ')}`);
    }
  }

  private async introduceVehicle(): Promise<Real> {
    const { gateway, vehicle, ports } = this;
    // The vehicle introduces itself, so the router knows it is behind the vehicle link.
    vehicle.send(frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3 } }), ports.vehicle);
    await until(() => gateway.state.get(1, 1) !== undefined, 'the vehicle heard');
    return this;
  }

  endpoints(sinks: Set<string>) {
    return [
      `udp-listen:127.0.0.1:${this.ports.vehicle}`,
      `udp-listen:127.0.0.1:${this.ports.ground}`,
      `udp:127.0.0.1:${this.always.port}`,
      ...[...sinks].sort().map((a) => `udp:${a}:${this.sinkPeers.get(a)!.port}`),
    ].map(parseEndpoint);
  }

  startStep(): void {
    this.step++;
    this.expectations = [];
    this.auditFrom = this.audit.chainHead.seq + 1;
  }

  /**
   * The vehicle sends a burst tagged with the step; once the always-approved sink has it,
   * every receiver is synced, and what each got in this step is judged against the model.
   */
  async check(model: Model): Promise<void> {
    const tag = this.step;
    for (let i = 0; i < BURST; i++) {
      this.vehicle.send(frame({ name: 'SYSTEM_TIME', fields: { time_unix_usec: 0n, time_boot_ms: tag * 1000 + i } }, { seq: (tag * BURST + i) & 0xff }), this.ports.vehicle);
    }
    const tagged = (peer: LoopbackPeer) => peer.frames.filter((f) => f.name === 'SYSTEM_TIME' && Math.floor((f.decode()!.time_boot_ms as number) / 1000) === tag).length;
    await until(() => tagged(this.always) === BURST, `step ${tag}'s burst at the always-approved sink`);
    const receivers: [LoopbackPeer, boolean, string][] = [
      ...[...this.sinkPeers].map(([a, p]): [LoopbackPeer, boolean, string] => [p, model.sinks.has(a) && model.approved.has(a), `sink ${a}`]),
      ...[...this.groundPeers].map(([a, p]): [LoopbackPeer, boolean, string] => [p, model.learnedPeer === a, `ground peer ${a}`]),
    ];
    for (const [peer, allowed, what] of receivers) {
      const total = await peer.sync();
      const fresh = total - (this.seen.get(peer) ?? 0);
      this.seen.set(peer, total);
      if (!allowed) expect(fresh, `${what} is refused in step ${tag} but received ${fresh} datagram(s)`).toBe(0);
      else expect(tagged(peer), `${what} is approved in step ${tag}: every frame of the burst`).toBe(BURST);
    }
    const records = readFileSync(this.audit.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord).filter((r) => r.seq >= this.auditFrom);
    for (const e of this.expectations) {
      const found = records.some((r) => r.event === e.event && JSON.stringify(r.details).includes(e.address));
      expect(found, `a "${e.event}" record naming ${e.address} in step ${tag}`).toBe(true);
    }
  }

  async stop(): Promise<void> {
    await this.gateway.stop();
    this.audit.close();
    for (const p of [this.vehicle, this.always, ...this.sinkPeers.values(), ...this.groundPeers.values()]) await p.close();
  }
}

function policyOf(approved: Set<string>, home: string) {
  return parsePolicy({
    approved_sinks: { directories: [home], networks: [{ cidr: '127.0.0.1/32' }, ...[...approved].sort().map((a) => ({ cidr: `${a}/32` }))] },
    listen: ['127.0.0.1/32'],
  }, `policy approving ${['127.0.0.1', ...approved].join(', ')}`);
}

class ReloadPolicy implements fc.AsyncCommand<Model, Real> {
  constructor(readonly approved: string[]) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    real.startStep();
    const next = new Set(this.approved);
    for (const a of model.sinks) {
      // A sink open under the old policy and refused by the new one is revoked; a refused one is tried (and refused) again.
      if (!next.has(a)) real.expectations.push({ event: model.approved.has(a) ? 'revoked' : 'refused', address: a });
    }
    model.peersRefused = new Set();
    if (model.learnedPeer && !next.has(model.learnedPeer)) {
      real.expectations.push({ event: 'peer_refused', address: model.learnedPeer });
      model.peersRefused.add(model.learnedPeer);
      model.learnedPeer = null;
    }
    model.approved = next;
    real.gate.applyPolicy(policyOf(next, dirname(real.audit.path)));
    await real.gateway.reload(real.endpoints(model.sinks));
    await real.check(model);
  }
  toString = () => `reload(${this.approved.join(',') || 'loopback .1 only'})`;
}

class AddSink implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string) {}
  check = (model: Readonly<Model>) => !model.sinks.has(this.address);
  async run(model: Model, real: Real): Promise<void> {
    real.startStep();
    model.sinks.add(this.address);
    if (!model.approved.has(this.address)) real.expectations.push({ event: 'refused', address: this.address });
    await real.gateway.reload(real.endpoints(model.sinks));
    await real.check(model);
  }
  toString = () => `add sink ${this.address}`;
}

class RemoveSink implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string) {}
  check = (model: Readonly<Model>) => model.sinks.has(this.address);
  async run(model: Model, real: Real): Promise<void> {
    real.startStep();
    model.sinks.delete(this.address);
    await real.gateway.reload(real.endpoints(model.sinks));
    await real.check(model);
  }
  toString = () => `remove sink ${this.address}`;
}

class PeerSpeaks implements fc.AsyncCommand<Model, Real> {
  constructor(readonly address: string) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    real.startStep();
    const peer = real.groundPeers.get(this.address)!;
    const before = real.gateway.links[1]!.port.framesIn;
    const refusedBefore = real.gateway.links[1]!.link.counters.peersRefused;
    peer.send(frame({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } }, { sysid: 255, compid: 190, seq: real.step & 0xff }), real.ports.ground);
    // Heard (approved) or refused: either way the gateway has judged it before the burst.
    await until(() => real.gateway.links[1]!.port.framesIn > before || real.gateway.links[1]!.link.counters.peersRefused > refusedBefore, `the gateway to judge ${this.address}`);
    if (model.approved.has(this.address)) {
      model.learnedPeer = this.address;
    } else if (!model.peersRefused.has(this.address)) {
      real.expectations.push({ event: 'peer_refused', address: this.address });
      model.peersRefused.add(this.address);
    }
    await real.check(model);
  }
  toString = () => `peer ${this.address} speaks`;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf('/audit/'));
}

describe('the residency promise across runtime changes (model-based)', () => {
  it('after every reload, sink change and new peer: refused destinations get no byte, approved ones every frame, every refusal audited', async () => {
    const address = fc.constantFrom(...ADDRESSES);
    const commands = [
      fc.subarray([...CANDIDATES]).map((a) => new ReloadPolicy(a)),
      address.map((a) => new AddSink(a)),
      address.map((a) => new RemoveSink(a)),
      address.map((a) => new PeerSpeaks(a)),
    ];
    const decoyBytes: number[] = [];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 16, size: 'large' }), async (cmds) => {
        const real = await Real.start();
        try {
          await fc.asyncModelRun(() => ({ model: { approved: new Set<string>(), sinks: new Set<string>(), learnedPeer: null, peersRefused: new Set<string>() }, real }), cmds);
        } finally {
          decoyBytes.push(real.sinkPeers.get(DECOY)!.bytes + real.groundPeers.get(DECOY)!.bytes);
          await real.stop();
        }
      }),
      { numRuns: 40 },
    );
    expect(decoyBytes.reduce((a, b) => a + b, 0)).toBe(0);
  });
});

describe.skipIf(!HAS_MOSQUITTO)('mavgate run: a reload to a stricter policy cuts off what it now refuses (the finding of issue 13)', () => {
  it('a learned peer, a new peer and the MQTT broker get nothing from the moment the policy takes force; each refusal audited', async () => {
    const home = mkdtempSync(join(dir, 'stricter-'));
    const policyPath = join(home, 'policy.yaml');
    const broker = await Mosquitto.start();
    const received: { topic: string; payload: string }[] = [];
    const sub = mqtt.connect(broker.url, { clientId: `test-sub-${process.pid}`, reconnectPeriod: 100 });
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    await sub.subscribeAsync('mavgate/#', { qos: 1 });
    sub.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
    const approved = await LoopbackPeer.open('127.0.0.1');
    const early = await LoopbackPeer.open('127.0.0.3');
    const late = await LoopbackPeer.open('127.0.0.4');
    const listenPort = await freeUdpPort();
    writeFileSync(policyPath, 'site: runtime\napproved_sinks:\n  directories: [data]\n  networks: [{ cidr: 127.0.0.0/8 }]\n');
    const gw = MavgateProcess.start(['run', '--policy', policyPath, '--link', 'sim', '--link', `udp-listen:127.0.0.1:${listenPort}`,
      '--link', `udp:127.0.0.1:${approved.port}`, '--mqtt', broker.url, '--status-interval', '0']);
    try {
      await gw.waitFor(/running: 3 link\(s\)/);
      const gcsHeartbeat = frame({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } }, { sysid: 255, compid: 190 });
      early.send(gcsHeartbeat, listenPort);
      await until(() => early.frames.length > 10, 'telemetry at the peer learned before the reload');
      await until(() => received.some((m) => m.topic === 'mavgate/runtime/1/ATTITUDE'), 'telemetry at the broker');

      writeFileSync(policyPath, `site: runtime\napproved_sinks:\n  directories: [data]\n  networks: [{ cidr: 127.0.0.1/32, ports: [${approved.port}] }]\n`);
      gw.child.kill('SIGHUP');
      await gw.waitFor(/SIGHUP: reloaded with a new policy \(1 grant\(s\) revoked\)/);
      // Everything the gateway sent before it logged the reload has arrived at the peer once its marker has.
      const before = await early.sync();
      late.send(gcsHeartbeat, listenPort);
      await until(() => received.some((m) => m.topic === 'mavgate/runtime/gateway/status' && m.payload.includes('"online":false')), 'the broker to see mavgate go (its last will)');
      const atWill = received.length;
      const approvedBefore = approved.frames.length;
      await until(() => approved.frames.length > approvedBefore + 30, 'telemetry still flowing to the approved destination');
      expect(await early.sync() - before).toBe(0);
      expect(await late.sync()).toBe(0);
      expect(received.slice(atWill)).toEqual([]);
      expect(await gw.stop()).toBe(0);

      const records = readFileSync(join(home, 'data', 'audit', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
      const after = records.findIndex((r) => r.event === 'policy_loaded' && r.seq > 0);
      const since = records.slice(after);
      expect(since).toEqual(expect.arrayContaining([
        expect.objectContaining({ event: 'revoked', details: expect.objectContaining({ entry: 'mqtt.broker', rule: 'approved_sinks.networks[0]' }) }),
        expect.objectContaining({ event: 'peer_refused', details: expect.objectContaining({ peer: expect.stringMatching(/^127\.0\.0\.3:/) }) }),
        expect.objectContaining({ event: 'peer_refused', details: expect.objectContaining({ peer: expect.stringMatching(/^127\.0\.0\.4:/) }) }),
      ]));
    } finally {
      await gw.stop();
      await sub.endAsync(true);
      await broker.stop();
      for (const p of [approved, early, late]) await p.close();
    }
  });
});

describe('listeners for clients are judged again too', () => {
  it('a policy that no longer approves the client server and a ground-station endpoint closes both: their clients are off the router at once', async () => {
    const { Deck } = await import('./helpers/clients.js');
    const { parseGcsEndpoint } = await import('../src/cli/server-flags.js');
    const d = await Deck.start({ audit: true, gcs: [{ endpoint: parseGcsEndpoint('udp-listen:127.0.0.1:0') }] });
    const qgc = await LoopbackPeer.open('127.0.0.1');
    try {
      const ws = await d.connect('/v1/ws/raw');
      const closed = new Promise<void>((resolve) => ws.ws.once('close', () => resolve()));
      qgc.send(frame({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } }, { sysid: 255, compid: 190 }), d.services!.gcs[0]!.localPort);
      await until(() => qgc.frames.some((f) => f.name === 'ATTITUDE'), 'telemetry at the ground station');
      const port = d.services!.server!.port;
      const { revoked } = d.gateway.gate.applyPolicy(parsePolicy({ approved_sinks: { directories: [tmpdir()] }, listen: ['127.0.0.9/32'] }, 'listen elsewhere'));
      expect(revoked.map((r) => r.entry).sort()).toEqual(['gcs[0] udp-listen:127.0.0.1:0', 'server.listen']);
      // Synchronously: no session of either listener is left on the router.
      expect(d.hub.sessions.size).toBe(0);
      const before = await qgc.sync();
      await closed;
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
      const vehicleHeard = d.gateway.state.get(1, 1)!.message('ATTITUDE')!.count;
      await until(() => d.gateway.state.get(1, 1)!.message('ATTITUDE')!.count > vehicleHeard + 5, 'the vehicle still heard');
      expect(await qgc.sync()).toBe(before);
      const events = readFileSync(d.audit!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord).filter((r) => r.event === 'revoked');
      expect(events.map((r) => r.details.entry).sort()).toEqual(['gcs[0] udp-listen:127.0.0.1:0', 'server.listen']);
    } finally {
      await qgc.close();
      await d.stop();
    }
  });
});
