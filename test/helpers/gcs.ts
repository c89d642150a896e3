/** A ground station on a real loopback UDP socket: sends MAVLink to the gateway and collects what comes back. */
import { createSocket, type Socket } from 'node:dgram';
import { type Observable, Subject } from 'rxjs';
import { type Fields, FrameDecoder, FrameEncoder, type OutgoingMessage } from '../../src/mavlink/index.js';
import { registry } from './frames.js';
import { waitFor } from './wait.js';

export interface Received {
  name: string | null;
  sysid: number;
  compid: number;
  seq: number;
  fields: Fields | null;
  bytes: Buffer;
}

/**
 * Loss as pymavlink (MAVProxy) counts it, per (sysid, compid): each frame is expected to
 * carry the last number + 1; any other number counts the frames in between as lost, so a
 * repeated number counts 255. QGroundControl and Mission Planner count per source alike.
 */
export class LossCounter {
  private readonly last = new Map<string, number>();
  readonly sources = new Map<string, { received: number; lost: number }>();

  observe(sysid: number, compid: number, seq: number): void {
    const key = `${sysid}/${compid}`;
    const last = this.last.get(key);
    const counts = this.sources.get(key) ?? { received: 0, lost: 0 };
    if (last !== undefined && seq !== ((last + 1) & 0xff)) counts.lost += (seq - last - 1) & 0xff;
    counts.received++;
    this.last.set(key, seq);
    this.sources.set(key, counts);
  }

  /** The sources with any loss: `{ "1/1": 255 }`. */
  get losses(): Record<string, number> {
    return Object.fromEntries([...this.sources].filter(([, c]) => c.lost > 0).map(([k, c]) => [k, c.lost]));
  }
}

export class GroundStation {
  /** Loss per source as pymavlink would count it from everything received. */
  readonly loss = new LossCounter();
  readonly socket: Socket;
  private readonly encoder = new FrameEncoder(registry);
  private readonly decoder: FrameDecoder;
  private readonly received = new Subject<Received>();
  readonly frames$: Observable<Received> = this.received.asObservable();

  private constructor(public target: { host: string; port: number }, readonly sysid = 255, readonly compid = 190) {
    this.socket = createSocket('udp4');
    this.decoder = new FrameDecoder(registry, (f) => {
      this.loss.observe(f.sysid, f.compid, f.seq);
      this.received.next({ name: f.name, sysid: f.sysid, compid: f.compid, seq: f.seq, fields: f.decode(), bytes: f.copy() });
    });
    this.socket.on('message', (msg) => this.decoder.pushWhole(msg));
  }

  static async open(port: number, host = '127.0.0.1', ids: { sysid: number; compid: number } = { sysid: 255, compid: 190 }): Promise<GroundStation> {
    const gcs = new GroundStation({ host, port }, ids.sysid, ids.compid);
    await new Promise<void>((resolve) => gcs.socket.bind(0, '127.0.0.1', resolve));
    return gcs;
  }

  /** A ground station that listens, as QGroundControl does on 14550, and answers whoever sends to it. */
  static async listening(): Promise<GroundStation> {
    const gcs = new GroundStation({ host: '127.0.0.1', port: 0 });
    gcs.socket.on('message', (_msg, rinfo) => { gcs.target = { host: rinfo.address, port: rinfo.port }; });
    await new Promise<void>((resolve) => gcs.socket.bind(0, '127.0.0.1', resolve));
    return gcs;
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(message: OutgoingMessage): void {
    this.sendBytes(this.encoder.encode(message, { sysid: this.sysid, compid: this.compid }));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.send(bytes, this.target.port, this.target.host);
  }

  /** The next matching frame to arrive from now on (set it up before sending what it answers). */
  next(name: string, match: (f: Fields) => boolean = () => true, ms = 5000): Promise<Received> {
    return waitFor(this.frames$, (r) => r.name === name && match(r.fields!), `${name} at the ground station`, ms);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
