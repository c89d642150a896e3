/**
 * Clients that are slow, that speak MAVLink over UDP and TCP, and that the policy sees
 * less of: none of them may slow the link, the recording or the other clients.
 */
import { connect, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder, type Frame, MAV_RESULT } from '../src/mavlink/index.js';
import { frame, registry } from './helpers/frames.js';
import { Deck } from './helpers/clients.js';
import { GroundStation } from './helpers/gcs.js';
import { clientStatus } from '../src/cli/run-services.js';
import { parseGcsEndpoint } from '../src/cli/server-flags.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function deck(options: Parameters<typeof Deck.start>[0] = {}): Promise<Deck> {
  const d = await Deck.start(options);
  cleanup.push(() => d.stop());
  return d;
}

describe('a client that stops reading', () => {
  it('loses the oldest telemetry of each type, stays bounded, is disconnected when stuck; the others get every frame', async () => {
    // Not cut off while the counts are checked (a loaded machine can take seconds here); the stall rule is armed afterwards.
    const d = await deck({ hub: { queue: { maxFrames: 50, highWaterBytes: 64 * 1024 }, stallTimeoutMs: 600_000 } });
    const fast = await d.connect('/v1/ws/raw');
    const slow = await d.connect('/v1/ws/raw');
    slow.ws.pause();
    const slowSession = [...d.hub.sessions.values()][1]!;
    // Frames as if from the vehicle's link: 60,000 × 267 bytes, far beyond what the kernel buffers for the stalled socket.
    const port = d.gateway.links[0]!.port;
    const inject = new FrameDecoder(registry, (f: Frame) => d.gateway.router.route(f, port));
    let sent = 0;
    let received = 0;
    let maxQueued = 0;
    fast.frames$.subscribe((f) => f.name === 'ENCAPSULATED_DATA' && received++);
    for (let batch = 0; batch < 300; batch++) {
      for (let i = 0; i < 200; i++) {
        inject.push(frame({ name: 'ENCAPSULATED_DATA', fields: { seqnr: sent++ & 0xffff, data: new Array(253).fill(7) } }, { sysid: 1, compid: 1, seq: sent & 0xff }));
      }
      maxQueued = Math.max(maxQueued, slowSession.queue.length);
      // A reader that keeps up (a loaded machine can make any reader fall behind a burst of 16 MB; this one is given the time).
      await until(() => received === sent, `all ${sent} frames at the reading client (got ${received})`, 10_000);
    }
    expect(slowSession.queue.dropped).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThanOrEqual(50);
    // The simulated vehicle goes on sending while the request is answered: the count it reports lies between the two reads.
    const droppedBefore = slowSession.queue.dropped;
    const stats = (await d.http('GET', '/v1/stats')).body as { clients: { id: string; dropped: number }[] };
    const reported = stats.clients.find((c) => c.id === slowSession.id)!.dropped;
    expect(reported).toBeGreaterThanOrEqual(droppedBefore);
    expect(reported).toBeLessThanOrEqual(slowSession.queue.dropped);
    expect(stats.clients.find((c) => c.id !== slowSession.id)!.dropped).toBe(0);
    d.hub.options.stallTimeoutMs = 1000;
    await until(() => d.hub.disconnectedSlow === 1 && !d.hub.sessions.has(slowSession.id), 'the stuck client to be disconnected', 5000);
    // The vehicle link and the reading client carry on.
    await fast.frame('HEARTBEAT');
  });
});

describe('the status line', () => {
  it('counts connected clients, and REST callers apart, as /health counts them all', async () => {
    const d = await deck();
    expect(clientStatus(d.services!)).toBe('clients 0');
    await d.connect('/v1/ws/raw');
    await d.http('GET', '/v1/mavlink/vehicles');
    expect(clientStatus(d.services!)).toBe('clients 1 (+1 REST)');
    expect(((await d.http('GET', '/health')).body as { clients: number }).clients).toBe(2);
  });
});

describe('a WebSocket client', () => {
  it('gets the frames routed to it in one turn of the event loop in one write of the server\'s socket, every one of them whole', async () => {
    const d = await deck();
    const client = await d.connect('/v1/ws/raw');
    const serverPort = Number(new URL(d.base).port);
    // Each write of the server's side of the connection, with how many of the burst's frames it carried (ENCAPSULATED_DATA: id 131).
    const writes: number[] = [];
    const carried = (chunks: Buffer[]) => chunks.reduce((n, c) => n + (c.length >= 12 && c[0] === 0xfd && c.readUIntLE(7, 3) === 131 ? 1 : 0), 0);
    const proto = Socket.prototype as unknown as { _write: Function; _writev: Function };
    const { _write, _writev } = proto;
    proto._write = function (this: Socket, chunk: Buffer, ...rest: unknown[]) {
      if (this.localPort === serverPort && carried([chunk]) > 0) writes.push(carried([chunk]));
      return _write.call(this, chunk, ...rest);
    };
    proto._writev = function (this: Socket, chunks: { chunk: Buffer }[], ...rest: unknown[]) {
      if (this.localPort === serverPort) writes.push(carried(chunks.map((c) => c.chunk)));
      return _writev.call(this, chunks, ...rest);
    };
    cleanup.push(async () => void Object.assign(proto, { _write, _writev }));
    let received = 0;
    client.frames$.subscribe((f) => f.name === 'ENCAPSULATED_DATA' && received++);
    const port = d.gateway.links[0]!.port;
    const inject = new FrameDecoder(registry, (f: Frame) => d.gateway.router.route(f, port));
    for (let i = 0; i < 20; i++) inject.push(frame({ name: 'ENCAPSULATED_DATA', fields: { seqnr: i, data: new Array(253).fill(i) } }, { sysid: 1, compid: 1, seq: i }));
    await until(() => received === 20, 'the 20 frames at the client');
    expect(writes.filter((n) => n > 0)).toEqual([20]);
  });
});

describe('ground stations over UDP and TCP', () => {
  it('a QGroundControl-style peer bound to a pilot token flies: control taken on its first command', async () => {
    const d = await deck({ tokens: [{ name: 'qgc', role: 'pilot' }], gcs: [{ endpoint: parseGcsEndpoint('udp-listen:127.0.0.1:0'), as: 'qgc' }] });
    const gcs = await GroundStation.open(d.services!.gcs[0]!.localPort);
    cleanup.push(() => gcs.close());
    gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
    await gcs.next('ATTITUDE');
    const ack = gcs.next('COMMAND_ACK', (f) => f.command === 400);
    gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    expect((await ack).fields!.result).toBe(0);
    expect(d.sim.armed).toBe(true);
    expect(d.hub.lease.holder?.principal).toBe('qgc');
  });

  it('an observer peer gets a denied COMMAND_ACK and a status text, and the telemetry keeps flowing', async () => {
    const d = await deck({ gcs: [{ endpoint: parseGcsEndpoint('udp-listen:127.0.0.1:0') }] });
    const gcs = await GroundStation.open(d.services!.gcs[0]!.localPort);
    cleanup.push(() => gcs.close());
    const ack = gcs.next('COMMAND_ACK', (f) => f.command === 400);
    const text = gcs.next('STATUSTEXT', (f) => String(f.text).startsWith('mavgate: observers'));
    gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    const denied = await ack;
    expect([denied.sysid, denied.compid, denied.fields!.result]).toEqual([1, 1, MAV_RESULT.DENIED]);
    await text;
    await gcs.next('ATTITUDE');
    expect(d.sim.armed).toBe(false);
  });

  it('a TCP peer receives the vehicle\'s frames', async () => {
    const d = await deck({ gcs: [{ endpoint: parseGcsEndpoint('tcp-listen:127.0.0.1:0') }] });
    const socket = connect(d.services!.gcs[0]!.localPort, '127.0.0.1');
    cleanup.push(async () => void socket.destroy());
    const names = new Set<string>();
    const decoder = new FrameDecoder(registry, (f) => names.add(f.name ?? ''));
    socket.on('data', (chunk) => decoder.push(chunk));
    await until(() => names.has('HEARTBEAT') && names.has('ATTITUDE'), 'HEARTBEAT and ATTITUDE over TCP');
    expect(d.hub.stats()).toEqual([expect.objectContaining({ kind: 'tcp', role: 'observer' })]);
  });
});

describe('residency rules per client role', () => {
  it('an observer receives no positions when its role\'s rule drops them; a pilot does; the vehicle tree follows the same rule', async () => {
    const d = await deck({ tokens: [{ name: 'alice', role: 'pilot' }, { name: 'eve', role: 'observer' }], policy: { rules: [{ to: 'role:observer', redact: { position: 'drop' } }] } });
    const eve = await d.connect('/v1/ws/mavlink', { token: d.tokens.eve! });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const seen = await eve.typesUntil('ATTITUDE', 30, '30 ATTITUDE at the observer');
    expect(seen.has('GLOBAL_POSITION_INT') || seen.has('GPS_RAW_INT')).toBe(false);
    await alice.telemetry('GLOBAL_POSITION_INT');
    const asObserver = (await d.http('GET', '/v1/mavlink/vehicles/1/components/1/messages', { token: d.tokens.eve! })).body as Record<string, unknown>;
    const asPilot = (await d.http('GET', '/v1/mavlink/vehicles/1/components/1/messages', { token: d.tokens.alice! })).body as Record<string, unknown>;
    expect(Object.keys(asObserver)).toContain('ATTITUDE');
    expect(Object.keys(asObserver)).not.toContain('GLOBAL_POSITION_INT');
    expect(Object.keys(asPilot)).toContain('GLOBAL_POSITION_INT');
  });

  it('a new policy (SIGHUP) applies to connected clients: one no longer approved is disconnected, the others get the new rule', async () => {
    const d = await deck({ tokens: [{ name: 'alice', role: 'pilot' }, { name: 'eve', role: 'observer' }] });
    const eve = await d.connect('/v1/ws/mavlink', { token: d.tokens.eve! });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    await alice.telemetry('GLOBAL_POSITION_INT');
    const eveClosed = new Promise<void>((resolve) => eve.ws.once('close', () => resolve()));
    const stricter = parsePolicy({ client_networks: [{ cidr: '127.0.0.0/8', roles: ['pilot'] }], rules: [{ to: 'role:pilot', redact: { position: 'drop' } }] }, 'stricter');
    d.gateway.gate.applyPolicy(stricter);
    // Judged at once, as the policy took force: eve is already off the router.
    expect([...d.hub.sessions.values()].map((s) => s.principal.name)).toEqual(['alice']);
    await eveClosed;
    const seen = await alice.typesUntil('ATTITUDE', 30, '30 ATTITUDE at the pilot under the new policy');
    expect(seen.has('GLOBAL_POSITION_INT')).toBe(false);
    expect([...d.hub.sessions.values()].map((s) => s.principal.name)).toEqual(['alice']);
  });
});
