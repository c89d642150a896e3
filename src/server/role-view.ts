/**
 * What a role may see of the stored vehicle state (`GET /v1/mavlink`, the dashboard): each
 * newest message, or a kept frame, passed through the role's residency filter, as if it
 * were being sent to the client now.
 */
import { type Fields, FrameDecoder, type MessageRegistry } from '../mavlink/index.js';
import type { MessageEntry } from '../router/vehicle-state.js';
import type { EgressFilter } from '../residency/egress-filter.js';

/** The fields of an entry's newest message (or of a kept frame) as the role may see them, or null for nothing. */
export type RoleView = (source: MessageEntry | Buffer) => Fields | null;

export function roleView(filter: EgressFilter, registry: MessageRegistry): RoleView {
  let result: Fields | null = null;
  const redacted = new FrameDecoder(registry, (frame) => (result = frame.decode()));
  const original = new FrameDecoder(registry, (frame) => {
    const out = filter(frame);
    if (out === null) result = null;
    else if (out === undefined) result = frame.decode();
    else redacted.push(out);
  });
  return (source) => {
    if (!Buffer.isBuffer(source) && !source.def) return null;
    result = null;
    original.push(Buffer.isBuffer(source) ? source : source.frame());
    return result;
  };
}
