/**
 * UDP links. `udp-listen` is a server that learns its peer from what it receives (as
 * QGroundControl does on 14550) and replies there; `udp` sends to a fixed address and
 * accepts datagrams only from it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP, isIPv6 } from 'node:net';
import { BaseLink } from './base-link.js';
import type { Endpoint } from './endpoint.js';
import { describeSystemError, LinkError } from './link.js';

/** Big enough for ~10k small datagrams: the default (~200 KiB) drops bursts when the event loop is busy for 1–2 ms. */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

type NetworkEndpoint = Extract<Endpoint, { host: string }>;

export class UdpLink extends BaseLink {
  private socket: Socket | null = null;
  private peer: { address: string; port: number } | null = null;

  constructor(id: string, override readonly endpoint: NetworkEndpoint) {
    super(id, endpoint);
  }

  /** The address this link is bound to (useful with port 0). */
  get localPort(): number {
    return this.socket?.address().port ?? 0;
  }

  get peerAddress(): { address: string; port: number } | null {
    return this.peer;
  }

  open(): Promise<void> {
    const { host, port, kind } = this.endpoint;
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    this.socket = socket;
    const listening = kind === 'udp-listen';
    if (!listening) this.peer = { address: host, port };
    socket.on('message', (msg, rinfo) => {
      if (listening) this.peer = { address: rinfo.address, port: rinfo.port };
      else if (rinfo.port !== port || (isIP(host) !== 0 && rinfo.address !== host)) return; // only the configured peer may talk to a udp: link
      this.receive(msg);
    });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        reject(new LinkError(this.endpoint.text, `cannot ${listening ? 'listen' : 'open'}: ${describeSystemError(err)}`));
      });
      socket.bind(listening ? { port, address: host } : { port: 0 }, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => this.setState('error', describeSystemError(err)));
        try {
          socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
        } catch {
          // The kernel caps the size (net.core.rmem_max); what it grants is still better than the default.
        }
        this.setState('up');
        resolve();
      });
    });
  }

  write(bytes: Uint8Array): boolean {
    const { socket, peer } = this;
    if (!socket || !peer || this.closed) return this.dropped();
    socket.send(bytes, peer.port, peer.address, (err) => {
      // ICMP "port unreachable" for a GCS that is not running yet: not a reason to stop.
      if (err) this.counters.writesDropped++;
    });
    return this.sent(bytes.length);
  }

  protected shutdown(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    return new Promise((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
  }
}
