/**
 * Ground stations that listen and wait for a vehicle to send to them (QGroundControl on
 * UDP 14550): `--gcs udp:HOST:PORT` and `tcp:HOST:PORT`, each a destination the residency
 * gate must approve. Real loopback sockets; 127.0.0.2 is the unapproved decoy (nothing is
 * ever sent there).
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseGcsEndpoint, parseGcsFlag } from '../src/cli/server-flags.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { FrameDecoder, MAV_RESULT } from '../src/mavlink/index.js';
import { ResidencyRefusal } from '../src/residency/gate.js';
import { ClientServices } from '../src/server/client-services.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { Deck } from './helpers/clients.js';
import { registry } from './helpers/frames.js';
import { gateFor } from './helpers/gate.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { GroundStation } from './helpers/gcs.js';
import { tcpServer } from './helpers/ports.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('--gcs udp:HOST:PORT', () => {
  it('sends to a ground station that only listens, from a port of its own, and flies for it with its token', async () => {
    const qgc = await GroundStation.listening();
    cleanup.push(() => qgc.close());
    const d = await Deck.start({ tokens: [{ name: 'qgc', role: 'pilot' }], gcs: [parseGcsFlag(`udp:127.0.0.1:${qgc.port},as=qgc`)] });
    cleanup.push(() => d.stop());
    // The ground station said nothing yet: the vehicle comes to it.
    const heartbeat = await qgc.next('HEARTBEAT', (f) => f.autopilot === 3);
    expect([heartbeat.sysid, heartbeat.compid]).toEqual([1, 1]);
    const ourPort = d.services!.gcs[0]!.localPort;
    expect(ourPort).not.toBe(qgc.port);
    expect(qgc.target.port).toBe(ourPort);
    qgc.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
    const ack = qgc.next('COMMAND_ACK', (f) => f.command === 400);
    qgc.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    expect((await ack).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    expect(d.sim.armed).toBe(true);
    expect(d.hub.stats()).toEqual([expect.objectContaining({ kind: 'udp', name: 'qgc', role: 'pilot', address: `127.0.0.1:${qgc.port}` })]);
    expect(qgc.loss.losses).toEqual({});
  });

  it('keeps sending while the ground station is not running yet (port unreachable), and serves it when it starts', async () => {
    const qgc = await GroundStation.listening();
    const port = qgc.port;
    await qgc.close();
    const d = await Deck.start({ gcs: [{ endpoint: parseGcsEndpoint(`udp:127.0.0.1:${port}`) }] });
    cleanup.push(() => d.stop());
    await until(() => (d.hub.stats()[0] as { received: number } | undefined)?.received! > 20, 'frames sent into the void');
    const { createSocket } = await import('node:dgram');
    const late = createSocket('udp4');
    cleanup.push(() => new Promise((resolve) => late.close(() => resolve())));
    const names = new Set<string>();
    const decoder = new FrameDecoder(registry, (f) => names.add(f.name ?? ''));
    late.on('message', (m) => decoder.pushWhole(m));
    await new Promise<void>((resolve) => late.bind(port, '127.0.0.1', resolve));
    await until(() => names.has('HEARTBEAT') && names.has('ATTITUDE'), 'telemetry at the late ground station');
  });

  it('is refused by the residency policy before anything is sent to an address it does not approve', async () => {
    const gate = gateFor({ approved_sinks: { networks: [{ cidr: '127.0.0.1/32' }] } });
    const gateway = new Gateway({ links: [parseEndpoint('sim')], gate });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const start = ClientServices.start(gateway, { ...DEFAULT_SERVER, listen: null, gcs: [{ endpoint: parseGcsEndpoint('udp:127.0.0.2:14550') }] }, 'test', () => {});
    await expect(start).rejects.toThrow(ResidencyRefusal);
    await expect(start).rejects.toThrow(/gcs\[0\] udp:127\.0\.0\.2:14550.*127\.0\.0\.2/);
    expect(gate.recentRefusals.at(-1)).toMatchObject({ event: 'refused', details: { entry: 'gcs[0] udp:127.0.0.2:14550' } });
  });

  it('stops sending when a new policy no longer approves the address', async () => {
    const qgc = await GroundStation.listening();
    cleanup.push(() => qgc.close());
    const d = await Deck.start({ gcs: [{ endpoint: parseGcsEndpoint(`udp:127.0.0.1:${qgc.port}`) }] });
    cleanup.push(() => d.stop());
    await qgc.next('HEARTBEAT');
    // The client server's own address stays approved; the ground station's no longer is.
    const change = d.gateway.gate.applyPolicy(parsePolicy({ approved_sinks: { networks: [{ cidr: '127.0.0.3/32' }] }, listen: ['127.0.0.1/32'] }, 'stricter'));
    expect(change.revoked.map((r) => r.entry)).toEqual([`gcs[0] udp:127.0.0.1:${qgc.port}`]);
    // Judged at once, as the policy took force: nothing more is sent to it.
    expect(d.hub.sessions.size).toBe(0);
    // The sim keeps streaming at 10× rate: heartbeats at a (still approved) WebSocket client show time passing.
    const watcher = await d.connect('/v1/ws/raw');
    await watcher.frame('HEARTBEAT');
    let after = 0;
    qgc.frames$.subscribe(() => after++);
    await watcher.frame('HEARTBEAT');
    await watcher.frame('HEARTBEAT');
    expect(after).toBe(0);
  });
});

describe('--gcs tcp:HOST:PORT', () => {
  it('connects to a ground station serving TCP, and connects again when it goes away', async () => {
    const gcsServer = await tcpServer();
    cleanup.push(() => gcsServer.close());
    const first = gcsServer.nextConnection();
    const d = await Deck.start({ gcs: [{ endpoint: parseGcsEndpoint(`tcp:127.0.0.1:${gcsServer.port}`) }] });
    cleanup.push(() => d.stop());
    const heard = async (socket: Socket) => {
      const names = new Set<string>();
      const decoder = new FrameDecoder(registry, (f) => names.add(f.name ?? ''));
      socket.on('data', (c) => decoder.push(c));
      await until(() => names.has('HEARTBEAT'), 'a heartbeat over TCP');
    };
    const a = await first;
    await heard(a);
    const second = gcsServer.nextConnection();
    a.destroy();
    const b = await second;
    cleanup.push(async () => { b.destroy(); });
    await heard(b);
    expect(d.hub.stats()).toEqual([expect.objectContaining({ kind: 'tcp', role: 'observer' })]);
  });
});
