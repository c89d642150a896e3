/**
 * Publishing to an on-premises broker (a real Mosquitto on loopback): topics and payloads,
 * rates from the policy, QoS 1 events through a broker restart in order and complete, the
 * spool's limit, a restart of mavgate with a full spool, and an unapproved broker refused.
 */
import { createServer, type Server } from 'node:net';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { FrameDecoder } from '../src/mavlink/index.js';
import { ResidencyRefusal } from '../src/residency/gate.js';
import { MqttSink } from '../src/sinks/mqtt-sink.js';
import { frame, registry } from './helpers/frames.js';
import { gateFor } from './helpers/gate.js';
import { HAS_MOSQUITTO, Mosquitto } from './helpers/mosquitto.js';
import { runMavgate } from './helpers/cli.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Received { topic: string; payload: Record<string, unknown>; retain: boolean }

/** A subscriber with a persistent session: what is published while it reconnects waits for it at the broker. */
async function subscriber(broker: Mosquitto, topic = 'mavgate/#'): Promise<{ client: MqttClient; received: Received[] }> {
  const received: Received[] = [];
  const client = mqtt.connect(broker.url, { clientId: `test-sub-${Math.random().toString(16).slice(2)}`, clean: false, reconnectPeriod: 100 });
  client.on('message', (t, p, packet) => received.push({ topic: t, payload: JSON.parse(p.toString()) as Record<string, unknown>, retain: packet.retain }));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await client.subscribeAsync(topic, { qos: 1 });
  cleanup.push(() => client.endAsync(true));
  return { client, received };
}

async function gatewayWithSink(broker: string, options: { policy?: object; spoolMaxBytes?: number; spoolDirectory?: string } = {}) {
  const dir = options.spoolDirectory ?? mkdtempSync(join(tmpdir(), 'mavgate-mqtt-'));
  const gate = gateFor({ site: 'team-3', approved_sinks: { directories: [dir] }, ...options.policy });
  const gateway = new Gateway({ links: [parseEndpoint('sim')], gate, sim: { rate: 10 } });
  await gateway.start();
  const audit: { event: string; details: Record<string, unknown> }[] = [];
  const record = gate.record.bind(gate);
  gate.record = (event, details) => {
    audit.push({ event, details });
    record(event, details);
  };
  const sink = await MqttSink.start(gateway, { broker, spoolDirectory: join(dir, 'spool'), spoolMaxBytes: options.spoolMaxBytes ?? 1 << 20 }, 'team-3', () => {});
  const stop = async () => {
    await sink.stop();
    await gateway.stop();
  };
  cleanup.push(stop);
  // Inject numbered STATUSTEXT events as if the vehicle had sent them.
  const port = gateway.links[0]!.port;
  const inject = new FrameDecoder(registry, (f) => gateway.router.route(f, port));
  const event = (n: number) => inject.push(frame({ name: 'STATUSTEXT', fields: { severity: 6, text: `event ${n}` } }, { sysid: 1, compid: 1, seq: n & 0xff }));
  return { gateway, sink, audit, event, dir, stop };
}

/** The numbers of the injected `event N` status texts, in the order received (the vehicle's own texts left out). */
const eventNumbers = (received: Received[]) => {
  const seen = new Set<string>();
  const textOf = (r: Received) => String((r.payload.message as { text: string[] }).text.join('')).replace(/\0.*$/, '');
  return received.filter((r) => r.topic === 'mavgate/team-3/1/event' && r.payload.event === 'statustext' && textOf(r).startsWith('event ') && !seen.has(r.payload.id as string) && seen.add(r.payload.id as string))
    .map((r) => Number(textOf(r).split(' ')[1]));
};

describe.skipIf(!HAS_MOSQUITTO)('publishing to a Mosquitto broker on loopback', () => {
  it('publishes telemetry as mavlink2rest JSON, the vehicle\'s retained state and the gateway\'s, at the policy\'s rates', async () => {
    const broker = await Mosquitto.start();
    cleanup.push(() => broker.stop());
    const sub = await subscriber(broker);
    await gatewayWithSink(broker.url, { policy: { rules: [{ to: '127.0.0.0/8', rates: { GLOBAL_POSITION_INT: 2 } }] } });
    await until(() => sub.received.some((r) => r.topic === 'mavgate/team-3/1/ATTITUDE'), 'ATTITUDE at the subscriber');
    const attitude = sub.received.find((r) => r.topic === 'mavgate/team-3/1/ATTITUDE')!;
    expect(attitude.payload).toMatchObject({ header: { system_id: 1, component_id: 1 }, message: { type: 'ATTITUDE', roll: expect.any(Number) } });
    await until(() => sub.received.some((r) => r.topic === 'mavgate/team-3/1/heartbeat'), 'the vehicle state');
    expect(sub.received.find((r) => r.topic === 'mavgate/team-3/1/heartbeat')!.payload).toMatchObject({ online: true, mode: 'STABILIZE', armed: false });
    expect(sub.received.find((r) => r.topic === 'mavgate/team-3/gateway/status')!.payload).toMatchObject({ online: true });
    // The sim sends GLOBAL_POSITION_INT at 50 Hz; the policy allows 2 Hz to the broker.
    const start = Date.now();
    const before = sub.received.filter((r) => r.topic === 'mavgate/team-3/1/GLOBAL_POSITION_INT').length;
    await until(() => Date.now() - start > 2000 && sub.received.filter((r) => r.topic === 'mavgate/team-3/1/ATTITUDE').length > 100, 'two seconds of telemetry', 6000);
    const positions = sub.received.filter((r) => r.topic === 'mavgate/team-3/1/GLOBAL_POSITION_INT').length - before;
    expect(positions).toBeGreaterThanOrEqual(2);
    expect(positions).toBeLessThanOrEqual(6);
  });

  it('publishes the retained heartbeat of a vehicle heard before the sink started, with no mode change', async () => {
    const broker = await Mosquitto.start();
    cleanup.push(() => broker.stop());
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-mqtt-'));
    const gateway = new Gateway({ links: [parseEndpoint('sim')], gate: gateFor({ site: 'team-3', approved_sinks: { directories: [dir] } }), sim: { rate: 10 } });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    await until(() => gateway.state.vehicles().length > 0, 'the simulated vehicle heard');
    const sink = await MqttSink.start(gateway, { broker: broker.url, spoolDirectory: join(dir, 'spool'), spoolMaxBytes: 1 << 20 }, 'team-3', () => {});
    cleanup.push(() => sink.stop());
    // Subscribed once the broker holds it: what a subscriber then gets is the retained copy, not the live one.
    await until(() => sink.stats().published > 0 && sink.stats().spool.messages === 0, 'the heartbeat acknowledged by the broker');
    const sub = await subscriber(broker, 'mavgate/team-3/1/heartbeat');
    await until(() => sub.received.length > 0, 'the retained heartbeat');
    expect(sub.received[0]).toMatchObject({ retain: true, payload: { online: true, mode: 'STABILIZE', armed: false } });
  });

  it('publishes a vehicle\'s mode changes faster than one a second as one event with their count and the mode they ended in', async () => {
    const broker = await Mosquitto.start();
    cleanup.push(() => broker.stop());
    const sub = await subscriber(broker, 'mavgate/team-3/7/#');
    const { gateway, sink } = await gatewayWithSink(broker.url);
    const port = gateway.links[0]!.port;
    const inject = new FrameDecoder(registry, (f) => gateway.router.route(f, port));
    // ArduCopter custom_mode 5 LOITER, 6 RTL: a heartbeat that flaps on every frame, 500 of them at once.
    const heartbeat = (mode: number, seq: number) => inject.push(frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 81, custom_mode: mode, system_status: 4, mavlink_version: 3 } }, { sysid: 7, compid: 1, seq: seq & 0xff }));
    for (let i = 0; i < 500; i++) heartbeat(i % 2 === 0 ? 5 : 6, i);
    const modeEvents = () => sub.received.filter((r) => r.topic === 'mavgate/team-3/7/event' && r.payload.event === 'mode');
    await until(() => modeEvents().some((r) => r.payload.changes !== undefined), 'the changes that waited, as one event');
    expect(modeEvents().map((r) => [r.payload.mode, r.payload.changes ?? 1])).toEqual([['RTL', 1], ['RTL', 498]]);
    expect(modeEvents()[1]!.payload.from).toEqual({ mode: 'RTL', armed: false });
    expect(sub.received.filter((r) => r.topic === 'mavgate/team-3/7/heartbeat').at(-1)!.payload).toMatchObject({ mode: 'RTL' });
    expect(sink.stats().spool.dropped).toBe(0);
  });

  it('delivers every QoS 1 event in order through a broker restart, spooled while it is down', async () => {
    const broker = await Mosquitto.start();
    cleanup.push(() => broker.stop());
    const sub = await subscriber(broker);
    const g = await gatewayWithSink(broker.url);
    for (let n = 1; n <= 20; n++) g.event(n);
    await until(() => eventNumbers(sub.received).length === 20, 'the first 20 events');
    await broker.stop();
    await until(() => !g.sink.stats().connected, 'the sink to notice');
    for (let n = 21; n <= 50; n++) g.event(n);
    expect(g.sink.stats().spool.messages).toBeGreaterThanOrEqual(30);
    await broker.restart();
    for (let n = 51; n <= 70; n++) g.event(n);
    await until(() => eventNumbers(sub.received).length === 70, 'all 70 events at the subscriber', 15_000);
    expect(eventNumbers(sub.received)).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    await until(() => g.sink.stats().spool.messages === 0, 'the spool to drain');
  }, 30_000);

  it('drops the oldest past the spool\'s limit, counted and audited; a restart of mavgate delivers what was spooled', async () => {
    const broker = await Mosquitto.start();
    cleanup.push(() => broker.stop());
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-mqtt-spool-'));
    await broker.stop();
    const g = await gatewayWithSink(broker.url, { spoolMaxBytes: 4000, spoolDirectory: dir });
    for (let n = 1; n <= 100; n++) g.event(n);
    const { spool } = g.sink.stats();
    expect(spool.dropped).toBeGreaterThan(0);
    expect(g.audit.filter((a) => a.event === 'mqtt_spool_dropped').reduce((n, a) => n + (a.details.messages as number), 0)).toBe(spool.dropped);
    await g.stop();
    // A new gateway on the same spool, with the broker back: the spooled events arrive first, in order.
    await broker.restart();
    const sub = await subscriber(broker);
    await gatewayWithSink(broker.url, { spoolDirectory: dir });
    await until(() => eventNumbers(sub.received).length >= spool.messages, 'the spooled events after the restart', 10_000);
    const numbers = eventNumbers(sub.received);
    expect(numbers.slice(0, spool.messages)).toEqual(Array.from({ length: spool.messages }, (_, i) => 100 - spool.messages + 1 + i));
  }, 30_000);
});

describe('an unapproved broker', () => {
  let decoy: Server;
  let connections = 0;
  afterEach(() => new Promise<void>((r) => decoy.close(() => r())));

  it('is refused at start (exit 3 from mavgate run), and nothing reaches it', async () => {
    decoy = createServer(() => connections++).listen(0, '127.0.0.2');
    await new Promise((r) => decoy.once('listening', r));
    const port = (decoy.address() as { port: number }).port;
    const start = gatewayWithSink(`mqtt://127.0.0.2:${port}`, { policy: { approved_sinks: { directories: [mkdtempSync(join(tmpdir(), 'x-'))], networks: [{ cidr: '127.0.0.1/32' }] } } });
    await expect(start).rejects.toBeInstanceOf(ResidencyRefusal);
    await expect(start).rejects.toThrow(/refuses mqtt\.broker: tcp:127\.0\.0\.2:\d+ \(127\.0\.0\.2\): 127\.0\.0\.2 \(loopback\) is in no approved network/);
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-mqtt-refused-'));
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks: { directories: [${dir}], networks: [{ cidr: 127.0.0.1/32 }] }\n`);
    const run = await runMavgate(['run', '--policy', join(dir, 'policy.yaml'), '--mqtt', `mqtt://127.0.0.2:${port}`]);
    expect(run).toMatchObject({ code: 3, stderr: expect.stringMatching(/residency policy refuses mqtt\.broker/) });
    expect(connections).toBe(0);
  });
});

describe.skipIf(!HAS_MOSQUITTO)('the fleet view', () => {
  it('shows three gateways\' three vehicles, each under its own fleet system id, read-only', async () => {
    const broker = await Mosquitto.start();
    cleanup.push(() => broker.stop());
    for (const site of ['team-1', 'team-2', 'team-3']) {
      const dir = mkdtempSync(join(tmpdir(), 'mavgate-fleet-gw-'));
      const gate = gateFor({ site, approved_sinks: { directories: [dir] } });
      const gateway = new Gateway({ links: [parseEndpoint('sim')], gate, sim: { rate: 5 } });
      await gateway.start();
      const sink = await MqttSink.start(gateway, { broker: broker.url, spoolDirectory: join(dir, 'spool'), spoolMaxBytes: 1 << 20 }, site, () => {});
      cleanup.push(async () => {
        await sink.stop();
        await gateway.stop();
      });
    }
    const fleet = new Gateway({ links: [parseEndpoint(`fleet:${broker.url}`)], gate: gateFor({}) });
    await fleet.start();
    cleanup.push(() => fleet.stop());
    await until(() => fleet.state.vehicles().length === 3, 'three vehicles in the fleet view', 10_000);
    const mapping = fleet.stats().links[0]!.fleet!;
    expect(mapping.map((v) => v.site).sort()).toEqual(['team-1', 'team-2', 'team-3']);
    expect(mapping.every((v) => v.sysid === 1)).toBe(true);
    expect(fleet.state.vehicles().map((c) => c.sysid).sort()).toEqual([1, 2, 3]);
    expect(fleet.state.vehicles().every((c) => c.heartbeat!.mode === 'STABILIZE')).toBe(true);
    // Read-only: what a client would send towards the vehicles goes nowhere.
    expect(fleet.links[0]!.link.write(Buffer.from([0xfd]))).toBe(false);
  }, 20_000);
});

describe('the broker\'s transport, as a verdict (nothing is contacted)', () => {
  it('allows plain mqtt:// to loopback only; anything else needs mqtts://', async () => {
    const { brokerTransportRefusal } = await import('../src/residency/verdicts.js');
    for (const address of ['127.0.0.1', '127.0.0.2', '::1']) expect(brokerTransportRefusal('mqtt:', address)).toBe(null);
    for (const address of ['192.168.10.20', '10.0.0.5', '203.0.113.7', '2001:db8::1', '::ffff:192.168.1.1']) {
      expect(brokerTransportRefusal('mqtt:', address)).toMatch(/plain mqtt:\/\/ is allowed to loopback only .*use mqtts:\/\//);
      expect(brokerTransportRefusal('mqtts:', address)).toBe(null);
    }
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl for the test. */
function certificates(dir: string, name = 'ca'): { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  for (const who of ['server', 'client']) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
    writeFileSync(join(dir, `${who}.ext`), who === 'server' ? 'subjectAltName=IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
    run('x509', '-req', '-in', `${who}.csr`, '-CA', `${name}.crt`, '-CAkey', `${name}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${who}.ext`, '-out', `${who}.crt`);
  }
  chmodSync(join(dir, 'server.key'), 0o644); // mosquitto, dropped to its own user, reads it
  const at = (f: string) => join(dir, f);
  return { ca: at(`${name}.crt`), serverCert: at('server.crt'), serverKey: at('server.key'), clientCert: at('client.crt'), clientKey: at('client.key') };
}

describe.skipIf(!HAS_MOSQUITTO || !existsSync('/usr/bin/openssl'))('mqtts:// with a client certificate and the broker\'s CA pinned', () => {
  it('publishes over TLS; a broker whose certificate another CA signed is not trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-tls-'));
    chmodSync(dir, 0o755);
    const c = certificates(dir);
    const broker = await Mosquitto.start([`cafile ${c.ca}`, `certfile ${c.serverCert}`, `keyfile ${c.serverKey}`, 'require_certificate true']);
    cleanup.push(() => broker.stop());
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const received: string[] = [];
    const sub = mqtt.connect(url, { ca: readFileSync(c.ca), cert: readFileSync(c.clientCert), key: readFileSync(c.clientKey), rejectUnauthorized: true });
    cleanup.push(() => sub.endAsync(true));
    sub.on('message', (topic) => received.push(topic));
    await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
    await sub.subscribeAsync('mavgate/#');
    const gdir = mkdtempSync(join(tmpdir(), 'mavgate-tls-gw-'));
    const gateway = new Gateway({ links: [parseEndpoint('sim')], gate: gateFor({ site: 'team-3', approved_sinks: { directories: [gdir] } }), sim: { rate: 5 } });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const sink = await MqttSink.start(gateway, { broker: url, caFile: c.ca, certFile: c.clientCert, keyFile: c.clientKey, spoolDirectory: join(gdir, 'spool'), spoolMaxBytes: 1 << 20 }, 'team-3', () => {});
    cleanup.push(() => sink.stop());
    await until(() => received.includes('mavgate/team-3/1/ATTITUDE'), 'ATTITUDE over TLS');
    // Another CA pinned: the broker's certificate is refused, nothing is published.
    const other = certificates(mkdtempSync(join(tmpdir(), 'mavgate-tls-other-')), 'other');
    const errors: string[] = [];
    const wrong = await MqttSink.start(gateway, { broker: url, caFile: other.ca, certFile: c.clientCert, keyFile: c.clientKey, spoolDirectory: join(gdir, 'spool2'), spoolMaxBytes: 1 << 20 }, 'team-x', (_level, message) => errors.push(message));
    cleanup.push(() => wrong.stop());
    await until(() => errors.some((e) => /certificate/i.test(e)), 'the untrusted certificate reported');
    expect(wrong.stats().connected).toBe(false);
    await expect(MqttSink.start(gateway, { broker: url, spoolDirectory: join(gdir, 'spool3'), spoolMaxBytes: 1 }, 'team-y', () => {})).rejects.toThrow(/mqtts:\/\/ needs ca_file/);
  }, 30_000);
});

describe('mavgate fleet on the command line', () => {
  it('names what is wrong with the broker URL (exit 2)', async () => {
    expect(await runMavgate(['fleet', '--broker', 'http://127.0.0.1:1883'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/the broker URL must start mqtt:\/\/ or mqtts:\/\//) });
    expect(await runMavgate(['fleet', '--broker', 'mqtts://127.0.0.1:8883', '--no-server'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/give the CA, certificate and key under mqtt:/) });
  });
});
