/** A slow client's bounded queue, against a transport that holds what it was handed until the client reads. */
import { describe, expect, it } from 'vitest';
import { type ClientTransport, OutboundQueue } from '../src/server/outbound-queue.js';

class FakeTransport implements ClientTransport {
  written: string[] = [];
  private pending: { bytes: number; flushed: () => void }[] = [];

  write(data: Buffer | string, flushed: () => void): void {
    this.written.push(String(data));
    this.pending.push({ bytes: data.length, flushed });
  }

  buffered(): number {
    return this.pending.reduce((n, p) => n + p.bytes, 0);
  }

  /** The client reads: everything handed over so far is flushed (and the queue refills what it can). */
  drain(): void {
    while (this.pending.length > 0) this.pending.shift()!.flushed();
  }
}

const KEEP = true;
const DROPPABLE = false;
/** One frame in flight fills the transport: everything after it waits in the queue. */
const ONE_IN_FLIGHT = { maxFrames: 10, highWaterBytes: 1 };

describe('OutboundQueue', () => {
  it('writes straight through while the transport keeps up', () => {
    const t = new FakeTransport();
    const q = new OutboundQueue(t, { maxFrames: 4, highWaterBytes: 1000 });
    for (const s of ['a1', 'b1', 'a2']) q.push(s, s.charCodeAt(0), DROPPABLE);
    expect(t.written).toEqual(['a1', 'b1', 'a2']);
    expect(q.length).toBe(0);
  });

  it('keeps the newest frame of each type while blocked, in order, and never coalesces replies away', () => {
    const t = new FakeTransport();
    const q = new OutboundQueue(t, ONE_IN_FLIGHT);
    const push = (s: string, keep = DROPPABLE) => q.push(s, s.charCodeAt(0), keep);
    push('x0');
    push('a1'); push('b1'); push('ack1', KEEP); push('a2'); push('ack2', KEEP); push('b2'); push('a3');
    expect(q.length).toBe(4);
    expect(q.dropped).toBe(3);
    for (let i = 0; i < 5; i++) t.drain();
    expect(t.written).toEqual(['x0', 'ack1', 'ack2', 'b2', 'a3']);
  });

  it('drops the oldest droppable frame when full, and flags an overflow when only replies are left', () => {
    const t = new FakeTransport();
    const q = new OutboundQueue(t, { maxFrames: 2, highWaterBytes: 1 });
    q.push('x', 0, DROPPABLE);
    q.push('a', 1, DROPPABLE);
    q.push('b', 2, DROPPABLE);
    q.push('c', 3, DROPPABLE);
    expect(q.length).toBe(2);
    q.push('k1', 4, KEEP);
    q.push('k2', 5, KEEP);
    expect(q.overflowed).toBe(false);
    q.push('k3', 6, KEEP);
    expect(q.overflowed).toBe(true);
    for (let i = 0; i < 3; i++) t.drain();
    expect(t.written).toEqual(['x', 'k1', 'k2']);
  });

  it('measures how long frames have waited without progress', () => {
    let now = 0;
    const t = new FakeTransport();
    const q = new OutboundQueue(t, ONE_IN_FLIGHT, () => now);
    q.push('a', 1, DROPPABLE);
    q.push('b', 2, DROPPABLE);
    now = 5000;
    expect(q.stalledFor()).toBe(5000);
    t.drain();
    expect(q.stalledFor()).toBe(0);
    expect(t.written).toEqual(['a', 'b']);
  });

  it('keeps its own copy of a waiting frame, not a view into the chunk it arrived in', () => {
    const t = new FakeTransport();
    const q = new OutboundQueue(t, ONE_IN_FLIGHT);
    q.push('first', 0, DROPPABLE);
    const chunk = Buffer.from('hello world');
    q.push(chunk.subarray(0, 5), 1, DROPPABLE);
    chunk.fill(0);
    t.drain();
    expect(t.written).toEqual(['first', 'hello']);
  });
});

describe('OutboundQueue memory', () => {
  it('holds no more than its limit while the client reads nothing, however long that lasts', () => {
    const t = new FakeTransport();
    const q = new OutboundQueue(t, { maxFrames: 20, highWaterBytes: 1 });
    q.push('first', 0, DROPPABLE);
    for (let i = 0; i < 100_000; i++) q.push(`frame ${i}`, i % 7, DROPPABLE);
    expect(q.length).toBe(7);
    // Replaced frames are swept out, not kept as dead entries.
    expect((q as unknown as { entries: unknown[] }).entries.length).toBeLessThanOrEqual(2 * 20 + 64 + 1);
    t.drain();
    expect(t.written.slice(1)).toEqual([99_993, 99_994, 99_995, 99_996, 99_997, 99_998, 99_999].map((i) => `frame ${i}`));
  });
});
