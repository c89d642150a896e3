/**
 * A frame in mavlink2rest's JSON (the 0.11.x shape, which Blue Robotics' Cockpit reads):
 * enum fields as `{"type": "NAME"}`, bitmask fields as `{"bits": N}`, `char[]` as arrays of
 * one-character strings, and a field named `type` renamed `mavtype` (the message's own
 * name is `type`). Which field takes which enum comes from the MAVLink XML, through the
 * generated src/mavlink/enum-data.ts.
 */
import { ENUMS, FIELD_ENUMS } from '../mavlink/enum-data.js';
import type { FieldValue, Frame, MessageDef } from '../mavlink/index.js';

export interface Mavlink2RestMessage {
  header: { system_id: number; component_id: number; sequence: number };
  message: { type: string } & Record<string, unknown>;
}

type Render = (value: FieldValue) => unknown;

interface FieldSpec {
  name: string;
  /** The key in the JSON: the field name, or `mavtype` for a field named `type`. */
  key: string;
  render: Render;
}

function renderer(def: MessageDef, field: MessageDef['fields'][number]): Render {
  if (field.type === 'char') {
    const length = Math.max(1, field.arrayLength);
    // Each byte a one-character string; bytes after the terminator are NULs.
    return (v) => Array.from({ length }, (_, i) => (typeof v === 'string' && i < v.length ? v[i] : '\u0000'));
  }
  const info = FIELD_ENUMS[`${def.name}.${field.name}`];
  if (!info) return (v) => v;
  if (info.bitmask) return (v) => ({ bits: v });
  const entries = ENUMS[info.enum]?.entries ?? {};
  // A value the XML does not name stays a number inside the object, so a client can still read it.
  return (v) => ({ type: typeof v === 'number' ? (entries[v] ?? v) : v });
}

const specs = new WeakMap<MessageDef, FieldSpec[]>();

function specOf(def: MessageDef): FieldSpec[] {
  let spec = specs.get(def);
  if (!spec) {
    spec = def.fields.map((f) => ({ name: f.name, key: f.name === 'type' ? 'mavtype' : f.name, render: renderer(def, f) }));
    specs.set(def, spec);
  }
  return spec;
}

/** The frame in mavlink2rest's JSON shape, or null for a message id the registry does not know. */
export function toMavlink2Rest(frame: Frame): Mavlink2RestMessage | null {
  const def = frame.message;
  const fields = frame.decode();
  if (!def || !fields) return null;
  const message: Mavlink2RestMessage['message'] = { type: def.name };
  for (const f of specOf(def)) message[f.key] = f.render(fields[f.name]!);
  return { header: { system_id: frame.sysid, component_id: frame.compid, sequence: frame.seq }, message };
}
