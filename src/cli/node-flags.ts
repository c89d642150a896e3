/**
 * How node runs mavgate: its flags and its environment. The executable's #! line carries
 * the same (a test checks), and the systemd unit passes them to node.
 *
 * - A young generation of 2 MiB instead of Node's up to 32 MiB keeps a busy relay ~25 MiB
 *   smaller at 100k frames/s, for no measurable change in its CPU per frame.
 * - glibc's trim threshold fixed at its default, 128 KiB: left dynamic, glibc raises it
 *   after large blocks are freed (Node's 64 KiB-and-more receive buffers) and keeps the
 *   freed top of the heap; fixed, a relay under load stays 3–5 MiB smaller, CPU unchanged
 *   (docs/benchmarks.md, "Memory"). Ignored by other C libraries.
 * - One V8 worker thread instead of Node's four: each costs ~1 MiB (its stack and its
 *   malloc arena), and a relay's work is on the main thread; CPU per frame unchanged at
 *   5k–100k frames/s, ~2–3 MiB less at rest and under load.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=1'];
export const NODE_ENV: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: '131072' };

/** `NAME=VALUE` words for env(1) or the #! line. */
export function nodeEnvAssignments(): string[] {
  return Object.entries(NODE_ENV).map(([name, value]) => `${name}=${value}`);
}
