/**
 * A peer on a loopback address of the test's choosing (127.0.0.3, say): it sends to the
 * gateway from that address, and keeps what it receives. `sync()` tells what arrived
 * before a given moment: it sends the peer a marker datagram and waits for it, and a
 * loopback socket's queue keeps arrival order, so everything the gateway sent before the
 * marker was sent has arrived by then.
 */
import { createSocket, type Socket } from 'node:dgram';
import { FrameDecoder, type Frame } from '../../src/mavlink/index.js';
import { registry } from './frames.js';
import { until } from './wait.js';

const MARKER = 'mavgate-test-marker:';

export class LoopbackPeer {
  /** Datagrams from anyone but the marker, in arrival order. */
  readonly datagrams: Buffer[] = [];
  /** Their frames, decoded (copies). */
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder(registry, (f) => this.frames.push(f.clone()));
  private markersSeen = 0;
  private markersSent = 0;

  private constructor(readonly address: string, readonly socket: Socket, private readonly marker: Socket) {
    socket.on('message', (msg) => {
      if (msg.toString('latin1').startsWith(MARKER)) {
        this.markersSeen++;
        return;
      }
      this.datagrams.push(msg);
      this.decoder.push(msg);
    });
  }

  static async open(address: string, port = 0): Promise<LoopbackPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
    const marker = createSocket('udp4');
    await new Promise<void>((resolve) => marker.bind(0, '127.0.0.1', resolve));
    return new LoopbackPeer(address, socket, marker);
  }

  get port(): number {
    return this.socket.address().port;
  }

  get bytes(): number {
    return this.datagrams.reduce((n, d) => n + d.length, 0);
  }

  /** Sends to the gateway from this peer's own address. */
  send(bytes: Buffer, port: number, host = '127.0.0.1'): void {
    this.socket.send(bytes, port, host);
  }

  /** Resolves once everything sent to this peer before the call has arrived; returns how many datagrams that was. */
  async sync(ms = 5000): Promise<number> {
    const n = ++this.markersSent;
    this.marker.send(Buffer.from(`${MARKER}${n}`, 'latin1'), this.port, this.address);
    await until(() => this.markersSeen >= n, `the marker at ${this.address}:${this.port}`, ms);
    return this.datagrams.length;
  }

  async close(): Promise<void> {
    await Promise.all([
      new Promise<void>((resolve) => this.socket.close(() => resolve())),
      new Promise<void>((resolve) => this.marker.close(() => resolve())),
    ]);
  }
}
