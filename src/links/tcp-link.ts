/**
 * TCP links. `tcp` connects to a vehicle or simulator (ArduPilot SITL serves MAVLink on
 * 5760) and reconnects with backoff; `tcp-listen` serves peers that connect to it and
 * sends to all of them.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type ConnectGrant, type ListenGrant, watchGrant } from '../residency/gate.js';
import { BaseLink, grantedAddress } from './base-link.js';
import type { Endpoint } from './endpoint.js';
import { describeSystemError, LinkError } from './link.js';
import { joined } from './send-batch.js';

type NetworkEndpoint = Extract<Endpoint, { host: string }>;

export class TcpClientLink extends BaseLink {
  private socket: Socket | null = null;
  /** The address the gate checked; reconnects go there, never through a new name lookup. */
  private readonly address: string;

  constructor(id: string, override readonly endpoint: NetworkEndpoint, grant: ConnectGrant) {
    const address = grantedAddress(endpoint, grant, 'connect', 'tcp');
    super(id, endpoint);
    this.address = address;
  }

  /** Starts connecting; a vehicle that is not up yet is waited for, not an error. */
  open(): Promise<void> {
    this.connect();
    return Promise.resolve();
  }

  private connect(): void {
    this.setState('connecting');
    const socket = connect({ host: this.address, port: this.endpoint.port, noDelay: true });
    this.socket = socket;
    socket.on('connect', () => this.setState('up'));
    socket.on('data', (chunk) => this.receive(chunk));
    let reason = 'connection closed by peer';
    socket.on('error', (err) => (reason = describeSystemError(err)));
    socket.on('close', () => {
      if (this.socket !== socket || this.closed) return;
      this.socket = null;
      this.setState('down', reason);
      this.retry(() => this.connect());
    });
  }

  protected canSend(): boolean {
    return this.socket !== null && !this.socket.connecting;
  }

  protected transmit(data: Buffer | readonly Buffer[], bytes: number): void {
    this.socket!.write(joined(data, bytes));
  }

  protected async shutdown(): Promise<void> {
    this.socket?.destroy();
    this.socket = null;
  }
}

export class TcpServerLink extends BaseLink {
  private server: Server | null = null;
  private readonly peers = new Set<Socket>();
  private readonly address: string;
  private readonly acceptsPeer: (address: string, port: number) => boolean;

  constructor(id: string, override readonly endpoint: NetworkEndpoint, grant: ListenGrant) {
    const address = grantedAddress(endpoint, grant, 'listen', 'tcp');
    super(id, endpoint);
    this.address = address;
    this.acceptsPeer = grant.acceptsPeer;
    // Peers connected before a new policy are judged again by it: refused, they are disconnected.
    this.unwatch = watchGrant(grant, { changed: () => this.judgePeersAgain() });
  }

  private readonly unwatch: () => void;

  private judgePeersAgain(): void {
    for (const peer of [...this.peers]) {
      if (this.acceptsPeer(peer.remoteAddress ?? '', peer.remotePort ?? 0)) continue;
      this.counters.peersRefused++;
      this.peers.delete(peer);
      peer.destroy();
    }
  }

  get localPort(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  open(): Promise<void> {
    const { port } = this.endpoint;
    const host = this.address;
    const server = createServer({ noDelay: true }, (socket) => {
      // A peer the policy does not approve is disconnected before it hears anything.
      if (!this.acceptsPeer(socket.remoteAddress ?? '', socket.remotePort ?? 0)) {
        this.counters.peersRefused++;
        socket.destroy();
        return;
      }
      this.peers.add(socket);
      this.setState('up');
      socket.on('data', (chunk) => this.receive(chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        this.peers.delete(socket);
        if (this.peers.size === 0 && !this.closed) this.setState('connecting', 'waiting for a peer to connect');
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new LinkError(this.endpoint.text, `cannot listen: ${describeSystemError(err)}`)));
      server.listen({ host, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.setState('error', describeSystemError(err)));
        this.setState('connecting', 'waiting for a peer to connect');
        resolve();
      });
    });
  }

  protected canSend(): boolean {
    return this.peers.size > 0;
  }

  protected transmit(data: Buffer | readonly Buffer[], bytes: number): void {
    const chunk = joined(data, bytes);
    for (const peer of this.peers) peer.write(chunk);
  }

  protected shutdown(): Promise<void> {
    this.unwatch();
    for (const peer of this.peers) peer.destroy();
    this.peers.clear();
    const server = this.server;
    this.server = null;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
