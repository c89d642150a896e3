/**
 * Ground stations that speak MAVLink over UDP or TCP (QGroundControl, MAVProxy, Mission
 * Planner): each peer that reaches a listening endpoint, or the ground station mavgate
 * sends to, becomes a client of the hub, with the role of the token the endpoint is bound
 * to, under the same rules as WebSocket clients. They cannot ask for the control lease,
 * so they take it on their first control message when nobody holds it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { assertGrant, type ConnectGrant, type ListenGrant } from '../residency/gate.js';
import { describeSystemError, LinkError } from '../links/link.js';
import { createDatagramSocket, type DatagramSocket, type OnDatagram } from '../links/datagram-socket.js';
import { joined, SendBatch } from '../links/send-batch.js';
import { isLoopbackAddress } from '../residency/verdicts.js';
import type { ClientHub } from './client-hub.js';
import type { ClientSession } from './client-session.js';
import type { ClientTransport } from './outbound-queue.js';
import type { Principal } from './tokens.js';

/** What these endpoints are called in errors: not vehicle links, though they share LinkError's exit code. */
const GCS = 'ground-station endpoint';

/** A UDP peer silent this long is gone (ground stations send a heartbeat every second). */
const UDP_IDLE_MS = 5000;
/** Reconnecting to a ground station's TCP port, as vehicle links do: 250 ms doubling to 5 s. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

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

type Datagram = Buffer | readonly Buffer[];

/**
 * A UDP ground station's frames: the first routed to it in a turn of the event loop leaves
 * at once, the rest of that turn as one datagram, as on a UDP link (with `coalesce`, its
 * largest size; null: one datagram per frame).
 * `send` sends one datagram, or says the ground station is gone.
 */
function datagramTransport(coalesce: number | null, send: (data: Datagram) => boolean): ClientTransport {
  let datagrams = 0;
  const sendCounted = (data: Datagram) => void (send(data) && datagrams++);
  const batch = coalesce === null ? null : new SendBatch(coalesce, sendCounted, true);
  return {
    write: (data, flushed) => {
      // Text (never sent to a MAVLink peer in practice) goes as its UTF-8 bytes.
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (batch) batch.add(bytes);
      else sendCounted(bytes);
      flushed();
    },
    buffered: () => 0,
    datagrams: () => datagrams,
    discard: () => batch?.discard() ?? 0,
  };
}

/** A TCP ground station's frames: one write per turn of the event loop (with `coalesce`); each frame's `flushed` runs when its write has left. */
function streamTransport(socket: Socket, coalesce: number | null): ClientTransport {
  let writes = 0;
  let flushedWhenSent: (() => void)[] = [];
  const batch = coalesce === null ? null : new SendBatch(coalesce, (data, bytes) => {
    const done = flushedWhenSent;
    flushedWhenSent = [];
    socket.write(joined(data, bytes), () => done.forEach((f) => f()));
    writes++;
  });
  return {
    write: (data, flushed) => {
      if (batch && typeof data !== 'string') {
        batch.add(data);
        flushedWhenSent.push(flushed);
        return;
      }
      socket.write(data, () => flushed());
      writes++;
    },
    buffered: () => socket.writableLength + (batch?.pendingBytes ?? 0),
    datagrams: () => writes,
    discard: () => {
      flushedWhenSent = [];
      return batch?.discard() ?? 0;
    },
  };
}

/** Cuts an endpoint off and resolves once its UDP socket has closed. */
function cutOffAndClose(socket: DatagramSocket | null, cutOff: () => void): Promise<void> {
  cutOff();
  return socket ? socket.close() : Promise.resolve();
}

/** A datagram socket whose errors after opening are not the endpoint's concern (an ICMP "port unreachable" while a ground station is not running: it is sent to until it is). */
function udpSocket(address: string, datagram: OnDatagram): DatagramSocket {
  return createDatagramSocket(address, { datagram, error: () => {} });
}

export class UdpGcsEndpoint implements GcsEndpoint {
  private socket: DatagramSocket | null = null;
  private readonly peers = new Map<string, { session: ClientSession; lastSeen: number }>();
  private readonly refused = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  /** `coalesce`: the largest datagram of frames sent together, or null for one frame per datagram. */
  constructor(readonly text: string, private readonly grant: ListenGrant, private readonly hub: ClientHub, private readonly principal: () => Principal, private readonly coalesce: number | null) {
    assertGrant(grant, 'listen');
  }

  get localPort(): number {
    return this.socket?.localPort() ?? 0;
  }

  start(): Promise<void> {
    const socket = udpSocket(this.grant.address, (msg, address, port) => {
      const key = `${address}:${port}`;
      let peer = this.peers.get(key);
      if (!peer) {
        if (this.refused.has(key)) return;
        const principal = admitPeer(this.hub, this.text, this.principal, address);
        if (!principal) {
          // Remembered so that a refused peer costs one check, within a bound a flood of source ports cannot grow.
          if (this.refused.size >= 4096) this.refused.clear();
          this.refused.add(key);
          return;
        }
        const to = { address, port };
        const session = this.hub.open('udp', datagramTransport(this.coalesce, (data) => {
          // Gone since the frames were queued (cut off, stopping): they go nowhere.
          if (!this.socket) return false;
          this.socket.send(data, to);
          return true;
        }), principal, key, { close: () => this.peers.delete(key) }, { autoControl: true, via: this.grant.entry });
        peer = { session, lastSeen: 0 };
        this.peers.set(key, peer);
      }
      peer.lastSeen = Date.now();
      this.hub.receiveDatagram(peer.session, msg);
    });
    this.socket = socket;
    this.timer = setInterval(() => {
      for (const [key, peer] of this.peers) {
        if (Date.now() - peer.lastSeen < UDP_IDLE_MS) continue;
        this.peers.delete(key);
        this.hub.close(peer.session, `silent for ${UDP_IDLE_MS / 1000} s`);
      }
    }, 1000);
    this.timer.unref();
    return socket.bind(this.grant.address, this.grant.port).catch((err: unknown) => {
      throw new LinkError(this.text, `cannot listen: ${describeSystemError(err)}`, GCS);
    });
  }

  stop(): Promise<void> {
    return cutOffAndClose(this.socket, () => this.cutOff('server stopping'));
  }

  cutOff(why: string): void {
    if (this.timer) clearInterval(this.timer);
    for (const { session } of this.peers.values()) this.hub.close(session, why);
    this.peers.clear();
    const socket = this.socket;
    this.socket = null;
    void socket?.close();
  }

  policyChanged(): void {
    this.refused.clear();
  }
}

export class TcpGcsEndpoint implements GcsEndpoint {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ClientSession>();

  /** `coalesce`: the largest write of frames sent together, or null for one write per frame. */
  constructor(readonly text: string, private readonly grant: ListenGrant, private readonly hub: ClientHub, private readonly principal: () => Principal, private readonly coalesce: number | null) {
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
      const session = this.hub.open('tcp', streamTransport(socket, this.coalesce), principal, `${address}:${socket.remotePort}`, { close: () => socket.destroy() }, { autoControl: true, via: this.grant.entry });
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
      server.once('error', (err) => reject(new LinkError(this.text, `cannot listen: ${describeSystemError(err)}`, GCS)));
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

/** Admits the ground station mavgate is to send to as who it is, or says why not in words that name the endpoint. */
function admitDestination(hub: ClientHub, text: string, principalNow: () => Principal, address: string): Principal {
  const admitted = admitPeer(hub, text, principalNow, address);
  if (admitted) return admitted;
  const principal = principalNow();
  throw new LinkError(text, principal.anonymous
    ? `without as=TOKEN_NAME only a ground station on this machine is served (${address} is not); bind a token: ${text},as=NAME`
    : `the residency policy's client networks, or the token's state, do not admit ${principal.name} (${principal.role}) at ${address}`, GCS);
}

/**
 * A ground station that listens and waits for a vehicle to send to it: QGroundControl on
 * UDP 14550, as MAVProxy's --out and mavlink-router's UDP client endpoints serve it.
 * mavgate sends from a port of its own (never the ground station's), and takes what comes
 * back from that address as the ground station's messages.
 */
export class UdpGcsPush implements GcsEndpoint {
  private socket: DatagramSocket | null = null;
  private session: ClientSession | null = null;

  /** `coalesce`: the largest datagram of frames sent together, or null for one frame per datagram. */
  constructor(readonly text: string, private readonly grant: ConnectGrant, private readonly hub: ClientHub, private readonly principal: () => Principal, private readonly coalesce: number | null) {
    assertGrant(grant, 'connect');
  }

  get localPort(): number {
    return this.socket?.localPort() ?? 0;
  }

  async start(): Promise<void> {
    const { address, port } = this.grant;
    const principal = admitDestination(this.hub, this.text, this.principal, address);
    let session: ClientSession | null = null;
    const socket = udpSocket(address, (msg) => {
      if (session) this.hub.receiveDatagram(session, msg);
    });
    this.socket = socket;
    // A connected socket: datagrams from anyone but the ground station are dropped by the kernel.
    await socket.connect(address, port).catch((err: unknown) => {
      throw new LinkError(this.text, `cannot open: ${describeSystemError(err)}`, GCS);
    });
    session = this.hub.open('udp', datagramTransport(this.coalesce, (data) => {
      if (this.socket !== socket) return false;
      socket.send(data);
      return true;
    }), principal, `${address}:${port}`, { close: () => this.cutOff('closed by the hub') }, { autoControl: true, destination: this.grant });
    this.session = session;
  }

  stop(): Promise<void> {
    return cutOffAndClose(this.socket, () => this.cutOff('server stopping'));
  }

  /** Nothing more is sent: the session leaves the router and the socket closes (its grant revoked, the server stopping). */
  cutOff(why: string): void {
    const { socket, session } = this;
    this.socket = null;
    this.session = null;
    if (session) this.hub.close(session, why);
    void socket?.close();
  }

  policyChanged(): void {
    // Its one session is judged again by the hub, its destination by the gate through the grant.
  }
}

/**
 * A ground station serving MAVLink on a TCP port: mavgate connects to it, and reconnects
 * with backoff when it goes away; each connection is a client of the hub.
 */
export class TcpGcsPush implements GcsEndpoint {
  private socket: Socket | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = FIRST_RETRY_MS;
  private why = '';
  readonly localPort = 0;

  /** `coalesce`: the largest write of frames sent together, or null for one write per frame. */
  constructor(readonly text: string, private readonly grant: ConnectGrant, private readonly hub: ClientHub, private readonly principal: () => Principal, private readonly coalesce: number | null) {
    assertGrant(grant, 'connect');
  }

  /** Starts connecting; a ground station not up yet is waited for, not an error. */
  async start(): Promise<void> {
    admitDestination(this.hub, this.text, this.principal, this.grant.address);
    this.connect();
  }

  private connect(): void {
    const { address, port } = this.grant;
    const socket = connect({ host: address, port, noDelay: true });
    this.socket = socket;
    let session: ClientSession | null = null;
    socket.on('connect', () => {
      this.retryDelay = FIRST_RETRY_MS;
      // The token as it is now (a reload may have changed or removed it).
      const principal = admitPeer(this.hub, this.text, this.principal, address);
      if (!principal) {
        socket.destroy();
        return;
      }
      session = this.hub.open('tcp', streamTransport(socket, this.coalesce), principal, `${address}:${port}`, { close: () => socket.destroy() }, { autoControl: true, destination: this.grant });
      socket.on('data', (chunk) => this.hub.receiveRaw(session!, chunk));
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (session) this.hub.close(session, this.stopped ? this.why : 'the ground station closed the connection');
      if (this.stopped || this.socket !== socket) return;
      this.retryTimer = setTimeout(() => this.connect(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_MS);
    });
  }

  async stop(): Promise<void> {
    this.cutOff('server stopping');
  }

  cutOff(why: string): void {
    this.stopped = true;
    this.why = why;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.socket = null;
  }

  policyChanged(): void {
    // Its session is judged again by the hub, its destination by the gate through the grant.
  }
}
