/**
 * A vehicle link: a byte stream to and from a vehicle (or anything that speaks MAVLink
 * on the vehicle side). Links move bytes; they never decode.
 */
import type { Subscribable } from '../events/event-stream.js';
import type { Endpoint } from './endpoint.js';

export type LinkStatus = 'connecting' | 'up' | 'down' | 'error';

export interface LinkState {
  status: LinkStatus;
  /** Why the link is down or in error, in words a user can act on. */
  reason?: string;
}

export interface LinkCounters {
  bytesIn: number;
  bytesOut: number;
  /** Frames that left. */
  framesOut: number;
  /** Datagrams that left (on TCP and serial: writes); with coalesced sends, fewer than frames. */
  datagramsOut: number;
  /** Frames dropped because the link was down, had no peer to send to, or its destination was revoked before they left. */
  writesDropped: number;
  /** Datagrams or connections from peers the residency policy does not approve (listeners). */
  peersRefused: number;
}

export interface VehicleLink {
  readonly id: string;
  readonly endpoint: Endpoint;
  /** Byte chunks as they arrive. */
  readonly data$: Subscribable<Buffer>;
  /**
   * Each chunk holds whole frames only (a UDP datagram, a simulated or replayed frame): a
   * frame never continues in the next chunk, so a decoder need not wait for one to.
   */
  readonly wholeFrames: boolean;
  /**
   * The byte stream started again, so what follows does not continue what came before:
   * the link reconnected, a replayed recording wrapped. The reason, in words.
   */
  readonly restarts$: Subscribable<string>;
  /** connecting → up → down/error → connecting …; replays the current state to new subscribers. */
  readonly state$: Subscribable<LinkState>;
  readonly counters: LinkCounters;
  /** Opens the link; rejects with a LinkError when it cannot be opened at all (startup). */
  open(): Promise<void>;
  /**
   * Sends one frame; false (and counted) when the link cannot send right now. With
   * coalesced sends it leaves at the end of this turn of the event loop, with the other
   * frames written to this link in the same turn.
   */
  write(bytes: Uint8Array): boolean;
  /** Drops frames written this turn that have not left yet (the link's grant was revoked). */
  discardQueued(): void;
  /** The frame being handled verified: a listener may answer its sender (links with required signatures). */
  confirmSender?(): void;
  /**
   * Sends to whoever sent the chunk being handled, without making it the peer (a listener
   * that answers only confirmed senders); outside a chunk's handling, as `write`.
   */
  answerSender?(bytes: Uint8Array): boolean;
  close(): Promise<void>;
}

export class LinkError extends Error {
  /** `what`: what the endpoint is to the user, when not a vehicle link ("client server", "ground-station endpoint"). */
  constructor(readonly endpoint: string, readonly reason: string, what = 'link') {
    super(`${what} ${endpoint}: ${reason}`);
    this.name = 'LinkError';
  }
}

/** Turns a system error into words (EADDRINUSE → "address already in use"). */
export function describeSystemError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    EADDRINUSE: 'address already in use',
    EADDRNOTAVAIL: 'address not available on this machine',
    EACCES: 'permission denied',
    ENOENT: 'no such device',
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by peer',
    ETIMEDOUT: 'timed out',
    EHOSTUNREACH: 'host unreachable',
    ENOTFOUND: 'host name not found',
    EBUSY: 'device busy',
  };
  return (e.code && words[e.code]) ? `${words[e.code]} (${e.code})` : e.message ?? String(err);
}
