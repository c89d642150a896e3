/** Which old recordings to delete: past the age limit, then the oldest until the total fits. Pure. */
import type { FileEntry } from './files.js';

export interface RetentionLimits {
  /** Delete recordings older than this (ms); undefined: no age limit. */
  maxAgeMs?: number;
  /** Delete the oldest recordings while all of them together exceed this; undefined: no limit. */
  maxTotalBytes?: number;
}

export function expired(files: readonly FileEntry[], limits: RetentionLimits, now: number): { file: FileEntry; reason: string }[] {
  const oldestFirst = [...files].sort((a, b) => a.mtimeMs - b.mtimeMs);
  const out: { file: FileEntry; reason: string }[] = [];
  let total = files.reduce((n, f) => n + f.bytes, 0);
  for (const file of oldestFirst) {
    if (limits.maxAgeMs !== undefined && now - file.mtimeMs > limits.maxAgeMs) {
      out.push({ file, reason: `older than ${Math.round(limits.maxAgeMs / 86_400_000 * 10) / 10} days` });
    } else if (limits.maxTotalBytes !== undefined && total > limits.maxTotalBytes) {
      out.push({ file, reason: `recordings exceed ${limits.maxTotalBytes} bytes` });
    } else {
      continue;
    }
    total -= file.bytes;
  }
  return out;
}
