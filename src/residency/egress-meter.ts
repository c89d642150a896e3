/** Counts what one destination received, by data class: the figures of the residency report. */
import { DATA_CLASSES, type DataClass, UNKNOWN_CLASS } from './data-classes.js';

export type MeteredClass = DataClass | 'unknown';

export class EgressMeter {
  /** Indexed by class index (UNKNOWN_CLASS last): two array writes per frame. */
  private readonly frames = new Float64Array(UNKNOWN_CLASS + 1);
  private readonly bytes = new Float64Array(UNKNOWN_CLASS + 1);

  count(classIndex: number, bytes: number): void {
    this.frames[classIndex]!++;
    this.bytes[classIndex]! += bytes;
  }

  snapshot(): Partial<Record<MeteredClass, { frames: number; bytes: number }>> {
    const out: Partial<Record<MeteredClass, { frames: number; bytes: number }>> = {};
    for (let i = 0; i <= UNKNOWN_CLASS; i++) {
      if (this.frames[i]) out[DATA_CLASSES[i] ?? 'unknown'] = { frames: this.frames[i]!, bytes: this.bytes[i]! };
    }
    return out;
  }
}
