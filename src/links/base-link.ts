/** What every link kind shares: its byte stream, its state, its counters, coalesced sends, and reconnecting with backoff. */
import { EventStream, StateStream, type Subscribable } from '../events/event-stream.js';
import { assertGrant, type ConnectGrant, type ListenGrant, type Protocol } from '../residency/gate.js';
import type { Endpoint } from './endpoint.js';
import type { LinkCounters, LinkState, LinkStatus, VehicleLink } from './link.js';
import { type SendBatch, sendBatchFor, type Transmit } from './send-batch.js';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

export abstract class BaseLink implements VehicleLink {
  private readonly data = new EventStream<Buffer>();
  private readonly state = new StateStream<LinkState>({ status: 'connecting' }, (a, b) => a.status === b.status && a.reason === b.reason);
  private readonly restarted = new EventStream<string>();
  readonly data$: Subscribable<Buffer> = this.data;
  readonly restarts$: Subscribable<string> = this.restarted;
  readonly wholeFrames: boolean = false;
  private wasUp = false;
  readonly state$: Subscribable<LinkState> = this.state;
  readonly counters: LinkCounters = { bytesIn: 0, bytesOut: 0, framesOut: 0, datagramsOut: 0, writesDropped: 0, peersRefused: 0 };
  protected closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = FIRST_RETRY_MS;
  /** Frames waiting for the end of this turn of the event loop; null when each frame is sent alone. */
  private readonly batch: SendBatch | null;

  constructor(
    readonly id: string,
    readonly endpoint: Endpoint,
  ) {
    this.batch = sendBatchFor(endpoint, this.transmitBatch);
  }

  abstract open(): Promise<void>;
  protected abstract shutdown(): Promise<void>;
  /** Whether a write can leave now (the socket is open, a peer is known). */
  protected abstract canSend(): boolean;
  /** Sends one datagram or write made of `data`: one frame, or frames that leave together. */
  protected abstract transmit(data: Buffer | readonly Buffer[], bytes: number): void;

  /** Sends one frame, or queues it to leave with the others of this turn; false (and counted) when the link cannot send. */
  write(bytes: Uint8Array): boolean {
    if (this.closed || !this.canSend()) return this.dropped();
    const frame = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.batch) {
      this.batch.add(frame);
      return true;
    }
    this.transmit(frame, frame.length);
    return this.sent(frame.length, 1);
  }

  private readonly transmitBatch: Transmit = (data, bytes, frames) => {
    // The link may have lost its peer since the frames were queued: they go nowhere, counted.
    if (this.closed || !this.canSend()) {
      this.counters.writesDropped += frames;
      return;
    }
    this.transmit(data, bytes);
    this.sent(bytes, frames);
  };

  /** Drops the frames queued this turn and not sent yet: their destination was revoked or refused. */
  discardQueued(): void {
    this.counters.writesDropped += this.batch?.discard() ?? 0;
  }

  /** Sends the frames queued this turn now (before the link's peer changes). */
  protected flushQueued(): void {
    this.batch?.flush();
  }

  async close(): Promise<void> {
    // What this turn queued leaves before the link closes (a revoked link's was discarded already).
    this.flushQueued();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.shutdown();
    this.setState('down', 'closed');
    this.state.complete();
    this.data.complete();
    this.restarted.complete();
  }

  protected setState(status: LinkStatus, reason?: string): void {
    if (this.state.closed) return;
    const again = status === 'up' && this.wasUp && this.state.value.status !== 'up';
    this.state.next(reason === undefined ? { status } : { status, reason });
    if (status !== 'up') return;
    this.retryDelay = FIRST_RETRY_MS;
    this.wasUp = true;
    if (again) this.restart('the link reconnected');
  }

  /** What arrives from now on does not continue the stream before it. */
  protected restart(why: string): void {
    this.restarted.next(why);
  }

  protected receive(chunk: Buffer): void {
    this.counters.bytesIn += chunk.length;
    this.data.next(chunk);
  }

  protected sent(bytes: number, frames: number): true {
    this.counters.bytesOut += bytes;
    this.counters.framesOut += frames;
    this.counters.datagramsOut++;
    return true;
  }

  protected dropped(): false {
    this.counters.writesDropped++;
    return false;
  }

  /** Tries `attempt` again after a growing delay (250 ms doubling to 5 s), until the link is closed. */
  protected retry(attempt: () => void): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.closed) attempt();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, MAX_RETRY_MS);
  }
}

/**
 * The checked address a network link may use: the grant must come from the gate, be of
 * the kind the link needs, and cover the endpoint's protocol and port.
 */
export function grantedAddress(endpoint: Extract<Endpoint, { host: string }>, grant: ConnectGrant | ListenGrant, kind: 'connect' | 'listen', protocol: Protocol): string {
  assertGrant(grant, kind);
  if (grant.protocol !== protocol || grant.port !== endpoint.port) throw new Error(`grant for ${grant.protocol}:${grant.port} does not cover ${endpoint.text}`);
  return grant.address;
}
