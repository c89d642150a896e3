/**
 * One connected ground-control client: who it is, how to reach it, what it may receive,
 * and its counters. The hub does the deciding; a session only holds the state.
 */
import type { FrameDecoder } from '../mavlink/index.js';
import type { ConnectGrant } from '../residency/gate.js';
import type { ReplySlots } from './reply-slots.js';
import type { RoutePort } from '../router/router.js';
import type { EgressMeter } from '../residency/egress-meter.js';
import { OutboundQueue } from './outbound-queue.js';
import type { Principal } from './tokens.js';

/** mavlink2rest JSON or raw frames over WebSocket, a UDP or TCP GCS endpoint, or REST requests. */
export type ClientKind = 'ws-json' | 'ws-raw' | 'udp' | 'tcp' | 'rest';

export interface RateLimit {
  /** Sustained messages per second a client may send. */
  perSecond: number;
  /** Messages it may send at once (Cockpit sends dozens of stream requests at start). */
  burst: number;
}

/** A token bucket: `burst` messages at once, refilled at `perSecond`. */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(private readonly limit: RateLimit, private readonly now: () => number) {
    this.tokens = limit.burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limit.burst, this.tokens + ((t - this.last) / 1000) * this.limit.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

export interface SessionCounters {
  /** Frames accepted from the client and routed. */
  accepted: number;
  /** Messages refused (bad input, role, source, control, rate). */
  refused: number;
  rateLimited: number;
}

export interface SessionHooks {
  /** A text reply to this client alone (JSON clients: `Ok(N)` or an error; raw WebSocket: errors). */
  reply?: (text: string) => void;
  /** Ends the connection (stalled, or the server is stopping). */
  close: (code: number, reason: string) => void;
}

export class ClientSession {
  readonly counters: SessionCounters = { accepted: 0, refused: 0, rateLimited: 0 };
  /** Refusals by kind and message: the first of each is audited, the counts when the client goes. */
  readonly refusals = new Map<string, number>();
  /** Message ids the client's filter lets through (JSON clients' `?filter=`), cached per id. */
  private readonly filterCache = new Map<number, boolean>();
  readonly connectedAt = new Date();
  closed = false;
  /** Bytes received when the hub last looked for quiet clients. */
  bytesAtLastSweep = 0;

  constructor(
    readonly id: string,
    readonly kind: ClientKind,
    readonly principal: Principal,
    /** `address:port` of the peer. */
    readonly address: string,
    readonly queue: OutboundQueue,
    readonly port: RoutePort,
    public meter: EgressMeter,
    readonly decoder: FrameDecoder,
    readonly limiter: RateLimiter,
    readonly hooks: SessionHooks,
    /** Regex on message names, for JSON clients. */
    private readonly nameFilter: RegExp | null,
    /** Take the control lease on the first message that needs it (GCS endpoints: QGroundControl cannot ask). */
    readonly autoControl: boolean,
    /** Replies made in a vehicle's name, waiting for a frame of that vehicle whose place to take. */
    readonly replies: ReplySlots,
    /** When the client last sent something (REST callers are forgotten after a while). */
    public lastActive: number,
    /** For a ground station mavgate sends to (`--gcs udp:HOST:PORT`): the grant for its address. */
    readonly destination: ConnectGrant | null,
  ) {}

  /** Sequence numbers of replies in the name of a source this client never heard (numbered from 0). */
  readonly ownSequence = new Map<number, number>();
  replyTimer: NodeJS.Timeout | null = null;

  /** The peer's IP address (`address` without its port). */
  get ip(): string {
    return this.address.slice(0, this.address.lastIndexOf(':'));
  }

  /** How the audit log and the logs name this client. */
  get entry(): string {
    return `${this.id} ${this.kind} ${this.principal.name} (${this.principal.role}) from ${this.address}`;
  }

  wants(msgid: number, name: () => string | undefined): boolean {
    if (!this.nameFilter) return true;
    let yes = this.filterCache.get(msgid);
    if (yes === undefined) {
      const n = name();
      yes = n !== undefined && this.nameFilter.test(n);
      this.filterCache.set(msgid, yes);
    }
    return yes;
  }
}
