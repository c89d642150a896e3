/** What every link kind shares: its byte stream, its state, its counters, and reconnecting with backoff. */
import { BehaviorSubject, distinctUntilChanged, type Observable, Subject } from 'rxjs';
import { assertGrant, type ConnectGrant, type ListenGrant, type Protocol } from '../residency/gate.js';
import type { Endpoint } from './endpoint.js';
import type { LinkCounters, LinkState, LinkStatus, VehicleLink } from './link.js';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5000;

export abstract class BaseLink implements VehicleLink {
  private readonly data = new Subject<Buffer>();
  private readonly state = new BehaviorSubject<LinkState>({ status: 'connecting' });
  private readonly restarted = new Subject<string>();
  readonly data$: Observable<Buffer> = this.data.asObservable();
  readonly restarts$: Observable<string> = this.restarted.asObservable();
  readonly wholeFrames: boolean = false;
  private wasUp = false;
  readonly state$: Observable<LinkState> = this.state.pipe(
    distinctUntilChanged((a, b) => a.status === b.status && a.reason === b.reason),
  );
  readonly counters: LinkCounters = { bytesIn: 0, bytesOut: 0, writesDropped: 0, peersRefused: 0 };
  protected closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = FIRST_RETRY_MS;

  constructor(
    readonly id: string,
    readonly endpoint: Endpoint,
  ) {}

  abstract open(): Promise<void>;
  abstract write(bytes: Uint8Array): boolean;
  protected abstract shutdown(): Promise<void>;

  async close(): Promise<void> {
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

  protected sent(bytes: number): true {
    this.counters.bytesOut += bytes;
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
