/**
 * Replies mavgate makes in a vehicle's name (a refusal's ack, its reason as status text)
 * go to one client, and must not break the numbering of the vehicle's stream as that
 * client counts it: pymavlink, MAVProxy, QGroundControl and Mission Planner all count a
 * gap in a source's sequence numbers as loss (a number repeated, as 255 lost). So a reply
 * waits for the next telemetry frame of that source on its way to this client and takes
 * its place and its number: the client sees an unbroken numbering and one telemetry frame
 * fewer (the next of its kind follows within its period). Replies of a source that has
 * gone silent are sent after `waitMs` numbered after the last frame seen, the one case
 * where the client may later count a gap. See docs/ground-stations.md.
 */
import type { OutgoingMessage } from '../mavlink/index.js';

interface Parked {
  message: OutgoingMessage;
  at: number;
}

/** Encodes a reply as `source` ((sysid << 8) | compid) with sequence number `seq`. */
export type ReplyEncoder = (message: OutgoingMessage, source: number, seq: number) => Buffer;

export class ReplySlots {
  private readonly parked = new Map<number, Parked[]>();
  /** Per source, the last number a silent source's replies were sent with, and the stream's last number then. */
  private readonly numberedOn = new Map<number, { streamLast: number; sent: number }>();

  constructor(private readonly encode: ReplyEncoder, readonly waitMs: number) {}

  get size(): number {
    let n = 0;
    for (const list of this.parked.values()) n += list.length;
    return n;
  }

  park(source: number, message: OutgoingMessage, now: number): void {
    const list = this.parked.get(source);
    if (list) list.push({ message, at: now });
    else this.parked.set(source, [{ message, at: now }]);
  }

  waitingFor(source: number): boolean {
    return this.parked.has(source);
  }

  /** The oldest reply of `source`, numbered `seq`: the number of the frame whose place it takes. */
  take(source: number, seq: number): Buffer | null {
    const list = this.parked.get(source);
    const next = list?.shift();
    if (!next) return null;
    if (list!.length === 0) this.parked.delete(source);
    return this.encode(next.message, source, seq);
  }

  /**
   * Replies that waited `waitMs` for a frame whose place to take: their source fell
   * silent. Numbered on from `lastSeq(source)`, oldest first.
   */
  overdue(now: number, lastSeq: (source: number) => number): Buffer[] {
    const out: Buffer[] = [];
    for (const [source, list] of this.parked) {
      if (now - list[0]!.at < this.waitMs) continue;
      const streamLast = lastSeq(source);
      const before = this.numberedOn.get(source);
      // Still silent since the last such replies: go on from their numbers, not the stream's.
      let seq = before && before.streamLast === streamLast ? before.sent : streamLast;
      for (const p of list) out.push(this.encode(p.message, source, (seq = (seq + 1) & 0xff)));
      this.numberedOn.set(source, { streamLast, sent: seq });
      this.parked.delete(source);
    }
    return out;
  }
}
