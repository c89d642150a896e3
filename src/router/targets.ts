/**
 * Where a frame is addressed, read straight from its payload bytes: routing never
 * decodes. Offsets come from the registry's target_system / target_component fields.
 */
import type { Frame, MessageDef, MessageRegistry } from '../mavlink/index.js';

interface TargetOffsets {
  system: number;
  component: number;
}

const NONE: TargetOffsets = { system: -1, component: -1 };

export class TargetReader {
  private readonly offsets = new Map<number, TargetOffsets>();

  constructor(registry: MessageRegistry) {
    for (const def of registry) this.offsets.set(def.id, offsetsOf(def));
  }

  /** target_system of the frame, 0 (broadcast) when the message has none or the field was truncated away. */
  system(frame: Frame): number {
    return this.read(frame, (this.offsets.get(frame.msgid) ?? NONE).system);
  }

  /** target_component of the frame, 0 (every component) when absent. */
  component(frame: Frame): number {
    return this.read(frame, (this.offsets.get(frame.msgid) ?? NONE).component);
  }

  private read(frame: Frame, offset: number): number {
    return offset >= 0 && offset < frame.payloadLength ? frame.buffer[frame.payloadOffset + offset]! : 0;
  }
}

function offsetsOf(def: MessageDef): TargetOffsets {
  const find = (name: string) => def.fields.find((f) => f.name === name && f.type === 'uint8_t' && f.arrayLength === 0)?.offset ?? -1;
  return { system: find('target_system'), component: find('target_component') };
}
