/**
 * Frames per datagram and quiet streams, over real loopback sockets: a damaged frame must
 * never hold back the valid frames after it, whether they come in the next UDP datagram
 * or on a TCP stream that then goes quiet.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { type Frame, MAV_RESULT } from '../src/mavlink/index.js';
import { HAS_CORPUS, CORPUS_SKIP_NOTE, readCorpus, readJsonLinesGz } from './helpers/corpus.js';
import { decksPerTest } from './helpers/clients.js';
import { frame, heartbeat } from './helpers/frames.js';
import { GroundStation } from './helpers/gcs.js';
import { tcpServer } from './helpers/ports.js';
import { until } from './helpers/wait.js';

/** A damaged MAVLink 1 frame, as seen on a real link: its 0xFE sequence byte reads as the start of a 263-byte frame. */
const DAMAGED = Buffer.from('fe05feff008effffffff01f43b', 'hex');

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function gatewayOn(endpoint: string): Promise<{ gateway: Gateway; seqs: number[] }> {
  const gateway = new Gateway({ links: [parseEndpoint(endpoint)] });
  await gateway.start();
  cleanup.push(() => gateway.stop());
  const seqs: number[] = [];
  gateway.router.onFrame((f: Frame) => { if (f.name === 'HEARTBEAT') seqs.push(f.seq); });
  return { gateway, seqs };
}

/** A gateway whose vehicle link is a TCP client of a vehicle played by the test. */
async function tcpVehicle() {
  const vehicleServer = await tcpServer();
  cleanup.push(() => vehicleServer.close());
  const connected = vehicleServer.nextConnection();
  const { gateway, seqs } = await gatewayOn(`tcp:127.0.0.1:${vehicleServer.port}`);
  const vehicle = await connected;
  cleanup.push(async () => { vehicle.destroy(); });
  return { vehicleServer, gateway, seqs, vehicle };
}

async function udpSender(): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => socket.close(() => resolve())));
  return socket;
}

describe('a vehicle link over UDP', () => {
  it('reads each datagram as whole frames: heartbeats after a damaged frame arrive at once', async () => {
    const { gateway, seqs } = await gatewayOn('udp-listen:127.0.0.1:0');
    const port = (gateway.links[0]!.link as UdpLink).localPort;
    const vehicle = await udpSender();
    vehicle.send(DAMAGED, port, '127.0.0.1');
    for (let seq = 1; seq <= 3; seq++) vehicle.send(heartbeat(seq), port, '127.0.0.1');
    // Without the datagram boundary the three heartbeats wait for ~250 more bytes, which never come.
    await until(() => seqs.length === 3, 'three heartbeats behind the damaged frame', 2000);
    expect(seqs).toEqual([1, 2, 3]);
    expect(gateway.links[0]!.decoder.pendingBytes).toBe(0);
    // Nothing is ever held between datagrams: no quiet check wakes the process.
    expect(gateway.watchingForQuiet).toBe(false);
  });

  it.skipIf(!HAS_CORPUS)(`relays every frame of a real log with 1,314 bad-checksum frames, its last ones included${CORPUS_SKIP_NOTE}`, async () => {
    const { gateway } = await gatewayOn('udp-listen:127.0.0.1:0');
    const link = gateway.links[0]!.link as UdpLink;
    // The log's last 3,000 records, one frame per datagram, as a radio bridge or a replay sends them.
    const log = readCorpus('tlog', 'arducopter_2015-07-05_v1.tlog');
    const records = readJsonLinesGz<{ offset: number; len: number; v: number; ok: boolean }>('tlog', 'arducopter_2015-07-05_v1.expected.jsonl.gz')
      .slice(-3000).filter((r) => r.offset + 8 + 8 + r.len <= log.length);
    const want = records.filter((r) => r.ok).length;
    let got = 0;
    gateway.router.onFrame((f) => { if (f.verified) got++; });
    const vehicle = await udpSender();
    let sent = 0;
    for (let i = 0; i < records.length; i += 100) {
      for (const r of records.slice(i, i + 100)) {
        const bytes = log.subarray(r.offset + 8, r.offset + 8 + (r.v === 2 ? 12 : 8) + r.len);
        vehicle.send(bytes, link.localPort, '127.0.0.1');
        sent += bytes.length;
      }
      await until(() => link.counters.bytesIn === sent, 'the link receiving every datagram');
    }
    await until(() => got === want, `all ${want} frames the reference decoder accepts`, 3000);
  });
});

describe('a vehicle link over TCP (a stream)', () => {
  it('hands on frames held behind a false start marker once the stream goes quiet', async () => {
    const { gateway, seqs, vehicle } = await tcpVehicle();
    expect(gateway.watchingForQuiet).toBe(false);
    vehicle.write(Buffer.concat([DAMAGED, heartbeat(1), heartbeat(2), heartbeat(3)]));
    // Nothing more comes: the candidate claiming 263 bytes must not hold the heartbeats forever.
    await until(() => seqs.length === 3, 'three heartbeats once the stream is quiet', 2000);
    expect(seqs).toEqual([1, 2, 3]);
    // Nothing held any more: the check stops until a stream holds part of a frame again.
    await until(() => !gateway.watchingForQuiet, 'the quiet check stopping', 2000);
    vehicle.write(Buffer.concat([heartbeat(4), DAMAGED, heartbeat(5)]));
    await until(() => seqs.length === 5, 'the stream carrying on, a second false start settled', 2000);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('the quiet check across a reconnect', () => {
  it('stops when the link reconnects and the half frame it held is dropped, and runs again for the next one', async () => {
    const { vehicleServer, gateway, seqs, vehicle: first } = await tcpVehicle();
    // Half a heartbeat: a candidate that may still be real, held until its last bytes come.
    first.write(heartbeat(1).subarray(0, 9));
    await until(() => gateway.links[0]!.decoder.pendingBytes > 0 && gateway.watchingForQuiet, 'the half frame held and watched');
    const connected = vehicleServer.nextConnection();
    first.destroy();
    const vehicle = await connected;
    cleanup.push(async () => { vehicle.destroy(); });
    await until(() => gateway.links[0]!.decoder.pendingBytes === 0 && !gateway.watchingForQuiet, 'the check stopping after the reconnect', 3000);
    vehicle.write(heartbeat(2).subarray(0, 9));
    await until(() => gateway.watchingForQuiet, 'the check running again for a new half frame');
    vehicle.write(heartbeat(2).subarray(9));
    await until(() => seqs.includes(2), 'the heartbeat completed');
    expect(seqs).toEqual([2]);
  });
});

describe('a ground station on a UDP endpoint', () => {
  const deck = decksPerTest();

  it('reads its datagrams as whole frames: a command after a damaged datagram is answered at once', async () => {
    const d = await deck({ gcs: [{ endpoint: parseEndpoint('udp-listen:127.0.0.1:0') as never }] });
    const gcs = await GroundStation.open(d.services!.gcs[0]!.localPort);
    cleanup.push(() => gcs.close());
    const ack = gcs.next('COMMAND_ACK', (f) => f.command === 400, 2000);
    gcs.sendBytes(DAMAGED);
    gcs.sendBytes(frame({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } }, { sysid: 255, compid: 190 }));
    // An anonymous peer is an observer: the command is refused, and the refusal proves it was read.
    expect((await ack).fields!.result).toBe(MAV_RESULT.DENIED);
  });
});
