/**
 * Coalesced sends on real loopback sockets: the frames a link is given in one turn of the
 * event loop leave as one datagram (or one write), whole and in order, within the size
 * limit, never mixed between destinations, filtered per destination, and never after the
 * destination was revoked. A lone frame leaves in the turn it was written: no timer.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket as TcpSocket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { type Endpoint, parseEndpoint } from '../src/links/endpoint.js';
import type { VehicleLink } from '../src/links/link.js';
import { udpBackend } from '../src/links/datagram-socket.js';
import { DEFAULT_DATAGRAM_BYTES, openTurn, SendBatch, settleTurn } from '../src/links/send-batch.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { parseGcsEndpoint } from '../src/cli/server-flags.js';
import { decodeAll, type Frame, FrameDecoder } from '../src/mavlink/index.js';
import { EgressGate } from '../src/residency/gate.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { attitude, frame, heartbeat, registry } from './helpers/frames.js';
import { Deck } from './helpers/clients.js';
import { grantedLinkFor } from './helpers/gate.js';
import { LoopbackPeer } from './helpers/loopback.js';
import { PtyPair } from './helpers/socat.js';
import { freeUdpPort } from './helpers/ports.js';
import { until } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-coalesce-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const turnEnd = () => new Promise<void>((resolve) => setImmediate(resolve));

async function receiver(address = '127.0.0.1'): Promise<LoopbackPeer> {
  const peer = await LoopbackPeer.open(address);
  cleanup.push(() => peer.close());
  return peer;
}

async function udpLink(text: string, id = 'out'): Promise<UdpLink> {
  const link = (await grantedLinkFor(text, id)) as UdpLink;
  await link.open();
  cleanup.push(() => link.close());
  return link;
}

/** A gateway relaying from a UDP listener to a loopback sink, and a vehicle to send into it. */
async function relay(): Promise<{ sink: LoopbackPeer; vehicle: LoopbackPeer; gateway: Gateway; inLink: UdpLink }> {
  const sink = await receiver();
  const vehicle = await receiver();
  const gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint(`udp:127.0.0.1:${sink.port}`)] });
  await gateway.start();
  cleanup.push(() => gateway.stop());
  return { sink, vehicle, gateway, inLink: gateway.links[0]!.link as UdpLink };
}

/** A UDP endpoint with its coalesce setting, as the config file gives it. */
const udp = (text: string, coalesce: number | boolean) => ({ ...parseEndpoint(text), coalesce }) as Endpoint;

/** Attitude frames numbered 0..n-1 by their sequence number. */
const attitudes = (n: number) => Array.from({ length: n }, (_, i) => attitude(i));
const seqs = (datagrams: Buffer[]) => datagrams.flatMap((d) => decodeAll(registry, d).frames.map((f) => f.seq));

describe('a UDP link', () => {
  it('sends the first frame of a turn at once and the rest of that turn as one datagram of whole frames, in order, counted apart', async () => {
    const sink = await receiver();
    const link = await udpLink(`udp:127.0.0.1:${sink.port}`);
    for (const f of attitudes(10)) expect(link.write(f)).toBe(true);
    expect(link.counters).toMatchObject({ framesOut: 1, datagramsOut: 1 });
    await until(() => sink.datagrams.length >= 2, 'the datagrams');
    await sink.sync();
    expect(sink.datagrams).toHaveLength(2);
    const [first, rest] = sink.datagrams.map((d) => decodeAll(registry, d));
    expect(first!.frames.map((f) => f.seq)).toEqual([0]);
    expect(rest!.frames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(first!.stats.crcErrors + rest!.stats.crcErrors + rest!.stats.bytesSkipped).toBe(0);
    expect(link.counters).toMatchObject({ framesOut: 10, datagramsOut: 2, bytesOut: 10 * attitude().length });
  });

  it('sends a lone frame when it is written, with no timer, and the next frame of that turn before the next turn begins', async () => {
    const sink = await receiver();
    const link = await udpLink(`udp:127.0.0.1:${sink.port}`);
    const trigger = createSocket('udp4');
    cleanup.push(() => new Promise<void>((r) => trigger.close(() => r())));
    await new Promise<void>((r) => trigger.bind(0, '127.0.0.1', r));
    // Written from an I/O callback, as the router writes: this turn's immediates run before any timer of the next.
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const seen = new Promise<{ atWrite: number; sameTurn: number; timersBefore: number; timersAfter: number }>((resolve) => {
      trigger.once('message', () => {
        const timersBefore = timers();
        link.write(heartbeat(0));
        const atWrite = link.counters.datagramsOut;
        link.write(heartbeat(1));
        const timersAfter = timers();
        setImmediate(() => resolve({ atWrite, sameTurn: link.counters.datagramsOut, timersBefore, timersAfter }));
      });
    });
    trigger.send(Buffer.from('go'), trigger.address().port, '127.0.0.1');
    const { atWrite, sameTurn, timersBefore, timersAfter } = await seen;
    expect(atWrite).toBe(1);
    expect(sameTurn).toBe(2);
    expect(timersAfter).toBe(timersBefore);
    await until(() => sink.frames.length === 2, 'the heartbeats at the sink');
  });

  it('starts a new datagram when the next frame would pass the size limit, and never splits a frame', async () => {
    const sink = await receiver();
    const link = await udpLink(`udp:127.0.0.1:${sink.port}`);
    // 100 frames of 40 bytes: 4,000 bytes, more than three datagrams' worth (the first frame leaves alone).
    for (const f of attitudes(100)) link.write(f);
    await turnEnd();
    const size = attitude().length;
    const perDatagram = Math.floor(DEFAULT_DATAGRAM_BYTES / size);
    expect(link.counters.datagramsOut).toBe(1 + Math.ceil(99 / perDatagram));
    await until(() => sink.frames.length === 100, 'every frame');
    expect(sink.datagrams.every((d) => d.length <= DEFAULT_DATAGRAM_BYTES && d.length % size === 0)).toBe(true);
    expect(sink.datagrams.slice(0, 2).map((d) => d.length)).toEqual([size, perDatagram * size]);
    expect(seqs(sink.datagrams)).toEqual([...Array(100).keys()]);
  });

  it('takes its size limit from the endpoint, and sends one frame per datagram when told not to coalesce', async () => {
    const sink = await receiver();
    const small = new Gateway({ links: [udp(`udp:127.0.0.1:${sink.port}`, 3 * attitude().length)] });
    await small.start();
    cleanup.push(() => small.stop());
    for (const f of attitudes(7)) small.links[0]!.link.write(f);
    await until(() => sink.frames.length === 7, 'seven frames');
    expect(sink.datagrams.map((d) => decodeAll(registry, d).frames.length)).toEqual([1, 3, 3]);

    const single = await receiver();
    const off = new Gateway({ links: [udp(`udp:127.0.0.1:${single.port}`, false)] });
    await off.start();
    cleanup.push(() => off.stop());
    const link = off.links[0]!.link;
    for (const f of attitudes(5)) link.write(f);
    expect(link.counters.datagramsOut).toBe(5);
    await until(() => single.datagrams.length === 5, 'five datagrams');
    expect(single.datagrams.map((d) => decodeAll(registry, d).frames.length)).toEqual([1, 1, 1, 1, 1]);
  });

  it('never puts frames for two peers in one datagram: a listener that changes peer sends what it queued to the one before', async () => {
    const listener = await udpLink('udp-listen:127.0.0.1:0', 'listener');
    const a = await receiver();
    const b = await receiver();
    const sameTurn: boolean[] = [];
    let turnPassed = false;
    listener.data$.subscribe((chunk) => {
      // Each peer is answered in the turn its datagram arrives; both arrive in one turn here.
      if (chunk.toString() === 'from a') {
        listener.write(attitude(1));
        listener.write(attitude(2));
        setImmediate(() => (turnPassed = true));
      } else {
        sameTurn.push(!turnPassed);
        listener.write(attitude(3));
      }
    });
    a.send(Buffer.from('from a'), listener.localPort);
    b.send(Buffer.from('from b'), listener.localPort);
    await until(() => a.frames.length === 2 && b.frames.length === 1, 'the answers');
    await Promise.all([a.sync(), b.sync()]);
    expect(sameTurn).toEqual([true]);
    expect(seqs(a.datagrams)).toEqual([1, 2]);
    expect(seqs(b.datagrams)).toEqual([3]);
    // 1 at once, 2 when the peer changed, 3 at the end of the turn: no datagram holds frames for both.
    expect([a.datagrams.length, b.datagrams.length]).toEqual([2, 1]);
  });
});

describe('a turn the native path opens', () => {
  it('holds what it queues until the caller settles it, with no end-of-turn timer of its own, then sends it as one batch', async () => {
    const sent: number[] = [];
    const batch = new SendBatch(DEFAULT_DATAGRAM_BYTES, (_data, _bytes, frames) => sent.push(frames));
    openTurn();
    try {
      batch.add(attitude(1));
      batch.add(attitude(2));
      // Had the batch scheduled a setImmediate, it would have run before this one.
      await turnEnd();
      expect(sent).toEqual([]);
    } finally {
      settleTurn();
    }
    expect(sent).toEqual([2]);
    // Outside an opened turn the batch settles itself at the end of the turn, as before.
    batch.add(attitude(3));
    await turnEnd();
    expect(sent).toEqual([2, 1]);
  });

  it('ends with the wake-up that opened it: a frame written later from a timer still leaves at the end of its own turn', async () => {
    const { sink, vehicle, gateway, inLink } = await relay();
    const outLink = gateway.links[1]!.link;
    for (const f of attitudes(5)) vehicle.send(f, inLink.localPort);
    await until(() => sink.frames.length === 5, 'the relayed burst');
    // Two frames in one timer turn: the first leaves at once, the second only if that turn is settled by its own end.
    setTimeout(() => {
      outLink.write(attitude(100));
      outLink.write(attitude(101));
    }, 1);
    await until(() => sink.frames.length === 7, 'both frames written from the timer');
    expect(sink.frames.slice(5).map((f) => f.seq)).toEqual([100, 101]);
  });
});

describe('through the gateway', () => {
  it('relays a burst of single-frame datagrams in fewer, larger datagrams, every frame once and in order', async () => {
    const { sink, vehicle, gateway, inLink } = await relay();
    const inPort = inLink.localPort;
    // Sent in one go: the gateway reads them in the same turn (libuv reads a socket's queue in batches).
    for (const f of attitudes(50)) vehicle.send(f, inPort);
    await until(() => sink.frames.length === 50, 'every frame at the sink');
    expect(seqs(sink.datagrams)).toEqual([...Array(50).keys()]);
    const out = gateway.stats().links[1]!;
    expect(out.framesOut).toBe(50);
    expect(out.datagramsOut).toBe(sink.datagrams.length);
    expect(out.datagramsOut).toBeLessThan(50);
  });

  it('applies each destination\'s residency rule to every frame of a coalesced datagram', async () => {
    const redacted = await receiver('127.0.0.1');
    const plain = await receiver('127.0.0.3');
    const vehicle = await receiver();
    const gate = new EgressGate(parsePolicy({
      approved_sinks: { directories: [dir], networks: [{ cidr: '127.0.0.1/32' }, { cidr: '127.0.0.3/32' }] },
      listen: ['127.0.0.1/32'],
      rules: [{ to: '127.0.0.1/32', redact: { position: { grid_m: 1000 }, identity: 'drop' } }],
    }, 'a redacting policy'));
    const gateway = new Gateway({ gate, links: [parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint(`udp:127.0.0.1:${redacted.port}`), parseEndpoint(`udp:127.0.0.3:${plain.port}`)] });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const position = (seq: number) => frame({ name: 'GLOBAL_POSITION_INT', fields: { time_boot_ms: seq, lat: 473_977_123, lon: 85_455_987, alt: 500_000 } }, { seq });
    const identity = (seq: number) => frame({ name: 'AUTOPILOT_VERSION', fields: { flight_sw_version: 42 } }, { seq });
    const burst = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? position(i) : i % 3 === 1 ? identity(i) : attitude(i)));
    const inPort = (gateway.links[0]!.link as UdpLink).localPort;
    for (const f of burst) vehicle.send(f, inPort);
    await until(() => plain.frames.length === 30 && redacted.frames.length === 20, 'both destinations');
    await Promise.all([plain.sync(), redacted.sync()]);
    expect(redacted.datagrams.some((d) => decodeAll(registry, d).frames.length > 1)).toBe(true);
    expect(redacted.frames.map((f) => f.name)).not.toContain('AUTOPILOT_VERSION');
    for (const f of redacted.frames.filter((f) => f.name === 'GLOBAL_POSITION_INT')) {
      expect(f.decode()!.lat).not.toBe(473_977_123);
      expect(Math.abs((f.decode()!.lat as number) - 473_977_123)).toBeLessThan(100_000);
    }
    expect(plain.frames.map((f) => f.seq)).toEqual([...Array(30).keys()]);
    expect(plain.frames.filter((f) => f.name === 'GLOBAL_POSITION_INT').every((f) => f.decode()!.lat === 473_977_123)).toBe(true);
  });

  it('sends nothing a revoked destination still had queued: what waited for the end of the turn the policy changed stays here', async () => {
    const approved = await receiver('127.0.0.1');
    const revoked = await receiver('127.0.0.3');
    const vehicle = await receiver();
    const policy = (extra: string[]) => parsePolicy({
      approved_sinks: { directories: [dir], networks: [{ cidr: '127.0.0.1/32' }, ...extra.map((cidr) => ({ cidr }))] },
      listen: ['127.0.0.1/32'],
    }, `policy with ${extra.join(', ') || 'loopback only'}`);
    const gate = new EgressGate(policy(['127.0.0.3/32']));
    const gateway = new Gateway({ gate, links: [parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint(`udp:127.0.0.1:${approved.port}`), parseEndpoint(`udp:127.0.0.3:${revoked.port}`)] });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const revokedLink: VehicleLink = gateway.links[2]!.link;
    const inLink = gateway.links[0]!.link;
    let queuedAtRevocation = -1;
    inLink.data$.subscribe(() => {
      // The gateway's own subscriber ran first: this datagram's first frame has left (approved then), its second waits in both links' batches.
      if (queuedAtRevocation >= 0) return;
      queuedAtRevocation = revokedLink.counters.datagramsOut;
      gate.applyPolicy(policy([]));
    });
    vehicle.send(Buffer.concat([attitude(7), attitude(8)]), (inLink as UdpLink).localPort);
    await until(() => approved.frames.length === 2, 'both frames at the approved destination');
    await turnEnd();
    await turnEnd();
    await revoked.sync();
    expect(queuedAtRevocation).toBe(1);
    expect(revoked.frames.map((f) => f.seq)).toEqual([7]);
    expect(revokedLink.counters).toMatchObject({ datagramsOut: 1, writesDropped: 1 });
    expect(gateway.links.map((h) => h.link.endpoint.text)).not.toContain(revokedLink.endpoint.text);
  });
});

describe('ground-station endpoints', () => {
  /** A deck whose simulated vehicle is nearly silent, so that what a test injects is what its peers get. */
  async function quietDeck(gcs: string) {
    const d = await Deck.start({ sim: { rate: 0.01 }, gcs: [{ endpoint: parseGcsEndpoint(gcs) }] });
    cleanup.push(() => d.stop());
    const port = d.gateway.links[0]!.port;
    const vehicle = new FrameDecoder(registry, (f) => d.gateway.router.route(f, port));
    /** Frames as if the vehicle sent them, all in this turn: DEBUG frames numbered by `ind`. */
    const inject = (from: number, n: number) => {
      for (let i = from; i < from + n; i++) vehicle.push(frame({ name: 'DEBUG', fields: { time_boot_ms: i, ind: i, value: 0.5 } }, { seq: i & 0xff }));
    };
    return { d, inject };
  }
  /**
   * The simulator delivers its frames from Immediates, so one may have opened the current
   * turn already (and with it taken the turn's "first frame at once"): what waits is sent
   * now, and the frames injected next open a turn of their own.
   */
  const injectInATurnOfItsOwn = () => settleTurn();
  const debugInds = (frames: Frame[]) => frames.filter((f) => f.name === 'DEBUG').map((f) => f.decode()!.ind);
  /** The DEBUG frames of each datagram that holds any, by `ind`. */
  const debugDatagrams = (datagrams: Buffer[]) => datagrams.map((g) => debugInds(decodeAll(registry, g).frames)).filter((inds) => inds.length > 0);

  it('a UDP ground station gets the first frame of a turn at once and the rest of that turn in one datagram, counted in /v1/stats', async () => {
    const { d, inject } = await quietDeck('udp-listen:127.0.0.1:0');
    const qgc = await receiver();
    // Any datagram makes it a client; one that is no MAVLink frame asks for nothing an observer would be refused (and answered).
    qgc.send(Buffer.from('hello'), d.services!.gcs[0]!.localPort);
    await until(() => d.hub.sessions.size === 1, 'the ground station as a client');
    injectInATurnOfItsOwn();
    inject(0, 20);
    await until(() => debugInds(qgc.frames).length === 20, 'the DEBUG frames at the ground station');
    expect(debugInds(qgc.frames)).toEqual([...Array(20).keys()]);
    expect(debugDatagrams(qgc.datagrams)).toEqual([[0], [...Array(20).keys()].slice(1)]);
    const [client] = ((await d.http('GET', '/v1/stats')).body as { clients: { received: number; datagrams: number }[] }).clients;
    expect(client!.received).toBeGreaterThanOrEqual(20);
    expect(client!.datagrams).toBe(qgc.datagrams.length);
  });

  it('a ground station mavgate sends to (QGroundControl listening on 14550) gets the same two datagrams for the turn', async () => {
    const qgc = await receiver();
    const { d, inject } = await quietDeck(`udp:127.0.0.1:${qgc.port}`);
    await until(() => d.hub.sessions.size === 1, 'the ground station as a client');
    injectInATurnOfItsOwn();
    inject(0, 20);
    await until(() => debugInds(qgc.frames).length === 20, 'the DEBUG frames at the ground station');
    expect(debugInds(qgc.frames)).toEqual([...Array(20).keys()]);
    expect(debugDatagrams(qgc.datagrams)).toEqual([[0], [...Array(20).keys()].slice(1)]);
  });

  it('a ground station the new policy refuses gets nothing that was queued for it in that turn (the turn\'s first frame left before, approved then)', async () => {
    const { d, inject } = await quietDeck('udp-listen:127.0.0.1:0');
    const qgc = await receiver();
    // Any datagram makes it a client; one that is no MAVLink frame asks for nothing an observer would be refused (and answered).
    qgc.send(Buffer.from('hello'), d.services!.gcs[0]!.localPort);
    await until(() => d.hub.sessions.size === 1, 'the ground station as a client');
    const session = [...d.hub.sessions.values()][0]!;
    const routedBefore = session.port.framesOut;
    injectInATurnOfItsOwn();
    const datagramsBefore = session.queue.datagrams!;
    inject(0, 10);
    expect(session.port.framesOut - routedBefore).toBe(10);
    // The turn's first frame has left at once, approved then; the nine behind it wait for the end of the turn.
    expect(session.queue.datagrams! - datagramsBefore).toBe(1);
    // Observers only from 127.0.0.9 now: the hub closes the session at once, the endpoint stays up.
    d.gateway.gate.applyPolicy(parsePolicy({ approved_sinks: { directories: [d.dir] }, client_networks: [{ cidr: '127.0.0.9/32', roles: ['observer'] }, { cidr: '127.0.0.1/32', roles: ['admin'] }] }, 'observers elsewhere'));
    expect(d.hub.sessions.size).toBe(0);
    await turnEnd();
    await turnEnd();
    await qgc.sync();
    expect(debugInds(qgc.frames)).toEqual([0]);
    expect(qgc.datagrams).toHaveLength(session.queue.datagrams!);
    expect(session.queue.dropped).toBeGreaterThanOrEqual(9);
  });

  it('a TCP ground station gets one write per turn', async () => {
    const { d, inject } = await quietDeck('tcp-listen:127.0.0.1:0');
    const socket = connect(d.services!.gcs[0]!.localPort, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    const got: Frame[] = [];
    const decoder = new FrameDecoder(registry, (f) => got.push(f.clone()));
    socket.on('data', (chunk) => decoder.push(chunk));
    await until(() => d.hub.sessions.size === 1, 'the ground station as a client');
    const writes = () => (d.hub.stats()[0] as { datagrams: number }).datagrams;
    const before = writes();
    inject(0, 20);
    await turnEnd();
    expect(writes() - before).toBe(1);
    await until(() => debugInds(got).length === 20, 'the DEBUG frames over TCP');
    expect(debugInds(got)).toEqual([...Array(20).keys()]);
  });
});

describe('the setting', () => {
  it('is read per link and per ground-station endpoint from the config, naming the key when it makes no sense', async () => {
    const { parseConfig } = await import('../src/cli/config.js');
    const config = parseConfig({
      links: [{ endpoint: 'udp:127.0.0.1:14560', coalesce: false, receive_buffer_bytes: 262144 }, { endpoint: 'tcp:127.0.0.1:5760', coalesce: 4096 }, 'udp-listen:127.0.0.1:14550'],
      gcs: [{ endpoint: 'udp-listen:127.0.0.1:14551', coalesce: false }],
    }, 'g.yaml');
    expect(config.links).toMatchObject([{ kind: 'udp', coalesce: false, receiveBufferBytes: 262144 }, { kind: 'tcp', coalesce: 4096 }, { kind: 'udp-listen' }]);
    expect(config.links[2]).not.toHaveProperty('coalesce');
    expect(config.server.gcs).toMatchObject([{ endpoint: { kind: 'udp-listen', coalesce: false } }]);
    expect(() => parseConfig({ links: [{ endpoint: 'sim', coalesce: false }] }, 'g.yaml')).toThrow(/g\.yaml: links\[0\]\.coalesce: sim links are in-process/);
    expect(() => parseConfig({ links: [{ endpoint: 'tcp:127.0.0.1:5760', receive_buffer_bytes: 65536 }] }, 'g.yaml')).toThrow(/links\[0\]\.receive_buffer_bytes: only UDP links/);
    expect(() => parseConfig({ links: [{ endpoint: 'udp:127.0.0.1:14560', coalesce: 100 }] }, 'g.yaml')).toThrow(/links\[0\]\.coalesce/);
  });

  it.each(udpBackend.backend === 'recvmmsg' ? ['recvmmsg', 'dgram'] : ['dgram'])('on the %s UDP back end: --no-coalesce turns it off for every link; --udp-receive-buffer sizes every UDP link; /v1/stats tells both', async (backend) => {
    const { MavgateProcess } = await import('./helpers/process.js');
    const sink = await receiver();
    const vehicle = await receiver();
    const inPort = await freeUdpPort();
    const gw = MavgateProcess.start(['run', '--link', `udp-listen:127.0.0.1:${inPort}`, '--link', `udp:127.0.0.1:${sink.port}`, '--no-coalesce', '--udp-receive-buffer', '262144', '--status-interval', '0', '--no-record', '--listen', '127.0.0.1:0'], true, backend === 'dgram' ? { MAVGATE_UDP: 'dgram' } : {});
    cleanup.push(() => gw.stop());
    await gw.waitFor(/clients: http:\/\/127\.0\.0\.1:\d+\//);
    const base = /clients: (http:\/\/127\.0\.0\.1:\d+)\//.exec(gw.stderr)![1]!;
    for (const f of attitudes(20)) vehicle.send(f, inPort);
    await until(() => sink.frames.length === 20, 'the frames at the sink');
    expect(sink.datagrams.every((d) => decodeAll(registry, d).frames.length === 1)).toBe(true);
    const { links } = (await (await fetch(`${base}/v1/stats`)).json()) as { links: { framesOut: number; datagramsOut: number; receiveBufferBytes: number; udpBackend: string; udpBackendReason?: string }[] };
    expect(links[1]).toMatchObject({ framesOut: 20, datagramsOut: 20 });
    expect(links.map((l) => l.udpBackend)).toEqual([backend, backend]);
    if (backend === 'dgram') {
      expect(links.map((l) => l.udpBackendReason)).toEqual(['MAVGATE_UDP=dgram', 'MAVGATE_UDP=dgram']);
      expect(gw.stderr).toMatch(/UDP on Node's dgram, not the native recvmmsg path: udp-listen:127\.0\.0\.1:\d+ \(MAVGATE_UDP=dgram\); udp:127\.0\.0\.1:\d+ \(MAVGATE_UDP=dgram\)/);
    } else {
      expect(links.every((l) => l.udpBackendReason === undefined)).toBe(true);
      expect(gw.stderr).not.toMatch(/Node's dgram/);
    }
    // Linux doubles what it is asked for (for its own bookkeeping) and reports that.
    expect(links.map((l) => l.receiveBufferBytes)).toEqual([2 * 262144, 2 * 262144]);
  });
});

describe('byte streams', () => {
  it('a TCP link writes what one turn gave it in one write', async () => {
    const received: Buffer[] = [];
    const server = createServer((socket: TcpSocket) => socket.on('data', (d) => received.push(d)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const link = await grantedLinkFor(`tcp:127.0.0.1:${port}`);
    cleanup.push(() => link.close());
    await link.open();
    await until(() => link.write(heartbeat()), 'the connection');
    await until(() => Buffer.concat(received).length === heartbeat().length, 'the first frame');
    for (const f of attitudes(20)) link.write(f);
    await turnEnd();
    expect(link.counters).toMatchObject({ framesOut: 21, datagramsOut: 2 });
    await until(() => Buffer.concat(received).length === heartbeat().length + 20 * attitude().length, 'every byte');
    expect(decodeAll(registry, Buffer.concat(received)).frames.map((f) => f.seq)).toEqual([0, ...Array(20).keys()]);
  });

  it('a serial link writes what one turn gave it in one write', async () => {
    const pty = await PtyPair.start(dir, 'serial');
    cleanup.push(() => pty.stop());
    const a = await grantedLinkFor(`serial:${pty.a}:57600`, 'a');
    const b = await grantedLinkFor(`serial:${pty.b}:57600`, 'b');
    cleanup.push(() => a.close(), () => b.close());
    await a.open();
    await b.open();
    const chunks: Buffer[] = [];
    b.data$.subscribe((c) => chunks.push(c));
    for (const f of attitudes(8)) a.write(f);
    await turnEnd();
    expect(a.counters).toMatchObject({ framesOut: 8, datagramsOut: 1 });
    await until(() => Buffer.concat(chunks).length === 8 * attitude().length, 'every byte at the other end');
    expect(decodeAll(registry, Buffer.concat(chunks)).frames.map((f) => f.seq)).toEqual([...Array(8).keys()]);
  });
});
