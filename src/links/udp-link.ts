/**
 * UDP links. `udp-listen` is a server that learns its peer from what it receives (as
 * QGroundControl does on 14550) and replies there; `udp` sends to a fixed address and
 * accepts datagrams only from it (a connected socket).
 */
import { type ConnectGrant, type ListenGrant, watchGrant } from '../residency/gate.js';
import { BaseLink, grantedAddress } from './base-link.js';
import { createDatagramSocket, type DatagramSocket, type UdpBackend, udpBackend } from './datagram-socket.js';
import { DEFAULT_UDP_RECEIVE_BUFFER_BYTES, type Endpoint } from './endpoint.js';
import { describeSystemError, LinkError } from './link.js';

export { type UdpBackend, udpBackend };

type NetworkEndpoint = Exclude<Extract<Endpoint, { host: string }>, { kind: 'fleet' }>;

export class UdpLink extends BaseLink {
  /** Frames never span datagrams. */
  override readonly wholeFrames = true;
  private socket: DatagramSocket | null = null;
  private peer: { address: string; port: number } | null = null;

  /** The address the gate checked: what this link binds to or sends to. */
  private readonly address: string;
  /** For a listener: whether the policy lets us answer a peer. */
  private readonly acceptsPeer: (address: string, port: number) => boolean;
  /**
   * With signatures required, a listener answers a new sender only once one of its frames
   * verified (`confirmSender`): a forged datagram must not divert what we send.
   */
  private readonly confirmSenders: boolean;
  private sender: { address: string; port: number } | null = null;

  constructor(id: string, override readonly endpoint: NetworkEndpoint, grant: ConnectGrant | ListenGrant) {
    const address = grantedAddress(endpoint, grant, endpoint.kind === 'udp-listen' ? 'listen' : 'connect', 'udp');
    super(id, endpoint);
    this.address = address;
    this.acceptsPeer = grant.kind === 'listen' ? grant.acceptsPeer : () => true;
    this.confirmSenders = endpoint.kind === 'udp-listen' && endpoint.signing?.requireSigned === true;
    // The peer a listener learned is judged again by each new policy: refused, it hears nothing more.
    if (grant.kind === 'listen') this.unwatch = watchGrant(grant, { changed: () => this.judgePeerAgain() });
  }

  private readonly unwatch: () => void = () => {};

  private judgePeerAgain(): void {
    const peer = this.peer;
    if (peer && !this.acceptsPeer(peer.address, peer.port)) {
      // Nothing queued for it leaves after the policy that refuses it took force.
      this.discardQueued();
      this.peer = null;
      this.counters.peersRefused++;
    }
  }

  /** From now on frames go to `peer`; those queued for the one before go to it first (frames for different destinations never share a datagram). */
  private answer(peer: { address: string; port: number }): void {
    if (this.peer?.address === peer.address && this.peer.port === peer.port) return;
    this.flushQueued();
    this.peer = peer;
  }

  /** The datagram being handled came from a sender whose frame verified: answer it from now on. */
  confirmSender(): void {
    if (this.sender) this.answer(this.sender);
  }

  answerSender(bytes: Uint8Array): boolean {
    const { socket, sender } = this;
    if (!socket || !sender || this.closed) return this.write(bytes);
    socket.send(bytes, sender);
    return this.sent(bytes.length, 1);
  }

  /** The address this link is bound to (useful with port 0). */
  get localPort(): number {
    return this.socket?.localPort() ?? 0;
  }

  /** The receive buffer the kernel granted (Linux reports twice what was asked), bytes; 0 before the link is open. */
  get receiveBufferBytes(): number {
    return this.socket?.receiveBuffer() ?? 0;
  }

  /** How this link's socket receives and sends (docs/architecture.md). */
  get backend(): UdpBackend {
    return this.socket?.backend ?? udpBackend.backend;
  }

  /** Why this link is on Node's dgram; null on the native path. */
  get backendReason(): string | null {
    if (this.backend === 'recvmmsg') return null;
    return udpBackend.reason ?? 'an IPv6 socket that could meet a link-local peer (bound to :: or fe80::/10) stays on dgram, which carries the scope';
  }

  get peerAddress(): { address: string; port: number } | null {
    return this.peer;
  }

  open(): Promise<void> {
    const { port, kind } = this.endpoint;
    const host = this.address;
    const listening = kind === 'udp-listen';
    const heard = (msg: Buffer, address: string, port: number) => {
      if (listening && (address !== this.peer?.address || port !== this.peer.port)) {
        // A peer the policy does not approve is neither answered nor heard.
        if (!this.acceptsPeer(address, port)) {
          this.counters.peersRefused++;
          return;
        }
        if (this.confirmSenders) {
          // The frames are checked while this datagram is handled, synchronously.
          this.sender = { address, port };
          this.receive(msg);
          this.sender = null;
          return;
        }
        this.answer({ address, port });
      }
      this.receive(msg);
    };
    const failed = (err: NodeJS.ErrnoException) => {
      // ICMP "port unreachable" from a GCS that is not running yet, or a full send buffer: count it, keep going.
      if (err.code === 'ECONNREFUSED' || err.code === 'EAGAIN' || err.code === 'ENOBUFS') this.counters.writesDropped++;
      else this.setState('error', describeSystemError(err));
    };
    const socket = createDatagramSocket(host, { datagram: heard, error: failed });
    this.socket = socket;
    // A connected socket for a fixed peer: the kernel drops datagrams from anyone else, and
    // a send needs no address (the relay's hot path).
    if (!listening) this.peer = { address: host, port };
    const opening = listening ? socket.bind(host, port) : socket.connect(host, port);
    return opening.then(
      () => {
        try {
          socket.setReceiveBuffer(this.endpoint.receiveBufferBytes ?? DEFAULT_UDP_RECEIVE_BUFFER_BYTES);
        } catch {
          // The kernel caps the size (net.core.rmem_max); what it grants is still better than the default.
        }
        this.setState('up');
      },
      (err: unknown) => {
        throw new LinkError(this.endpoint.text, `cannot ${listening ? 'listen' : 'open'}: ${describeSystemError(err)}`);
      },
    );
  }

  protected canSend(): boolean {
    return this.socket !== null && this.peer !== null;
  }

  protected transmit(data: Buffer | readonly Buffer[]): void {
    // Several frames: one datagram of their bytes, sent as a vector, no copy.
    this.socket!.send(data, this.peer!);
  }

  protected shutdown(): Promise<void> {
    this.unwatch();
    const socket = this.socket;
    this.socket = null;
    return socket ? socket.close() : Promise.resolve();
  }
}
