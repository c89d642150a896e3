/**
 * Coalesced sends. Frames for one destination that become ready in the same turn of the
 * event loop leave together: as one datagram (UDP: a scatter-gather send of the frames'
 * own bytes, no copy) or one write (TCP, serial). Every MAVLink peer we know parses each
 * frame of a datagram (docs/ground-stations.md); the system call per datagram was most of
 * a relay's cost. Nothing waits for a timer: the batch leaves at the end of the turn that
 * filled it (`setImmediate`, after the I/O callbacks of this turn), or at once when the
 * next frame would not fit.
 *
 * A UDP destination's batch (a link, a ground-station endpoint) sends the first frame of a
 * turn at once and coalesces the ones that follow it in that turn (as Linux's TCP
 * autocorking does: the first small write leaves, the ones behind it wait for it). At a few thousand frames a second, where a wake-up
 * holds a handful of frames, that first datagram wakes the peer while the rest are still
 * being routed; sending the whole turn at its end cost the relay more CPU per frame than
 * one datagram per frame did (docs/benchmarks.md, 2026-12-02, invocations H–L; W and X for
 * ground-station endpoints).
 */
import type { Writable } from 'node:stream';
import { MAX_FRAME_LENGTH } from '../mavlink/index.js';
import type { Endpoint } from './endpoint.js';

/**
 * The largest coalesced UDP datagram by default: mavlink-router reads a datagram into a
 * buffer of 4 × 280 bytes and truncates a longer one, and 1,120 bytes stays under the
 * path MTU of Ethernet, Wi-Fi and the usual tunnels (IPv6's minimum, 1,280, included).
 */
export const DEFAULT_DATAGRAM_BYTES = 4 * MAX_FRAME_LENGTH;
/** The largest coalesced write on a byte stream (TCP, serial). */
export const DEFAULT_STREAM_WRITE_BYTES = 64 * 1024;
/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM_BYTES = 65_507;

/** How a link sends: one frame at a time (null), or in batches of a turn (a UDP link's turn starts with its first frame sent at once). */
export function sendBatchFor(endpoint: Endpoint, transmit: Transmit): SendBatch | null {
  const limit = coalesceLimit(endpoint);
  return limit === null ? null : new SendBatch(limit, transmit, isDatagram(endpoint));
}

/** How large a batch may grow for this endpoint, or null when each frame is sent alone. */
export function coalesceLimit(endpoint: Endpoint): number | null {
  // In-process links (the simulator, a replay, the fleet view) make no system calls to save.
  if (endpoint.kind === 'sim' || endpoint.kind === 'replay' || endpoint.kind === 'fleet') return null;
  if (endpoint.coalesce === false) return null;
  if (typeof endpoint.coalesce === 'number') return endpoint.coalesce;
  return isDatagram(endpoint) ? DEFAULT_DATAGRAM_BYTES : DEFAULT_STREAM_WRITE_BYTES;
}

function isDatagram(endpoint: Endpoint): boolean {
  return endpoint.kind === 'udp' || endpoint.kind === 'udp-listen';
}

/** One buffer for a byte stream's single write: the frame itself, or the frames copied end to end. */
export function joined(data: Buffer | readonly Buffer[], bytes: number): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.concat(data, bytes);
}

/** Sends what a batch holds: one frame, or several to go out as one datagram or write. */
export type Transmit = (data: Buffer | readonly Buffer[], bytes: number, frames: number) => void;

/** Something that has work waiting for the end of this turn of the event loop. */
interface EndOfTurn {
  settle(): void;
}

export class SendBatch implements EndOfTurn {
  private frames: Buffer[] = [];
  private bytes = 0;
  private due = false;

  /** `firstAtOnce`: the first frame of a turn is sent when it is added; the rest of the turn's frames are coalesced. */
  constructor(
    private readonly maxBytes: number,
    private readonly transmit: Transmit,
    private readonly firstAtOnce = false,
  ) {}

  get pendingFrames(): number {
    return this.frames.length;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  add(frame: Buffer): void {
    if (!this.due) {
      this.due = true;
      atEndOfTurn(this);
      if (this.firstAtOnce) {
        this.transmit(frame, frame.length, 1);
        return;
      }
    }
    if (this.bytes + frame.length > this.maxBytes) this.flush();
    this.frames.push(frame);
    this.bytes += frame.length;
  }

  /** Sends what is waiting now. */
  flush(): void {
    const count = this.frames.length;
    if (count === 0) return;
    const bytes = this.bytes;
    this.bytes = 0;
    // Emptied before the send, without `length = 0` (a call into V8's runtime on every send).
    if (count === 1) {
      this.transmit(this.frames.pop()!, bytes, 1);
      return;
    }
    const frames = this.frames;
    this.frames = [];
    this.transmit(frames, bytes, count);
  }

  /** Drops what is waiting (the destination was revoked or is gone); returns how many frames. */
  discard(): number {
    const count = this.frames.length;
    this.frames.length = 0;
    this.bytes = 0;
    return count;
  }

  /** @internal the end of the turn came. */
  settle(): void {
    this.due = false;
    this.flush();
  }
}

/**
 * A byte stream whose writes of one turn leave together: corked at the first write of a
 * turn, uncorked at its end, so the writes go out as one `writev`. For writers that frame
 * each message themselves (a WebSocket adds its own header per message), where the bytes
 * cannot simply be joined as `SendBatch` does.
 */
export class TurnCork implements EndOfTurn {
  private corked = false;

  constructor(private readonly stream: Writable) {}

  /** Call before each write: the first one of a turn corks the stream until the turn ends. */
  hold(): void {
    if (this.corked || this.stream.destroyed) return;
    this.corked = true;
    this.stream.cork();
    atEndOfTurn(this);
  }

  /** @internal the end of the turn came. */
  settle(): void {
    this.corked = false;
    this.stream.uncork();
  }
}

/** Work waiting for the end of this turn; one `setImmediate` serves it all. */
let waiting: EndOfTurn[] = [];
let due: NodeJS.Immediate | null = null;
/** A caller has opened this turn and will settle it (`openTurn`): no `setImmediate` is needed. */
let turnOpen = false;

function atEndOfTurn(batch: EndOfTurn): void {
  waiting.push(batch);
  if (due === null && !turnOpen) due = setImmediate(settleAll);
}

/**
 * Opens a turn its caller will end with `settleTurn`, knowing when nothing more arrives in
 * it: the native UDP socket (`datagram-socket.ts`) hands over all a wake-up received at once. What the turn queues
 * then waits for `settleTurn` instead of a `setImmediate`: no Immediate made and cleared,
 * and no switch of the event loop's idle handle on and off, on every wake-up.
 */
export function openTurn(): void {
  turnOpen = true;
}

/**
 * Settles now what waits for the end of this turn, for a caller that knows nothing more
 * arrives in it (the native UDP path, after `openTurn`). Saves the `setImmediate`, and
 * with it an extra non-blocking poll of the event loop per wake-up.
 */
export function settleTurn(): void {
  turnOpen = false;
  if (due !== null) {
    clearImmediate(due);
    due = null;
  }
  if (waiting.length > 0) settleAll();
}

function settleAll(): void {
  due = null;
  const batches = waiting;
  waiting = [];
  for (let i = 0; i < batches.length; i++) {
    try {
      batches[i]!.settle();
    } catch (err) {
      // One destination's failure must not hold back the others' frames.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
