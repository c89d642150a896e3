/**
 * The UDP sockets under every UDP link, on both back ends (native recvmmsg and Node's
 * dgram), with real sockets on loopback: the same datagrams, senders and errors from each.
 */
import { execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { backendFor, createDatagramSocket, type DatagramSocket, type UdpBackend, udpBackend } from '../src/links/datagram-socket.js';
import { until } from './helpers/wait.js';

interface Heard {
  bytes: Buffer;
  address: string;
  port: number;
}

const open: Array<DatagramSocket | Socket> = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    if ('bind' in s && 'backend' in s) await s.close();
    else await new Promise<void>((resolve) => (s as Socket).close(() => resolve()));
  }
});

function listener(backend: UdpBackend, family: 4 | 6 = 4): { socket: DatagramSocket; heard: Heard[]; errors: NodeJS.ErrnoException[] } {
  const heard: Heard[] = [];
  const errors: NodeJS.ErrnoException[] = [];
  const socket = createDatagramSocket(family === 6 ? '::1' : '127.0.0.1', { datagram: (bytes, address, port) => heard.push({ bytes, address, port }), error: (err) => errors.push(err) }, backend);
  open.push(socket);
  return { socket, heard, errors };
}

async function sender(address = '127.0.0.1', type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const socket = createSocket(type);
  open.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => resolve());
  });
  return socket;
}

function send(from: Socket, bytes: Uint8Array, port: number, address = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => from.send(bytes, port, address, (err) => (err ? reject(err) : resolve())));
}

it('on Linux the native recvmmsg path is built and is what UDP links use (npm ci builds it)', () => {
  if (process.env.MAVGATE_UDP === 'dgram') expect(udpBackend).toEqual({ backend: 'dgram', reason: 'MAVGATE_UDP=dgram' });
  else if (process.platform === 'linux') expect(udpBackend).toEqual({ backend: 'recvmmsg' });
  else expect(udpBackend.backend).toBe('dgram');
});

it('says a MAVGATE_UDP value it does not know, and ignores it', () => {
  const probe = (value: string) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', "const m = await import('./dist/links/datagram-socket.js'); console.log(JSON.stringify(m.udpBackend))"], {
    cwd: resolve(import.meta.dirname, '..'), env: { ...process.env, MAVGATE_UDP: value }, encoding: 'utf8',
  })) as typeof udpBackend;
  const bogus = probe('bogus');
  expect(bogus.warning).toBe('MAVGATE_UDP="bogus" is not dgram, recvmmsg or auto: ignored');
  expect(bogus.backend).toBe(probe('auto').backend);
  expect(probe('DGRAM')).toEqual({ backend: 'dgram', reason: 'MAVGATE_UDP=dgram' });
  expect(probe('auto').warning).toBeUndefined();
});

it('keeps sockets that could meet a link-local IPv6 peer on dgram, which carries the scope (fe80::1%eth0)', () => {
  const native = udpBackend.backend;
  expect(['127.0.0.1', '0.0.0.0', '::1', '2001:db8::1'].map(backendFor)).toEqual([native, native, native, native]);
  expect(['::', 'fe80::1', 'FE80::1', 'fe80::1%eth0', 'febf::2'].map(backendFor)).toEqual(['dgram', 'dgram', 'dgram', 'dgram', 'dgram']);
});

const backends: UdpBackend[] = udpBackend.backend === 'recvmmsg' ? ['recvmmsg', 'dgram'] : ['dgram'];

describe.each(backends)('a UDP socket on the %s back end', (backend) => {
  it('receives any sequence of datagrams whole and in order, each with its sender (property)', async () => {
    const { socket, heard } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const from = await sender();
    const fromPort = from.address().port;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 0, maxLength: 1500 }), { minLength: 1, maxLength: 80 }), async (datagrams) => {
        heard.length = 0;
        // Sent back to back without waiting: several arrive in one wake-up, as a fast vehicle's do.
        await Promise.all(datagrams.map((d) => send(from, d, socket.localPort())));
        await until(() => heard.length >= datagrams.length, `${datagrams.length} datagrams`);
        expect(heard.map((h) => [...h.bytes])).toEqual(datagrams.map((d) => [...d]));
        expect(heard.every((h) => h.address === '127.0.0.1' && h.port === fromPort)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('hands on an empty datagram as empty, alone or between others', async () => {
    const { socket, heard } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const from = await sender();
    await send(from, new Uint8Array(0), socket.localPort());
    await until(() => heard.length === 1, 'a lone empty datagram');
    await Promise.all([new Uint8Array([7]), new Uint8Array(0), new Uint8Array([8, 9])].map((d) => send(from, d, socket.localPort())));
    await until(() => heard.length === 4, 'three more datagrams');
    expect(heard.map((h) => [...h.bytes])).toEqual([[], [7], [], [8, 9]]);
  });

  it('receives the largest datagram UDP carries over IPv4 (65,507 bytes) untruncated', async () => {
    const { socket, heard } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const from = await sender();
    const big = Buffer.alloc(65_507, 0x5a);
    big.writeUInt32BE(0xdeadbeef, 65_503);
    await send(from, big, socket.localPort());
    await send(from, Buffer.from([1, 2, 3]), socket.localPort());
    await until(() => heard.length === 2, 'two datagrams');
    expect(heard[0]!.bytes.equals(big)).toBe(true);
    expect([...heard[1]!.bytes]).toEqual([1, 2, 3]);
  });

  it('keeps the bytes a held datagram showed after many more arrive (frames are views into what arrived)', async () => {
    const { socket, heard } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const from = await sender();
    await send(from, Buffer.from('first datagram, held'), socket.localPort());
    await until(() => heard.length === 1, 'the first datagram');
    const held = heard[0]!.bytes;
    for (let round = 1; round <= 10; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => send(from, Buffer.alloc(200, i), socket.localPort())));
      await until(() => heard.length === 1 + round * 100, `round ${round} of 100 datagrams (${heard.length - 1} so far)`);
    }
    expect(held.toString()).toBe('first datagram, held');
  });

  it('tells senders apart by address and port', async () => {
    const { socket, heard } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const a = await sender('127.0.0.1');
    const b = await sender('127.0.0.3');
    for (let i = 0; i < 6; i++) await send(i % 2 === 0 ? a : b, Buffer.from([i]), socket.localPort());
    await until(() => heard.length === 6, 'six datagrams');
    expect(heard.map((h) => `${h.bytes[0]} ${h.address}:${h.port}`)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `${i} ${i % 2 === 0 ? '127.0.0.1' : '127.0.0.3'}:${(i % 2 === 0 ? a : b).address().port}`),
    );
  });

  it('answers a peer: several buffers leave as one datagram, in order, without a copy by the caller', async () => {
    const { socket } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const peer = await sender();
    const received: Buffer[] = [];
    peer.on('message', (msg) => received.push(msg));
    socket.send([Buffer.from('one,'), Buffer.from('two,'), new Uint8Array([0x33])], { address: '127.0.0.1', port: peer.address().port });
    socket.send(Buffer.from('alone'), { address: '127.0.0.1', port: peer.address().port });
    await until(() => received.length === 2, 'two datagrams at the peer');
    expect(received.map(String)).toEqual(['one,two,3', 'alone']);
  });

  it('connected: sends to its peer and hears only it; a datagram from anyone else is dropped by the kernel', async () => {
    const gcs = await sender();
    const fromGcs: Buffer[] = [];
    gcs.on('message', (msg) => fromGcs.push(msg));
    const { socket, heard } = listener(backend);
    await socket.connect('127.0.0.1', gcs.address().port);
    socket.send(Buffer.from('to the gcs'));
    await until(() => fromGcs.length === 1, 'the datagram at the gcs');
    const stranger = await sender('127.0.0.2');
    await send(stranger, Buffer.from('stranger'), socket.localPort());
    await send(gcs, Buffer.from('from the gcs'), socket.localPort());
    await until(() => heard.length >= 1, 'the gcs datagram');
    expect(heard.map((h) => String(h.bytes))).toEqual(['from the gcs']);
  });

  it('reports "port unreachable" from a peer that is not listening as ECONNREFUSED, and keeps working', async () => {
    const gone = await sender();
    const port = gone.address().port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    open.splice(open.indexOf(gone), 1);
    const { socket, errors } = listener(backend);
    await socket.connect('127.0.0.1', port);
    socket.send(Buffer.from('anyone?'));
    await until(() => errors.length > 0, 'the ICMP error');
    expect(errors[0]!.code).toBe('ECONNREFUSED');
    const back = await sender('127.0.0.1');
    const later: Buffer[] = [];
    back.on('message', (msg) => later.push(msg));
    const other = listener(backend);
    await other.socket.connect('127.0.0.1', back.address().port);
    other.socket.send(Buffer.from('still here'));
    await until(() => later.length === 1, 'a send after the error');
  });

  it('keeps hearing its peer after a storm of "port unreachable" errors that its own sends also report', async () => {
    // The ground station is not up yet: every send draws an ICMP error, which either the
    // next send or the poll reports. Once it is up, its datagrams must still be heard.
    const gone = await sender();
    const gcsPort = gone.address().port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    open.splice(open.indexOf(gone), 1);
    const toGcs = listener(backend);
    await toGcs.socket.connect('127.0.0.1', gcsPort);
    let relayed = 0;
    const vehicleSide = createDatagramSocket('127.0.0.1', { datagram: (bytes) => {
      toGcs.socket.send(bytes);
      relayed++;
    }, error: () => {} }, backend);
    open.push(vehicleSide);
    await vehicleSide.bind('127.0.0.1', 0);
    const vehicle = await sender();
    for (let burst = 0; burst < 20; burst++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => send(vehicle, Buffer.from([burst, i]), vehicleSide.localPort())));
      await until(() => relayed === (burst + 1) * 10, `burst ${burst} relayed`);
    }
    expect(toGcs.errors.every((e) => e.code === 'ECONNREFUSED')).toBe(true);
    const gcs = await sender();
    await new Promise<void>((resolve) => gcs.close(() => resolve()));
    open.splice(open.indexOf(gcs), 1);
    const up = createSocket('udp4');
    open.push(up);
    await new Promise<void>((resolve) => up.bind(gcsPort, '127.0.0.1', () => resolve()));
    await send(up, Buffer.from('gcs here'), toGcs.socket.localPort());
    await until(() => toGcs.heard.length === 1, 'the ground station heard once it is up');
    expect(String(toGcs.heard[0]!.bytes)).toBe('gcs here');
  });

  it('refuses a busy port with EADDRINUSE', async () => {
    const first = listener(backend);
    await first.socket.bind('127.0.0.1', 0);
    const second = listener(backend);
    await expect(second.socket.bind('127.0.0.1', first.socket.localPort())).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('sets the receive buffer the kernel grants (Linux doubles what was asked)', async () => {
    const { socket } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const granted = socket.setReceiveBuffer(65_536);
    expect(granted).toBe(socket.receiveBuffer());
    if (process.platform === 'linux') expect(granted).toBe(131_072);
  });

  it('hears nothing after close, and a second close is harmless', async () => {
    const { socket, heard } = listener(backend);
    await socket.bind('127.0.0.1', 0);
    const port = socket.localPort();
    const from = await sender();
    await send(from, Buffer.from('before'), port);
    await until(() => heard.length === 1, 'a datagram before close');
    await socket.close();
    await socket.close();
    // The port is free again: a new socket binds it and receives what the old one would have.
    const next = listener(backend);
    await next.socket.bind('127.0.0.1', port);
    await send(from, Buffer.from('after'), port);
    await until(() => next.heard.length === 1, 'the datagram at the new socket');
    expect(heard).toHaveLength(1);
  });

  it('hears nothing more once a handler closed it, not even the rest of the datagrams that arrived together', async () => {
    const heard: number[] = [];
    let socket: DatagramSocket | null = null;
    socket = createDatagramSocket('127.0.0.1', { datagram: (bytes) => {
      heard.push(bytes[0]!);
      void socket!.close();
    }, error: () => {} }, backend);
    open.push(socket);
    await socket.bind('127.0.0.1', 0);
    const from = await sender();
    const port = socket.localPort();
    // Queued before the socket is read: they arrive in one wake-up.
    await Promise.all(Array.from({ length: 20 }, (_, i) => send(from, Buffer.from([i]), port)));
    await until(() => heard.length > 0, 'the first datagram');
    const marker = listener(backend);
    await marker.socket.bind('127.0.0.1', 0);
    await send(from, Buffer.from('marker'), marker.socket.localPort());
    await until(() => marker.heard.length === 1, 'a later datagram elsewhere');
    expect(heard).toEqual([0]);
  });

  it('works over IPv6 loopback (::1)', async () => {
    const { socket, heard } = listener(backend, 6);
    await socket.bind('::1', 0);
    const from = await sender('::1', 'udp6');
    await send(from, Buffer.from('six'), socket.localPort(), '::1');
    await until(() => heard.length === 1, 'a datagram over ::1');
    expect(heard[0]).toMatchObject({ address: '::1', port: from.address().port });
    expect(String(heard[0]!.bytes)).toBe('six');
  });
});
