/**
 * The message registry: every MAVLink message mavgate can check and decode, built from
 * node-mavlink's generated definitions (never from hand-copied tables), so that a new
 * node-mavlink release brings new messages without code changes here.
 */
import * as nodeMavlink from 'node-mavlink';

/** Scalar wire types of MAVLink fields; arrays are a scalar type with `arrayLength > 0`. */
export type ScalarType =
  | 'uint8_t' | 'int8_t' | 'uint16_t' | 'int16_t' | 'uint32_t' | 'int32_t'
  | 'uint64_t' | 'int64_t' | 'float' | 'double' | 'char';

export interface FieldDef {
  /** Name exactly as in the MAVLink XML (`custom_mode`, `base_mode`). */
  readonly name: string;
  readonly type: ScalarType;
  /** 0 for a scalar, the element count for an array (`char[50]`, `uint16_t[8]`). */
  readonly arrayLength: number;
  /** Byte offset in the untruncated payload (fields are in wire order). */
  readonly offset: number;
  /** Size of one element in bytes. */
  readonly elementSize: number;
  /** A MAVLink 2 extension field: absent from MAVLink 1 frames. */
  readonly extension: boolean;
}

export interface MessageDef {
  readonly id: number;
  readonly name: string;
  readonly crcExtra: number;
  /** Payload length without extension fields (what MAVLink 1 carries). */
  readonly baseLength: number;
  /** Payload length with extension fields (the MAVLink 2 maximum). */
  readonly maxLength: number;
  /** Fields in wire order. */
  readonly fields: readonly FieldDef[];
  readonly dialect: string;
}

/** The dialects node-mavlink ships; none of them reuses another's message ids. */
export const DIALECTS = [
  'minimal', 'standard', 'common', 'ardupilotmega', 'uavionix', 'icarous',
  'asluav', 'development', 'ualberta', 'storm32',
] as const;
export type DialectName = (typeof DIALECTS)[number];

/** What each dialect's XML includes, so that asking for `ardupilotmega` brings `common` too. */
const INCLUDES: Record<DialectName, readonly DialectName[]> = {
  minimal: [],
  standard: ['minimal'],
  common: ['standard'],
  ardupilotmega: ['common', 'uavionix', 'icarous'],
  uavionix: [],
  icarous: [],
  asluav: ['common'],
  development: ['common'],
  ualberta: ['common'],
  storm32: ['ardupilotmega'],
};

/** The dialects named plus everything they include, each once. */
export function expandDialects(dialects: readonly string[]): DialectName[] {
  const out = new Set<DialectName>();
  const visit = (d: string): void => {
    if (!(DIALECTS as readonly string[]).includes(d)) throw new UnknownDialectError(d);
    const name = d as DialectName;
    if (out.has(name)) return;
    out.add(name);
    INCLUDES[name].forEach(visit);
  };
  dialects.forEach(visit);
  return [...out];
}

export class UnknownDialectError extends Error {
  constructor(readonly dialect: string) {
    super(`unknown MAVLink dialect "${dialect}"; known dialects: ${DIALECTS.join(', ')}`);
    this.name = 'UnknownDialectError';
  }
}

export class DialectConflictError extends Error {
  constructor(readonly msgid: number, readonly first: string, readonly second: string) {
    super(`message id ${msgid} is defined by both the ${first} and the ${second} dialect`);
    this.name = 'DialectConflictError';
  }
}

/** Message ids below this are looked up in a flat array, the hot path's common case. */
const DENSE_IDS = 65536;

export class MessageRegistry {
  private readonly dense: (MessageDef | undefined)[] = new Array<MessageDef | undefined>(DENSE_IDS).fill(undefined);
  private readonly sparse = new Map<number, MessageDef>();
  private readonly names = new Map<string, MessageDef>();

  constructor(readonly dialects: readonly string[], messages: Iterable<MessageDef>) {
    for (const def of messages) {
      const existing = this.byId(def.id);
      if (existing) throw new DialectConflictError(def.id, existing.dialect, def.dialect);
      if (def.id < DENSE_IDS) this.dense[def.id] = def;
      else this.sparse.set(def.id, def);
      this.names.set(def.name, def);
    }
  }

  byId(msgid: number): MessageDef | undefined {
    return msgid < DENSE_IDS ? this.dense[msgid] : this.sparse.get(msgid);
  }

  byName(name: string): MessageDef | undefined {
    return this.names.get(name);
  }

  get size(): number {
    return this.names.size;
  }

  *[Symbol.iterator](): IterableIterator<MessageDef> {
    yield* this.names.values();
  }
}

interface NodeMavlinkField {
  source: string;
  type: string;
  length: number;
  offset: number;
  extension: boolean;
  size: number;
}
interface NodeMavlinkMessage {
  MSG_ID: number;
  MSG_NAME: string;
  PAYLOAD_LENGTH: number;
  MAGIC_NUMBER: number;
  FIELDS: NodeMavlinkField[];
}

const SCALAR_SIZES: Record<ScalarType, number> = {
  uint8_t: 1, int8_t: 1, char: 1, uint16_t: 2, int16_t: 2, uint32_t: 4, int32_t: 4,
  float: 4, uint64_t: 8, int64_t: 8, double: 8,
};

function toFieldDef(message: string, f: NodeMavlinkField): FieldDef {
  const isArray = f.type.endsWith('[]');
  // node-mavlink marks HEARTBEAT.mavlink_version specially; on the wire it is a uint8_t.
  const base = (isArray ? f.type.slice(0, -2) : f.type).replace(/_mavlink_version$/, '');
  if (!(base in SCALAR_SIZES)) throw new Error(`${message}.${f.source}: unsupported field type ${f.type}`);
  const type = base as ScalarType;
  if (SCALAR_SIZES[type] !== f.size) throw new Error(`${message}.${f.source}: size ${f.size} does not match ${f.type}`);
  return {
    name: f.source,
    type,
    arrayLength: isArray ? f.length : 0,
    offset: f.offset,
    elementSize: f.size,
    extension: f.extension,
  };
}

function toMessageDef(dialect: string, m: NodeMavlinkMessage): MessageDef {
  const fields = m.FIELDS.map((f) => toFieldDef(m.MSG_NAME, f));
  const bytes = (f: FieldDef) => f.elementSize * Math.max(1, f.arrayLength);
  const baseLength = fields.filter((f) => !f.extension).reduce((sum, f) => sum + bytes(f), 0);
  const maxLength = fields.reduce((sum, f) => sum + bytes(f), 0);
  if (maxLength !== m.PAYLOAD_LENGTH) {
    throw new Error(`${m.MSG_NAME}: fields add up to ${maxLength} bytes, definition says ${m.PAYLOAD_LENGTH}`);
  }
  return { id: m.MSG_ID, name: m.MSG_NAME, crcExtra: m.MAGIC_NUMBER, baseLength, maxLength, fields, dialect };
}

const cache = new Map<string, MessageRegistry>();

/**
 * The registry for a set of dialects and what they include (default: every dialect
 * node-mavlink ships).
 * Registries are immutable and cached, so every layer can ask for one cheaply.
 */
export function loadRegistry(dialects: readonly string[] = DIALECTS): MessageRegistry {
  const expanded = expandDialects(dialects);
  const key = [...expanded].sort().join(',');
  const cached = cache.get(key);
  if (cached) return cached;
  const sources = nodeMavlink as unknown as Record<string, { REGISTRY?: Record<string, NodeMavlinkMessage> }>;
  const defs: MessageDef[] = [];
  for (const dialect of expanded) {
    for (const m of Object.values(sources[dialect]?.REGISTRY ?? {})) defs.push(toMessageDef(dialect, m));
  }
  const registry = new MessageRegistry(expanded, defs);
  cache.set(key, registry);
  return registry;
}
