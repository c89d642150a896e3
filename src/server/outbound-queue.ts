/**
 * A client's bounded send queue. Frames go straight to the transport while it keeps up;
 * when its buffer passes the high-water mark they wait here. A waiting frame of a type is
 * replaced by a newer one of the same type and source (for telemetry the newest state
 * wins; the order of what is left is kept), except replies that must all arrive (command
 * acks, status texts, mission and parameter transfers). The queue never grows past its
 * limit, so a client that stops reading costs a fixed amount of memory, and nothing it
 * does can slow the link or the other clients.
 */

/** Where a client's bytes go: a WebSocket, a TCP socket, a UDP peer. */
export interface ClientTransport {
  /** Hands `data` to the transport; `flushed` runs once it has left the process (ordering kept). */
  write(data: Buffer | string, flushed: () => void): void;
  /** Bytes handed over but not yet flushed. */
  buffered(): number;
  /** Datagrams or writes that left, when the transport coalesces frames (UDP and TCP ground stations). */
  datagrams?(): number;
  /** Drops what was handed over and has not left yet (the client is gone or refused); returns how many frames. */
  discard?(): number;
}

interface Entry {
  key: number;
  data: Buffer | string;
  /** Replaced by a newer frame of its type, or dropped to make room. */
  dead: boolean;
  keep: boolean;
}

export interface QueueOptions {
  /** Frames waiting at most (beyond what the transport holds). */
  maxFrames: number;
  /** Stop handing frames to the transport above this many buffered bytes. */
  highWaterBytes: number;
}

export const DEFAULT_QUEUE: QueueOptions = { maxFrames: 1000, highWaterBytes: 256 * 1024 };

export class OutboundQueue {
  private entries: Entry[] = [];
  private head = 0;
  private live = 0;
  private readonly byKey = new Map<number, Entry>();
  /** Frames lost to coalescing or to a full queue. */
  dropped = 0;
  sent = 0;
  /** When the transport last made progress while frames were waiting (0: nothing waiting). */
  private waitingSince = 0;
  /** Frames that must not be dropped overflowed the queue: the client has to go. */
  overflowed = false;

  constructor(
    private readonly transport: ClientTransport,
    private readonly options: QueueOptions = DEFAULT_QUEUE,
    private readonly now: () => number = Date.now,
  ) {}

  get length(): number {
    return this.live;
  }

  /** How long frames have waited without the transport taking any (0 when it keeps up). */
  stalledFor(): number {
    return this.live === 0 ? 0 : this.now() - this.waitingSince;
  }

  /** Queues one frame; `key` names its type and source, `keep` marks a frame that must not be coalesced away. */
  push(data: Buffer | string, key: number, keep: boolean): void {
    if (this.live === 0 && this.transport.buffered() < this.options.highWaterBytes) {
      this.write(data);
      return;
    }
    if (!keep) {
      const older = this.byKey.get(key);
      if (older) this.kill(older);
    }
    if (this.live >= this.options.maxFrames && !this.makeRoom(keep)) return;
    // A frame is a view into the chunk it arrived in: a waiting one gets its own bytes, so that it does not keep a whole chunk alive.
    const entry: Entry = { key, data: typeof data === 'string' ? data : Buffer.from(data), dead: false, keep };
    if (this.live === 0) this.waitingSince = this.now();
    this.entries.push(entry);
    this.live++;
    if (!keep) this.byKey.set(key, entry);
    // While the client reads nothing, replaced frames pile up as dead entries: sweep them out.
    if (this.entries.length - this.head > 2 * this.options.maxFrames + 64) this.compact();
  }

  /** Datagrams or writes that left, when the transport counts them. */
  get datagrams(): number | undefined {
    return this.transport.datagrams?.();
  }

  /** The client is gone or refused: nothing waiting here or in the transport leaves any more. */
  close(): void {
    this.dropped += this.live + (this.transport.discard?.() ?? 0);
    this.entries = [];
    this.head = 0;
    this.live = 0;
    this.byKey.clear();
  }

  /** Hands waiting frames to the transport while it is below the high-water mark. */
  pump(): void {
    while (this.live > 0 && this.transport.buffered() < this.options.highWaterBytes) {
      const entry = this.entries[this.head++]!;
      if (entry.dead) continue;
      this.live--;
      if (!entry.keep && this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
      this.write(entry.data);
    }
    if (this.live === 0) {
      this.entries.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.compact();
    }
  }

  private compact(): void {
    this.entries = this.entries.slice(this.head).filter((e) => !e.dead);
    this.head = 0;
  }

  private write(data: Buffer | string): void {
    this.sent++;
    this.transport.write(data, this.flushed);
  }

  private readonly flushed = (): void => {
    if (this.live > 0) {
      this.waitingSince = this.now();
      this.pump();
    }
  };

  /** Drops the oldest droppable frame to make room; without one, a frame that must be kept overflows. */
  private makeRoom(keep: boolean): boolean {
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (!entry.dead && !entry.keep) {
        this.kill(entry);
        return true;
      }
    }
    this.dropped++;
    if (keep) this.overflowed = true;
    return false;
  }

  private kill(entry: Entry): void {
    entry.dead = true;
    entry.data = '';
    this.live--;
    this.dropped++;
    if (this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
  }
}
