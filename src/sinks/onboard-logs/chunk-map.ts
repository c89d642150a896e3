/**
 * Which 90-byte chunks of an onboard log have arrived: one bit per chunk, so a 50 MB log
 * costs 70 kB, and the map of a partial download can be kept on disk beside it.
 */

/** Bytes of log data in one LOG_DATA message. */
export const LOG_CHUNK = 90;

export class ChunkMap {
  private readonly bits: Uint8Array;
  private count = 0;
  /** The log's size in bytes; it shrinks when the vehicle ends the log early. */
  size: number;

  constructor(size: number, bits?: Uint8Array) {
    this.size = size;
    const chunks = Math.ceil(size / LOG_CHUNK);
    this.bits = new Uint8Array(Math.ceil(chunks / 8));
    if (bits) {
      if (bits.length !== this.bits.length) throw new Error(`a map of ${bits.length * 8} chunks does not fit a ${size}-byte log`);
      this.bits.set(bits);
      for (let i = 0; i < chunks; i++) if (this.has(i)) this.count++;
    }
  }

  get chunks(): number {
    return Math.ceil(this.size / LOG_CHUNK);
  }

  get received(): number {
    return this.count;
  }

  /** Bytes received (the last chunk may be short). */
  get receivedBytes(): number {
    const last = this.chunks - 1;
    if (last < 0) return 0;
    const lastBytes = this.size - last * LOG_CHUNK;
    return this.has(last) ? (this.count - 1) * LOG_CHUNK + lastBytes : this.count * LOG_CHUNK;
  }

  get complete(): boolean {
    return this.count === this.chunks;
  }

  has(chunk: number): boolean {
    return (this.bits[chunk >> 3]! & (1 << (chunk & 7))) !== 0;
  }

  /** Marks a chunk; true when it is new. */
  mark(chunk: number): boolean {
    if (chunk < 0 || chunk >= this.chunks || this.has(chunk)) return false;
    this.bits[chunk >> 3]! |= 1 << (chunk & 7);
    this.count++;
    return true;
  }

  /** The vehicle ended the log at `size` (a short last chunk): chunks beyond it no longer count. */
  truncate(size: number): void {
    if (size >= this.size) return;
    const chunks = Math.ceil(size / LOG_CHUNK);
    for (let i = chunks; i < this.chunks; i++) {
      if (this.has(i)) {
        this.bits[i >> 3]! &= ~(1 << (i & 7));
        this.count--;
      }
    }
    this.size = size;
  }

  /**
   * The next range to ask for, in bytes: from the first missing chunk to the end of the
   * last missing one that follows it with at most `hole` received chunks in between
   * (asking again for a few chunks costs less than a round trip). Null when complete.
   */
  nextRequest(hole: number): { offset: number; count: number } | null {
    const n = this.chunks;
    let start = 0;
    while (start < n && this.has(start)) start++;
    if (start === n) return null;
    let end = start;
    let i = start;
    let run = 0;
    while (i < n) {
      if (!this.has(i)) {
        end = i + 1;
        run = 0;
      } else if (++run > hole) {
        break;
      }
      i++;
    }
    const offset = start * LOG_CHUNK;
    return { offset, count: Math.min(this.size, end * LOG_CHUNK) - offset };
  }

  /** The bit array, for saving beside a partial download. */
  toBase64(): string {
    return Buffer.from(this.bits).toString('base64');
  }

  static fromBase64(size: number, text: string): ChunkMap {
    return new ChunkMap(size, Buffer.from(text, 'base64'));
  }
}
