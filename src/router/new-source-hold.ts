/**
 * Redundant links hear a vehicle a few milliseconds apart. Until the second radio has
 * heard it, nothing tells the router that the vehicle is behind that radio too, and the
 * vehicle's first frames would go back to it there. So, with deduplication on, a source's
 * frames bound from one link to another wait for one dedup window after the source is
 * first heard, and then go only to the links that have still not heard it.
 */
/** What the hold needs of a router port: who has been heard behind it. */
interface Port {
  readonly sources: ReadonlySet<number>;
}

interface Held<P extends Port> {
  port: P;
  source: number;
  bytes: Buffer;
  releaseAt: number;
}

export class NewSourceHold<P extends Port> {
  private readonly firstHeard = new Map<number, number>();
  private held: Held<P>[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly windowMs: number,
    private readonly now: () => number,
    /** Sends held bytes on, if the port is still attached. */
    private readonly deliver: (port: P, bytes: Buffer) => void,
  ) {}

  /** Notes that `source` was heard; true while it is new enough that its frames to other links must wait. */
  isNew(source: number, now: number): boolean {
    const first = this.firstHeard.get(source);
    if (first === undefined) {
      this.firstHeard.set(source, now);
      return true;
    }
    return now - first < this.windowMs;
  }

  hold(port: P, source: number, bytes: Buffer): void {
    this.held.push({ port, source, bytes, releaseAt: this.firstHeard.get(source)! + this.windowMs });
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.release();
    }, this.windowMs).unref();
  }

  /** Sends on what has waited its window, in order, to the ports that have still not heard its source. */
  release(): void {
    if (this.held.length === 0) return;
    const now = this.now();
    const waiting: Held<P>[] = [];
    for (const h of this.held) {
      if (h.releaseAt > now) waiting.push(h);
      else if (!h.port.sources.has(h.source)) this.deliver(h.port, h.bytes);
    }
    this.held = waiting;
    if (waiting.length > 0 && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.release();
      }, Math.max(1, waiting[0]!.releaseAt - now)).unref();
    }
  }
}
