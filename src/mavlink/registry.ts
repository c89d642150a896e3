/**
 * The message registry: every MAVLink message mavgate can check and decode, built from
 * node-mavlink's definitions (never from hand-copied tables) by way of registry-data.ts,
 * which scripts/generate-registry.ts writes from them.
 */
import { DIALECTS, expandDialects } from './dialects.js';
import { REGISTRY_ROWS } from './registry-data.js';

export { DIALECTS, expandDialects, UnknownDialectError, type DialectName } from './dialects.js';

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

const SCALAR_SIZES: Record<ScalarType, number> = {
  uint8_t: 1, int8_t: 1, char: 1, uint16_t: 2, int16_t: 2, uint32_t: 4, int32_t: 4,
  float: 4, uint64_t: 8, int64_t: 8, double: 8,
};

/** "uint8_t[8] flight_custom_version", "+uint16_t id" (extension) → field layout. */
function toMessageDef([id, name, crcExtra, dialect, fieldTexts]: (typeof REGISTRY_ROWS)[number]): MessageDef {
  let offset = 0;
  let baseLength = 0;
  const fields = fieldTexts.map((text): FieldDef => {
    const m = /^(\+?)(\w+?)(?:\[(\d+)\])? (\w+)$/.exec(text);
    if (!m || !(m[2]! in SCALAR_SIZES)) throw new Error(`${name}: cannot read field "${text}"`);
    const type = m[2] as ScalarType;
    const field = { name: m[4]!, type, arrayLength: m[3] ? Number(m[3]) : 0, offset, elementSize: SCALAR_SIZES[type], extension: m[1] === '+' };
    offset += field.elementSize * Math.max(1, field.arrayLength);
    if (!field.extension) baseLength = offset;
    return field;
  });
  return { id, name, crcExtra, baseLength, maxLength: offset, fields, dialect };
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
  const wanted = new Set<string>(expanded);
  const defs = REGISTRY_ROWS.filter((row) => wanted.has(row[3])).map(toMessageDef);
  const registry = new MessageRegistry(expanded, defs);
  cache.set(key, registry);
  return registry;
}
