/**
 * The Node flags mavgate runs with. Its executable's #! line carries the same (a test
 * checks), and the systemd unit passes them to node. A young generation of 2 MiB instead
 * of Node's up to 32 MiB keeps a busy relay ~25 MiB smaller at 100k frames/s, for no
 * measurable change in its CPU per frame (docs/benchmarks.md, "Memory").
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
