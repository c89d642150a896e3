/** Vehicle links over real loopback sockets and real pseudo-terminals. */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LinkError, type VehicleLink } from '../src/links/link.js';
import type { SerialLink } from '../src/links/serial-link.js';
import type { TcpServerLink } from '../src/links/tcp-link.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { grantedLinkFor } from './helpers/gate.js';
import { PtyPair } from './helpers/socat.js';
import { nextValue, until, waitFor } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-links-'));
const open: VehicleLink[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function track<T extends VehicleLink>(link: T): T {
  open.push(link);
  return link;
}

const link = async (text: string) => track(await grantedLinkFor(text));

describe('udp-listen', () => {
  it('learns its peer from the first datagram and replies there', async () => {
    const server = track((await grantedLinkFor('udp-listen:127.0.0.1:0', 'v')) as UdpLink);
    await server.open();
    expect(server.write(Buffer.from('nobody yet'))).toBe(false);
    expect(server.counters.writesDropped).toBe(1);

    const vehicle = createSocket('udp4');
    await new Promise<void>((r) => vehicle.bind(0, '127.0.0.1', r));
    const received = nextValue(server.data$, 'a datagram');
    vehicle.send(Buffer.from('hello'), server.localPort, '127.0.0.1');
    expect((await received).toString()).toBe('hello');
    expect(server.peerAddress).toEqual({ address: '127.0.0.1', port: vehicle.address().port });

    const reply = new Promise<Buffer>((r) => vehicle.once('message', r));
    expect(server.write(Buffer.from('reply'))).toBe(true);
    expect((await reply).toString()).toBe('reply');
    expect(server.counters).toMatchObject({ bytesIn: 5, bytesOut: 5 });
    vehicle.close();
  });

  it('refuses a port in use with a clear error naming the endpoint', async () => {
    const first = track((await grantedLinkFor('udp-listen:127.0.0.1:0', 'a')) as UdpLink);
    await first.open();
    const text = `udp-listen:127.0.0.1:${first.localPort}`;
    const second = await link(text);
    await expect(second.open()).rejects.toThrow(LinkError);
    await expect((await link(text)).open()).rejects.toThrow(`link ${text}: cannot listen: address already in use (EADDRINUSE)`);
  });
});

describe('udp', () => {
  it('sends to its fixed address and accepts datagrams only from it', async () => {
    const peer = createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    const client = track((await grantedLinkFor(`udp:127.0.0.1:${peer.address().port}`, 'c')) as UdpLink);
    await client.open();
    const atPeer = new Promise<[Buffer, { port: number }]>((r) => peer.once('message', (m, info) => r([m, info])));
    client.write(Buffer.from('ping'));
    const [msg, from] = await atPeer;
    expect(msg.toString()).toBe('ping');

    const stranger = createSocket('udp4');
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', r));
    const chunks: string[] = [];
    client.data$.subscribe((c) => chunks.push(c.toString()));
    stranger.send('injected', from.port, '127.0.0.1');
    peer.send('pong', from.port, '127.0.0.1');
    await until(() => chunks.includes('pong'), 'pong');
    expect(chunks).toEqual(['pong']);
    peer.close();
    stranger.close();
  });
});

describe('tcp', () => {
  it('connects, and reconnects with backoff when the vehicle restarts on the same port', async () => {
    let sockets: Socket[] = [];
    const listen = (port: number) => new Promise<Server>((resolve) => {
      const s = createServer((sock) => { sockets.push(sock); sock.write('hi'); });
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
    let server = await listen(0);
    const port = (server.address() as { port: number }).port;
    const client = await link(`tcp:127.0.0.1:${port}`);
    const states: string[] = [];
    client.state$.subscribe((s) => states.push(s.status));
    const data: string[] = [];
    client.data$.subscribe((c) => data.push(c.toString()));
    await client.open();
    await waitFor(client.state$, (s) => s.status === 'up', 'tcp up');
    await until(() => data.includes('hi'), 'greeting');

    const down = waitFor(client.state$, (s) => s.status === 'down', 'tcp down');
    sockets.forEach((s) => s.destroy());
    sockets = [];
    await new Promise<void>((r) => server.close(() => r()));
    const state = await down;
    expect(state.reason).toBeDefined();
    expect(client.write(Buffer.from('x'))).toBe(false);

    server = await listen(port);
    await waitFor(client.state$, (s) => s.status === 'up', 'tcp up again');
    await until(() => data.filter((d) => d === 'hi').length === 2, 'second greeting');
    expect(client.write(Buffer.from('after'))).toBe(true);
    expect(states.slice(0, 2)).toEqual(['connecting', 'up']);
    expect(states).toContain('down');
    sockets.forEach((s) => s.destroy());
    server.close();
  });

  it('waits for a vehicle that is not up yet instead of failing (connecting, retrying)', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const client = await link(`tcp:127.0.0.1:${port}`);
    await client.open();
    const down = await waitFor(client.state$, (s) => s.status === 'down', 'refused');
    expect(down.reason).toMatch(/connection refused/);
  });
});

describe('tcp-listen', () => {
  it('serves peers and writes to all of them', async () => {
    const server = track((await grantedLinkFor('tcp-listen:127.0.0.1:0', 's')) as TcpServerLink);
    await server.open();
    const { connect } = await import('node:net');
    const peer = connect(server.localPort, '127.0.0.1');
    await waitFor(server.state$, (s) => s.status === 'up', 'peer connected');
    const got = new Promise<string>((r) => peer.once('data', (d) => r(d.toString())));
    server.write(Buffer.from('telemetry'));
    expect(await got).toBe('telemetry');
    const fromPeer = nextValue(server.data$, 'bytes from the peer');
    peer.write('command');
    expect((await fromPeer).toString()).toBe('command');
    peer.destroy();
    await waitFor(server.state$, (s) => s.status === 'connecting', 'peer gone');
  });
});

/** Writes `text` from the other end of a pseudo-terminal pair and waits until the link under test received it. */
async function fromPeer(path: string, text: string, chunks: string[]): Promise<void> {
  const { SerialPort } = await import('serialport');
  const other = new SerialPort({ path, baudRate: 57600 });
  await new Promise<void>((r) => other.on('open', () => r()));
  other.write(text);
  await until(() => chunks.join('').includes(text), `"${text}" at the link`);
  await new Promise<void>((r) => other.close(() => r()));
}

describe('serial (pseudo-terminals from socat)', () => {
  it('moves bytes both ways', async () => {
    const pty = await PtyPair.start(dir, 'both');
    const a = track((await grantedLinkFor(`serial:${pty.a}:57600`, 'a')) as SerialLink);
    const b = track((await grantedLinkFor(`serial:${pty.b}:57600`, 'b')) as SerialLink);
    await a.open();
    await b.open();
    const atB = nextValue(b.data$, 'bytes at b');
    a.write(Buffer.from([0xfd, 1, 2, 3]));
    expect([...(await atB)]).toEqual([0xfd, 1, 2, 3]);
    await a.close();
    await b.close();
    await pty.stop();
  });

  it('waits for a device missing at startup, saying what it waits for, and comes up when it appears', async () => {
    const radio = track((await grantedLinkFor(`serial:${join(dir, 'late-a')}:57600`, 'late')) as SerialLink);
    const chunks: string[] = [];
    radio.data$.subscribe((c) => chunks.push(c.toString()));
    const waiting = waitFor(radio.state$, (s) => s.status === 'down', 'waiting');
    await radio.open();
    expect((await waiting).reason).toMatch(/waiting for .*late-a: not present/);
    const pty = await PtyPair.start(dir, 'late');
    await waitFor(radio.state$, (s) => s.status === 'up', 'the device appeared', 10_000);
    await fromPeer(pty.b, 'hello', chunks);
    await radio.close();
    await pty.stop();
  });

  it('refuses at startup a device that is there but is not a serial port, naming the endpoint', async () => {
    const file = join(dir, 'not-a-tty');
    writeFileSync(file, 'plain file');
    const notSerial = await link(`serial:${file}:57600`);
    await expect(notSerial.open()).rejects.toThrow(/^link serial:.*not-a-tty:57600: cannot open .*not-a-tty: /);
  });

  it('reports an unplugged radio, retries, and resumes by itself when it comes back on the same path', async () => {
    let pty = await PtyPair.start(dir, 'unplug');
    const radio = track((await grantedLinkFor(`serial:${pty.a}:57600`, 'r')) as SerialLink);
    const chunks: string[] = [];
    radio.data$.subscribe((c) => chunks.push(c.toString()));
    await radio.open();
    const down = waitFor(radio.state$, (s) => s.status === 'down', 'unplug noticed');
    await pty.stop();
    expect((await down).reason).toMatch(/disconnected/);

    pty = await PtyPair.start(dir, 'unplug');
    await waitFor(radio.state$, (s) => s.status === 'up', 'radio back', 10_000);
    await fromPeer(pty.b, 'after replug', chunks);
    await radio.close();
    await pty.stop();
  });
});
