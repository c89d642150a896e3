/**
 * The chunk/carry mechanics shared by the stream decoder and the tlog reader, in the
 * shape of ws's receiver: units (frames, records) are processed in place in the chunk
 * they arrived in; only a unit that straddles two chunks is assembled, in a small buffer
 * holding the previous chunk's tail plus the head of the new one.
 */
export abstract class ChunkScanner {
  private carry: Buffer | null = null;
  /** Stream offset of `buf[0]` in the current scan (for offsets in reports). */
  protected chunkStart = 0;

  constructor(readonly stats: { bytes: number }) {}

  /**
   * How many bytes of a new chunk to join to a carried tail: enough to finish any unit
   * that starts in the tail and to look past it (the next start marker, nested frames).
   */
  protected abstract readonly lookahead: number;

  /**
   * Processes the units of `buf` that start before `stopBefore`, with bytes available up
   * to `end`. Returns the position of the first byte not processed: `>= stopBefore` when
   * done, or the start of an incomplete unit. With `final`, nothing more will come, so an
   * incomplete unit is not waited for.
   */
  protected abstract scan(buf: Buffer, start: number, stopBefore: number, end: number, final: boolean): number;

  /** Called by end() with the bytes of a unit that never completed. */
  protected abstract onTruncatedEnd(tail: Buffer, streamOffset: number): void;

  push(chunk: Uint8Array): void {
    const buf = asBuffer(chunk);
    this.chunkStart = this.stats.bytes;
    this.stats.bytes += buf.length;
    let pos = 0;
    if (this.carry !== null) {
      pos = this.finishCarry(buf);
      if (pos < 0) return;
    }
    const stop = this.scan(buf, pos, buf.length, buf.length, false);
    // The only copy of the fast path: the head of a unit that the next chunk completes.
    if (stop < buf.length) this.carry = Buffer.from(buf.subarray(stop));
  }

  /**
   * A chunk that holds whole units and nothing more (a UDP datagram: frames never span
   * datagrams). A unit still incomplete at its end never completes, so nothing waits for
   * the next chunk: the bytes after a false start marker are read at once.
   */
  pushWhole(chunk: Uint8Array): void {
    this.end();
    const buf = asBuffer(chunk);
    this.chunkStart = this.stats.bytes;
    this.stats.bytes += buf.length;
    this.scan(buf, 0, buf.length, buf.length, true);
  }

  /** End of the stream: what is still incomplete never will be. */
  end(): void {
    const tail = this.carry;
    if (tail === null) return;
    this.carry = null;
    this.chunkStart = this.stats.bytes - tail.length;
    this.onTruncatedEnd(tail, this.chunkStart);
  }

  /** Bytes held back waiting for the rest of a unit. */
  get pendingBytes(): number {
    return this.carry?.length ?? 0;
  }

  /** Forgets the bytes held back (the stream they belonged to is gone); returns how many. */
  protected dropCarried(): number {
    const n = this.carry?.length ?? 0;
    this.carry = null;
    return n;
  }

  /** The bytes held back, starting with the unit that waits for the rest of its bytes. */
  protected get carried(): Buffer | null {
    return this.carry;
  }

  /**
   * Gives up the unit the carried bytes start with, as if the stream had ended after it,
   * and reads what follows it as usual (keeping a later incomplete unit waiting).
   */
  protected giveUpFirstCarried(): void {
    const tail = this.carry;
    if (tail === null) return;
    this.carry = null;
    this.chunkStart = this.stats.bytes - tail.length;
    const after = this.scan(tail, 0, 1, tail.length, true);
    const stop = this.scan(tail, after, tail.length, tail.length, false);
    if (stop < tail.length) this.carry = tail.subarray(stop);
  }

  /**
   * Joins the carried tail with the head of `buf` and processes the units that start in
   * the tail; the units after them are left to be read in place from `buf`. Returns where
   * to continue in `buf`, or -1 if `buf` ended before the carried unit did.
   */
  private finishCarry(buf: Buffer): number {
    const tail = this.carry!;
    this.carry = null;
    const take = Math.min(buf.length, this.lookahead);
    const joined = Buffer.allocUnsafe(tail.length + take);
    tail.copy(joined, 0);
    buf.copy(joined, tail.length, 0, take);
    this.chunkStart -= tail.length;
    // With `lookahead` bytes behind the tail, a unit that starts in the tail can only be
    // incomplete when `buf` itself is shorter than that.
    const stop = this.scan(joined, 0, tail.length, joined.length, false);
    this.chunkStart += tail.length;
    if (stop < tail.length) {
      this.carry = joined.subarray(stop);
      return -1;
    }
    return stop - tail.length;
  }
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
