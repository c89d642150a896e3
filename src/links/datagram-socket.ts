/**
 * A UDP socket for the links, on one of two back ends:
 * - `recvmmsg` (Linux, native/udp): one recvmmsg(2) and one call into JavaScript per
 *   wake-up, however many datagrams arrived, and a synchronous sendmsg(2) of a frame vector;
 * - `dgram` (Node's own, everywhere): one recvmsg, a 64 KiB allocation, an address object
 *   and a callback per datagram.
 * Both deliver the same thing: each datagram's bytes (a view, never truncated) and who
 * sent it. The native one is used when it was built (`npm ci` builds it; see
 * scripts/build-native.js) unless MAVGATE_UDP=dgram asks for Node's.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { openTurn, settleTurn } from './send-batch.js';

export type UdpBackend = 'recvmmsg' | 'dgram';

export interface DatagramPeer {
  address: string;
  port: number;
}

/** A datagram's bytes and its sender; `bytes` stays valid for as long as it is referenced. */
export type OnDatagram = (bytes: Buffer, address: string, port: number) => void;
/** A send or receive failed after the socket was open (an ICMP "port unreachable" among them). */
export type OnSocketError = (err: NodeJS.ErrnoException) => void;

export interface DatagramHandlers {
  datagram: OnDatagram;
  error: OnSocketError;
}

export interface DatagramSocket {
  readonly backend: UdpBackend;
  /** Listens on address:port. */
  bind(address: string, port: number): Promise<void>;
  /** Binds an ephemeral port and connects to address:port: the kernel then drops datagrams from anyone else. */
  connect(address: string, port: number): Promise<void>;
  /** Sends one datagram (several buffers: one scatter-gather send, no copy): to the connected peer, else to `to`. */
  send(data: Uint8Array | readonly Uint8Array[], to?: DatagramPeer): void;
  localPort(): number;
  /** Asks for a receive buffer (SO_RCVBUF); returns what the kernel granted. */
  setReceiveBuffer(bytes: number): number;
  receiveBuffer(): number;
  close(): Promise<void>;
}

/** What native/udp/mavgate_udp.c exports. */
interface NativeUdp {
  batchSize: number;
  metaInts: number;
  open(family: 4 | 6): NativeHandle;
  bind(socket: NativeHandle, address: string, port: number): void;
  connect(socket: NativeHandle, address: string, port: number): void;
  setPeer(socket: NativeHandle, address: string, port: number): void;
  localPort(socket: NativeHandle): number;
  receiveBuffer(socket: NativeHandle, bytes?: number): number;
  start(socket: NativeHandle, onBatch: (data: Buffer | null, count: number) => void, meta: Int32Array): void;
  send(socket: NativeHandle, data: Uint8Array | readonly Uint8Array[]): number;
  formatAddress(family: number, a0: number, a1: number, a2: number, a3: number): string;
  close(socket: NativeHandle): void;
}
declare const nativeHandle: unique symbol;
type NativeHandle = { readonly [nativeHandle]: true };

const ADDON = '../../native/udp/build/Release/mavgate_udp.node';

/** MAVGATE_UDP as asked: `dgram`, or the default (`auto`, `recvmmsg`, unset); anything else is said and ignored. */
const asked = (process.env.MAVGATE_UDP ?? '').trim().toLowerCase();
const UDP_SETTINGS = ['', 'auto', 'recvmmsg', 'dgram'];

/** The native back end, or why it is not used. */
function loadNative(): { native: NativeUdp } | { unavailable: string } {
  if (asked === 'dgram') return { unavailable: 'MAVGATE_UDP=dgram' };
  if (process.platform !== 'linux') return { unavailable: `recvmmsg is Linux-only (this is ${process.platform})` };
  try {
    // The same relative path from src/links and dist/links.
    return { native: createRequire(import.meta.url)(ADDON) as NativeUdp };
  } catch (err) {
    return { unavailable: `native/udp is not built (${(err as Error).message.split('\n')[0]}); npm run build:native builds it` };
  }
}

const loaded = loadNative();

/** The back end new sockets use; why the native one is not, if it is not; a MAVGATE_UDP value that was ignored. */
export const udpBackend: { backend: UdpBackend; reason?: string; warning?: string } = {
  ...('native' in loaded ? { backend: 'recvmmsg' as const } : { backend: 'dgram' as const, reason: loaded.unavailable }),
  ...(UDP_SETTINGS.includes(asked) ? {} : { warning: `MAVGATE_UDP="${process.env.MAVGATE_UDP}" is not dgram, recvmmsg or auto: ignored` }),
};

/**
 * The back end for a socket bound or connected to `host`. The native path carries no IPv6
 * scope (`fe80::1%eth0`): a socket that could meet a link-local peer (bound to one, or to
 * `::`, every interface) stays on dgram, which names and answers such peers.
 */
export function backendFor(host: string): UdpBackend {
  if (udpBackend.backend === 'dgram' || !isIPv6(host)) return udpBackend.backend;
  const bare = host.split('%')[0]!.toLowerCase();
  return host.includes('%') || bare === '::' || /^fe[89ab]/.test(bare) ? 'dgram' : 'recvmmsg';
}

/** A socket for binding or connecting to `host` (its family and, by default, its back end follow from it). */
export function createDatagramSocket(host: string, on: DatagramHandlers, backend: UdpBackend = backendFor(host)): DatagramSocket {
  const family = isIPv6(host) ? 6 : 4;
  if (backend === 'recvmmsg') {
    if (!('native' in loaded)) throw new Error(`the recvmmsg UDP back end is unavailable: ${loaded.unavailable}`);
    return new NativeDatagramSocket(loaded.native, family, on);
  }
  return new NodeDatagramSocket(family, on.datagram, on.error);
}

/** A system error as Node shapes them: `code` is the errno's name. */
function systemError(errno: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno, syscall });
}

function normalised(err: unknown): NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException;
  return typeof e.errno === 'number' && e.errno < 0 ? systemError(e.errno, e.syscall ?? 'udp') : e;
}

class NativeDatagramSocket implements DatagramSocket {
  readonly backend = 'recvmmsg';
  private readonly handle: NativeHandle;
  private closed = false;
  /** Where `send` goes on an unconnected socket, as the addon holds it. */
  private peer: DatagramPeer | null = null;
  /** A connected socket sends without an address: the kernel keeps its route, no lookup per datagram. */
  private connected = false;
  /** The last sender's address in the metadata's words, and as text (one lookup per new sender, not per datagram). */
  private readonly sender = new Int32Array(5);
  private senderText = '';

  constructor(
    private readonly native: NativeUdp,
    family: 4 | 6,
    private readonly on: DatagramHandlers,
  ) {
    this.handle = native.open(family);
  }

  private call<T>(work: () => T): T {
    try {
      return work();
    } catch (err) {
      throw normalised(err);
    }
  }

  bind(address: string, port: number): Promise<void> {
    return this.opened(() => this.native.bind(this.handle, address, port));
  }

  connect(address: string, port: number): Promise<void> {
    return this.opened(() => {
      this.native.connect(this.handle, address, port);
      this.connected = true;
    });
  }

  private opened(open: () => void): Promise<void> {
    try {
      this.call(open);
      this.receive();
      return Promise.resolve();
    } catch (err) {
      void this.close();
      return Promise.reject(err);
    }
  }

  private receive(): void {
    const { native, sender, on } = this;
    const stride = native.metaInts;
    const meta = new Int32Array(native.batchSize * stride);
    native.start(this.handle, (data, count) => {
      if (data === null) {
        on.error(systemError(count, 'recvmmsg'));
        return;
      }
      // A wake-up's datagrams are one turn: what they make ready leaves when the last is handled, not after another turn of the loop.
      openTurn();
      try {
        let offset = 0;
        // Closed from a handler (a link revoked mid-batch): the rest of the batch goes unheard, as on dgram.
        for (let i = 0, m = 0; i < count && !this.closed; i++, m += stride) {
          const length = meta[m]!;
          const bytes = count === 1 && length === data.length ? data : data.subarray(offset, offset + length);
          offset += length;
          if (meta[m + 2] !== sender[0] || meta[m + 3] !== sender[1] || meta[m + 4] !== sender[2] || meta[m + 5] !== sender[3] || meta[m + 6] !== sender[4]) {
            sender.set(meta.subarray(m + 2, m + 7));
            this.senderText = native.formatAddress(sender[0]!, sender[1]!, sender[2]!, sender[3]!, sender[4]!);
          }
          on.datagram(bytes, this.senderText, meta[m + 1]!);
        }
      } finally {
        settleTurn();
      }
    }, meta);
  }

  send(data: Uint8Array | readonly Uint8Array[], to?: DatagramPeer): void {
    if (this.closed) return;
    if (to && !this.connected && (to.port !== this.peer?.port || to.address !== this.peer.address)) {
      this.call(() => this.native.setPeer(this.handle, to.address, to.port));
      this.peer = { address: to.address, port: to.port };
    }
    const sent = this.native.send(this.handle, data);
    // Synchronous and never queued: a full send buffer (EAGAIN) loses this datagram, as the network would.
    if (sent < 0) this.on.error(systemError(sent, 'sendmsg'));
  }

  localPort(): number {
    return this.closed ? 0 : this.call(() => this.native.localPort(this.handle));
  }

  setReceiveBuffer(bytes: number): number {
    return this.call(() => this.native.receiveBuffer(this.handle, bytes));
  }

  receiveBuffer(): number {
    return this.closed ? 0 : this.call(() => this.native.receiveBuffer(this.handle));
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.native.close(this.handle);
    }
    return Promise.resolve();
  }
}

class NodeDatagramSocket implements DatagramSocket {
  readonly backend = 'dgram';
  private readonly socket: Socket;
  private connected = false;

  constructor(family: 4 | 6, onDatagram: OnDatagram, private readonly onError: OnSocketError) {
    this.socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    this.socket.on('message', (msg, rinfo) => onDatagram(msg, rinfo.address, rinfo.port));
  }

  bind(address: string, port: number): Promise<void> {
    return this.opened((ready) => this.socket.bind({ port, address }, ready));
  }

  connect(address: string, port: number): Promise<void> {
    return this.opened((ready) => this.socket.bind({ port: 0 }, () => this.socket.connect(port, address, () => {
      this.connected = true;
      ready();
    })));
  }

  private opened(open: (ready: () => void) => void): Promise<void> {
    const { socket } = this;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      open(() => {
        socket.removeListener('error', reject);
        socket.on('error', this.onError);
        resolve();
      });
    });
  }

  send(data: Uint8Array | readonly Uint8Array[], to?: DatagramPeer): void {
    // No completion callback: without one Node tries a synchronous sendmsg first instead of
    // queueing a request per datagram. Send errors arrive as 'error' events.
    if (this.connected) this.socket.send(data);
    else if (to) this.socket.send(data, to.port, to.address);
  }

  localPort(): number {
    try {
      return this.socket.address().port;
    } catch {
      return 0;
    }
  }

  setReceiveBuffer(bytes: number): number {
    this.socket.setRecvBufferSize(bytes);
    return this.socket.getRecvBufferSize();
  }

  receiveBuffer(): number {
    try {
      return this.socket.getRecvBufferSize();
    } catch {
      return 0;
    }
  }

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    // Every caller waits for the one close.
    this.closing ??= new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }
}
