/**
 * One rule for "these frames are not a real vehicle's": the built-in simulator, or a
 * replay of a recording its sidecar labels simulated. `mavgate run` and `mavgate replay`
 * both warn at start and prefix their status lines by it.
 */
import type { Endpoint } from '../links/endpoint.js';
import { sidecarSaysSimulated } from '../sinks/recording-reader.js';

/** Sidecars read once per recording: the status line asks every interval. */
const replays = new Map<string, boolean>();

export function isSimulatedSource(endpoint: Endpoint): boolean {
  if (endpoint.kind === 'sim') return true;
  if (endpoint.kind !== 'replay') return false;
  let simulated = replays.get(endpoint.path);
  if (simulated === undefined) replays.set(endpoint.path, simulated = sidecarSaysSimulated(endpoint.path));
  return simulated;
}

/** The warning at start, or null when every source is real. */
export function simulatedWarning(links: readonly Endpoint[]): string | null {
  const source = links.find(isSimulatedSource);
  if (!source) return null;
  return source.kind === 'replay'
    ? `SIMULATED VEHICLE: ${source.path} is a recording of mavgate's built-in simulator (its sidecar says so), not a real flight`
    : 'SIMULATED VEHICLE: this is mavgate\'s built-in simulator, not a real vehicle; its recordings are named _SIMULATED and labelled so';
}
