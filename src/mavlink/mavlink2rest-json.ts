/**
 * A frame in mavlink2rest's JSON (the 0.11.x shape, which Blue Robotics' Cockpit reads):
 * enum fields as `{"type": "NAME"}`, bitmask fields as `{"bits": N}`, `char[]` as arrays of
 * one-character strings, and a field named `type` renamed `mavtype` (the message's own
 * name is `type`). Which field takes which enum comes from the MAVLink XML, through the
 * generated src/mavlink/enum-data.ts.
 */
import { ENUMS, FIELD_ENUMS } from './enum-data.js';
import type { Frame } from './frame.js';
import { FrameDecoder } from './decoder.js';
import type { MessageDef, MessageRegistry } from './registry.js';
import { msgidOf } from './resequence.js';
import type { FieldValue, Fields } from './values.js';

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
  /** For an enum field: the values the XML names. */
  named?: Readonly<Record<number, string>>;
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
    spec = def.fields.map((f) => {
      const info = FIELD_ENUMS[`${def.name}.${f.name}`];
      const named = info && !info.bitmask ? ENUMS[info.enum]?.entries ?? {} : undefined;
      return { name: f.name, key: f.name === 'type' ? 'mavtype' : f.name, render: renderer(def, f), ...(named ? { named } : {}) };
    });
    specs.set(def, spec);
  }
  return spec;
}

/** Decoded fields of `def` in mavlink2rest's shape: `{"type": NAME, ...}`. */
export function renderMessage(def: MessageDef, fields: Fields): Mavlink2RestMessage['message'] {
  const message: Mavlink2RestMessage['message'] = { type: def.name };
  for (const f of specOf(def)) message[f.key] = f.render(fields[f.name]!);
  return message;
}

/** True when every enum field holds a value the MAVLink XML names. */
function namesEveryEnum(def: MessageDef, fields: Fields): boolean {
  for (const f of specOf(def)) {
    const v = fields[f.name];
    if (f.named && typeof v === 'number' && f.named[v] === undefined) return false;
  }
  return true;
}

export interface RenderOptions {
  /**
   * Leave out a message with an enum value the XML does not name (a COMMAND_ACK for
   * SET_MODE, whose `command` is the message id 11): mavlink2rest 0.11 drops such a message,
   * and Cockpit's types hold enum values as names only.
   */
  namedEnumsOnly?: boolean;
}

/** The frame in mavlink2rest's JSON shape, or null for a message id the registry does not know (or, with `namedEnumsOnly`, an unnamed enum value). */
export function toMavlink2Rest(frame: Frame, options: RenderOptions = {}): Mavlink2RestMessage | null {
  const def = frame.message;
  const fields = frame.decode();
  if (!def || !fields) return null;
  if (options.namedEnumsOnly && !namesEveryEnum(def, fields)) return null;
  return { header: { system_id: frame.sysid, component_id: frame.compid, sequence: frame.seq }, message: renderMessage(def, fields) };
}

/**
 * A function from one whole frame's bytes (as a router hands them to an endpoint, or a
 * redacted copy) to its mavlink2rest JSON text; null for a message id the registry does
 * not know.
 */
export function jsonRenderer(registry: MessageRegistry, options: RenderOptions = {}): (bytes: Buffer) => string | null {
  let rendered: string | null = null;
  const decoder = new FrameDecoder(registry, (frame) => {
    const message = toMavlink2Rest(frame, options);
    rendered = message ? JSON.stringify(message) : null;
  });
  return (bytes) => {
    rendered = null;
    if (registry.byId(msgidOf(bytes))) decoder.push(bytes);
    return rendered;
  };
}

export class Mavlink2RestError extends Error {
  constructor(readonly field: string | undefined, reason: string) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'Mavlink2RestError';
  }
}

/** Reverse of one field's rendering: enum names back to numbers, `{bits}` to numbers, char arrays to strings. */
function parseField(def: MessageDef, field: MessageDef['fields'][number], value: unknown): unknown {
  const where = `${def.name}.${field.name === 'type' ? 'mavtype' : field.name}`;
  if (field.type === 'char' && Array.isArray(value)) {
    if (!value.every((c) => typeof c === 'string' && c.length <= 1)) throw new Mavlink2RestError(where, 'expected an array of one-character strings');
    return (value as string[]).join('').split('\u0000')[0];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const info = FIELD_ENUMS[`${def.name}.${field.name}`];
  const v = value as Record<string, unknown>;
  if ('bits' in v) {
    if (!info?.bitmask) throw new Mavlink2RestError(where, 'is not a bitmask field; give a number');
    return v.bits;
  }
  if ('type' in v) {
    if (!info || info.bitmask) throw new Mavlink2RestError(where, 'is not an enum field; give a number');
    if (typeof v.type === 'number') return v.type;
    const entries = ENUMS[info.enum]?.entries ?? {};
    const found = Object.entries(entries).find(([, name]) => name === v.type);
    if (!found) throw new Mavlink2RestError(where, `"${String(v.type)}" is not a value of ${info.enum}`);
    return Number(found[0]);
  }
  throw new Mavlink2RestError(where, 'expected a number, {"type": NAME} or {"bits": N}');
}

/**
 * A message as a mavlink2rest client sends it (`{"header": {...}, "message": {"type": NAME, ...}}`)
 * → the message name and plain field values for the encoder, which then checks every range.
 * Every field is required but MAVLink 2 extensions (zero when missing), so that a typo in a
 * field name cannot silently send a zero; the sequence number is the gateway's to set
 * (Cockpit sends 0).
 */
export function fromMavlink2Rest(json: unknown, registry: { byName(name: string): MessageDef | undefined }): {
  name: string; fields: Record<string, unknown>; sysid: number | undefined; compid: number | undefined;
} {
  if (json === null || typeof json !== 'object') throw new Mavlink2RestError(undefined, 'expected a JSON object with "header" and "message"');
  const { header, message } = json as { header?: Record<string, unknown>; message?: Record<string, unknown> };
  if (!message || typeof message !== 'object') throw new Mavlink2RestError('message', 'missing');
  if (typeof message.type !== 'string') throw new Mavlink2RestError('message.type', 'expected the message name, e.g. "COMMAND_LONG"');
  const def = registry.byName(message.type);
  if (!def) throw new Mavlink2RestError('message.type', `unknown message "${message.type}"`);
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    if (key === 'type') continue;
    const name = key === 'mavtype' ? 'type' : key;
    const field = def.fields.find((f) => f.name === name);
    if (!field) throw new Mavlink2RestError(`${def.name}.${key}`, `no such field; fields are ${def.fields.map((f) => (f.name === 'type' ? 'mavtype' : f.name)).join(', ')}`);
    fields[name] = parseField(def, field, value);
  }
  const missing = def.fields.find((f) => !f.extension && !(f.name in fields));
  if (missing) {
    const key = missing.name === 'type' ? 'mavtype' : missing.name;
    throw new Mavlink2RestError(`${def.name}.${key}`, `missing; every field but MAVLink 2 extensions is required (GET /v1/helper/mavlink?name=${def.name} gives a template)`);
  }
  const id = (k: 'system_id' | 'component_id') => (header && typeof header[k] === 'number' ? (header[k] as number) : undefined);
  return { name: def.name, fields, sysid: id('system_id'), compid: id('component_id') };
}
