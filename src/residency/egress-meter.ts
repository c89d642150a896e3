/** Counts what one destination received, by data class: the figures of the residency report. */
import type { DataClass } from './data-classes.js';

export type MeteredClass = DataClass | 'unknown';

export class EgressMeter {
  private readonly counts = new Map<MeteredClass, { frames: number; bytes: number }>();

  count(cls: MeteredClass, bytes: number): void {
    let c = this.counts.get(cls);
    if (!c) {
      c = { frames: 0, bytes: 0 };
      this.counts.set(cls, c);
    }
    c.frames++;
    c.bytes += bytes;
  }

  snapshot(): Partial<Record<MeteredClass, { frames: number; bytes: number }>> {
    return Object.fromEntries([...this.counts].map(([cls, c]) => [cls, { ...c }]));
  }
}
