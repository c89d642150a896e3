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

export class GroundStation {
  readonly socket: Socket;
  private readonly encoder = new FrameEncoder(registry);
  private readonly decoder: FrameDecoder;
  private readonly received = new Subject<Received>();
  readonly frames$: Observable<Received> = this.received.asObservable();

  private constructor(readonly target: { host: string; port: number }, readonly sysid = 255, readonly compid = 190) {
    this.socket = createSocket('udp4');
    this.decoder = new FrameDecoder(registry, (f) =>
      this.received.next({ name: f.name, sysid: f.sysid, compid: f.compid, seq: f.seq, fields: f.decode(), bytes: f.copy() }));
    this.socket.on('message', (msg) => this.decoder.push(msg));
  }

  static async open(port: number, host = '127.0.0.1'): Promise<GroundStation> {
    const gcs = new GroundStation({ host, port });
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
