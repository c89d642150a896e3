/**
 * Ground stations that speak MAVLink over UDP or TCP (QGroundControl, MAVProxy, Mission
 * Planner): each peer that reaches the endpoint becomes a client of the hub, with the
 * role of the token the endpoint is bound to, under the same rules as WebSocket clients.
 * They cannot ask for the control lease, so they take it on their first control message
 * when nobody holds it.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { assertGrant, type ListenGrant } from '../residency/gate.js';
import { describeSystemError, LinkError } from '../links/link.js';
import { isLoopbackAddress } from '../residency/verdicts.js';
import type { ClientHub } from './client-hub.js';
import type { ClientSession } from './client-session.js';
import type { Principal } from './tokens.js';

/** A UDP peer silent this long is gone (ground stations send a heartbeat every second). */
const UDP_IDLE_MS = 5000;

export interface GcsEndpoint {
  readonly text: string;
  readonly localPort: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Every peer off the router now and the endpoint closed: its listen grant was revoked. */
  cutOff(why: string): void;
  /** A new policy took force: peers refused under the old one may be judged again. */
  policyChanged(): void;
}

/**
 * Who a new peer is (the endpoint's token as it is now: a reload may change its role), or
 * null when it may not connect. Anonymous observers only from the machine itself, as on
 * the WebSocket side.
 */
function admitPeer(hub: ClientHub, text: string, principalNow: () => Principal, address: string): Principal | null {
  const principal = principalNow();
  if (principal.anonymous && !isLoopbackAddress(address)) return null;
  return hub.admit(`gcs ${text} ${principal.name} from ${address}`, address, principal) ? principal : null;
}

export class UdpGcsEndpoint implements GcsEndpoint {
  private socket: UdpSocket | null = null;
  private readonly peers = new Map<string, { session: ClientSession; lastSeen: number }>();
  private readonly refused = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly text: string, private readonly grant: ListenGrant, private readonly hub: ClientHub, private readonly principal: () => Principal) {
    assertGrant(grant, 'listen');
  }

  get localPort(): number {
    return this.socket?.address().port ?? 0;
  }

  start(): Promise<void> {
    const socket = createSocket({ type: isIPv6(this.grant.address) ? 'udp6' : 'udp4' });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}:${rinfo.port}`;
      let peer = this.peers.get(key);
      if (!peer) {
        if (this.refused.has(key)) return;
        const principal = admitPeer(this.hub, this.text, this.principal, rinfo.address);
        if (!principal) {
          // Remembered so that a refused peer costs one check, within a bound a flood of source ports cannot grow.
          if (this.refused.size >= 4096) this.refused.clear();
          this.refused.add(key);
          return;
        }
        const session = this.hub.open('udp', {
          write: (data, flushed) => {
            socket.send(data, rinfo.port, rinfo.address);
            flushed();
          },
          buffered: () => 0,
        }, principal, key, { close: () => this.peers.delete(key) }, { autoControl: true });
        peer = { session, lastSeen: 0 };
        this.peers.set(key, peer);
      }
      peer.lastSeen = Date.now();
      this.hub.receiveDatagram(peer.session, msg);
    });
    this.timer = setInterval(() => {
      for (const [key, peer] of this.peers) {
        if (Date.now() - peer.lastSeen < UDP_IDLE_MS) continue;
        this.peers.delete(key);
        this.hub.close(peer.session, `silent for ${UDP_IDLE_MS / 1000} s`);
      }
    }, 1000);
    this.timer.unref();
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => reject(new LinkError(this.text, `cannot listen: ${describeSystemError(err)}`)));
      socket.bind({ address: this.grant.address, port: this.grant.port }, () => {
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    const closed = new Promise<void>((resolve) => (socket ? socket.once('close', () => resolve()) : resolve()));
    this.cutOff('server stopping');
    await closed;
  }

  cutOff(why: string): void {
    if (this.timer) clearInterval(this.timer);
    for (const { session } of this.peers.values()) this.hub.close(session, why);
    this.peers.clear();
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }

  policyChanged(): void {
    this.refused.clear();
  }
}

export class TcpGcsEndpoint implements GcsEndpoint {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ClientSession>();

  constructor(readonly text: string, private readonly grant: ListenGrant, private readonly hub: ClientHub, private readonly principal: () => Principal) {
    assertGrant(grant, 'listen');
  }

  get localPort(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  start(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => {
      const address = socket.remoteAddress ?? '';
      const principal = admitPeer(this.hub, this.text, this.principal, address);
      if (!principal) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      const session = this.hub.open('tcp', {
        write: (data, flushed) => socket.write(data, () => flushed()),
        buffered: () => socket.writableLength,
      }, principal, `${address}:${socket.remotePort}`, { close: () => socket.destroy() }, { autoControl: true });
      this.sessions.add(session);
      socket.on('data', (chunk) => this.hub.receiveRaw(session, chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.sessions.delete(session);
        this.hub.close(session, 'peer closed the connection');
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new LinkError(this.text, `cannot listen: ${describeSystemError(err)}`)));
      server.listen({ host: this.grant.address, port: this.grant.port }, () => {
        server.removeAllListeners('error');
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    const closed = new Promise<void>((resolve) => (server?.listening ? server.once('close', () => resolve()) : resolve()));
    this.cutOff('server stopping');
    await closed;
  }

  cutOff(why: string): void {
    for (const session of this.sessions) this.hub.close(session, why);
    this.sessions.clear();
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server?.listening) server.close();
  }

  policyChanged(): void {
    // Each TCP peer is a session: the hub judges those again itself.
  }
}
