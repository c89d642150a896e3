/**
 * A time series cut down to what a screen can show, in a single pass over a recording
 * of unknown length: samples fall into at most `buckets` time buckets, each keeping its
 * lowest and highest sample (where they happened), so a spike survives however long the
 * flight. When the recording outgrows the buckets, their width doubles and neighbours
 * merge: memory stays the same whatever the length.
 */

/** Two points per bucket at most: a report's chart gets ~2 × this many. */
export const DEFAULT_BUCKETS = 1000;
const FIRST_WIDTH_S = 0.1;

export class MinMaxSeries {
  /** Per bucket: time and value of the minimum, then of the maximum (NaN: empty). */
  private tMin: Float64Array;
  private vMin: Float64Array;
  private tMax: Float64Array;
  private vMax: Float64Array;
  private width = FIRST_WIDTH_S;
  private start = Number.NaN;
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  constructor(private readonly buckets = DEFAULT_BUCKETS) {
    this.tMin = new Float64Array(buckets).fill(Number.NaN);
    this.vMin = new Float64Array(buckets);
    this.tMax = new Float64Array(buckets);
    this.vMax = new Float64Array(buckets);
  }

  /** A sample at `t` (seconds); non-finite values are not samples. */
  add(t: number, v: number): void {
    if (!Number.isFinite(v) || !Number.isFinite(t)) return;
    if (Number.isNaN(this.start)) this.start = t;
    // A clock that steps back lands in the first bucket rather than before it.
    let i = Math.max(0, Math.floor((t - this.start) / this.width));
    while (i >= this.buckets) {
      this.widen();
      i = Math.floor((t - this.start) / this.width);
    }
    this.count++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (Number.isNaN(this.tMin[i]!)) {
      this.tMin[i] = this.tMax[i] = t;
      this.vMin[i] = this.vMax[i] = v;
      return;
    }
    if (v < this.vMin[i]!) {
      this.vMin[i] = v;
      this.tMin[i] = t;
    }
    if (v > this.vMax[i]!) {
      this.vMax[i] = v;
      this.tMax[i] = t;
    }
  }

  /** Doubles the bucket width: bucket i takes what buckets 2i and 2i+1 had. */
  private widen(): void {
    for (let i = 0; i < this.buckets; i++) {
      const a = 2 * i;
      const b = a + 1;
      const has = (k: number) => k < this.buckets && !Number.isNaN(this.tMin[k]!);
      if (!has(a) && !has(b)) {
        this.tMin[i] = Number.NaN;
        continue;
      }
      const [lo, hi] = !has(a) ? [b, b] : !has(b) ? [a, a] : [this.vMin[a]! <= this.vMin[b]! ? a : b, this.vMax[a]! >= this.vMax[b]! ? a : b];
      const tMin = this.tMin[lo]!;
      const vMin = this.vMin[lo]!;
      const tMax = this.tMax[hi]!;
      const vMax = this.vMax[hi]!;
      this.tMin[i] = tMin;
      this.vMin[i] = vMin;
      this.tMax[i] = tMax;
      this.vMax[i] = vMax;
    }
    this.width *= 2;
  }

  /** The kept points in time order: [times, values]. */
  points(): [number[], number[]] {
    const ts: number[] = [];
    const vs: number[] = [];
    for (let i = 0; i < this.buckets; i++) {
      if (Number.isNaN(this.tMin[i]!)) continue;
      const first = this.tMin[i]! <= this.tMax[i]! ? [this.tMin[i]!, this.vMin[i]!] : [this.tMax[i]!, this.vMax[i]!];
      const second = this.tMin[i]! <= this.tMax[i]! ? [this.tMax[i]!, this.vMax[i]!] : [this.tMin[i]!, this.vMin[i]!];
      ts.push(first[0]!);
      vs.push(first[1]!);
      if (second[0] !== first[0] || second[1] !== first[1]) {
        ts.push(second[0]!);
        vs.push(second[1]!);
      }
    }
    return [ts, vs];
  }
}
