/**
 * What a ground station mavgate sends to (one listening on a network address, as
 * QGroundControl does on UDP 14550) may receive: what its role's rule lets through, then
 * what the policy's rule for that address's network lets through. A copy the first rule
 * redacted is read again as a frame, so that the second rule judges it as it will leave.
 */
import { type Frame, FrameDecoder, type MessageRegistry } from '../mavlink/index.js';
import type { EgressFilter } from '../residency/egress-filter.js';

export function bothFilters(role: EgressFilter, destination: EgressFilter, registry: MessageRegistry): EgressFilter {
  let redacted: Frame | null = null;
  const reader = new FrameDecoder(registry, (f) => { redacted = f; });
  return (frame) => {
    const out = role(frame);
    if (out === null) return null;
    if (out === undefined) return destination(frame);
    redacted = null;
    reader.pushWhole(out);
    if (redacted === null) return null;
    const again = destination(redacted);
    return again === undefined ? out : again;
  };
}
