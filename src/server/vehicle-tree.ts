/**
 * The vehicle tree of mavlink2rest's `GET /v1/mavlink`, from the gateway's vehicle state:
 * every system, its components, the newest message of each type with its update times,
 * count and rate. `GET /v1/mavlink/<path>` follows the tree by path; an unknown path is an
 * error naming where the path stopped (mavlink2rest answers "None").
 */
import type { Fields } from '../mavlink/index.js';
import type { MessageEntry, VehicleStateStore } from '../router/vehicle-state.js';
import { renderMessage } from '../mavlink/mavlink2rest-json.js';

export type Tree = { vehicles: Record<string, unknown> };

export class TreePathError extends Error {
  constructor(readonly path: string, readonly at: string) {
    super(`no "${at}" in the vehicle tree (path ${path})`);
    this.name = 'TreePathError';
  }
}

/**
 * The tree; `view` decides what of each stored message the reader may see (its role's
 * residency rule); `shown` is told of each message node put in the tree and the entry it
 * shows (REST replies are metered by it).
 */
export function vehicleTree(
  state: VehicleStateStore,
  view: (entry: MessageEntry) => Fields | null = (e) => e.fields(),
  shown: (node: object, entry: MessageEntry) => void = () => {},
): Tree {
  const vehicles: Record<string, { id: number; components: Record<string, unknown> }> = {};
  for (const c of state.all()) {
    const vehicle = (vehicles[c.sysid] ??= { id: c.sysid, components: {} });
    const messages: Record<string, unknown> = {};
    for (const entry of c.messages.values()) {
      const fields = view(entry);
      if (!entry.def || !fields) continue;
      const node = {
        message: renderMessage(entry.def, fields),
        status: { time: { first_update: new Date(entry.firstAt).toISOString(), last_update: new Date(entry.lastAt).toISOString(), counter: entry.count, frequency: entry.hz } },
      };
      messages[entry.def.name] = node;
      shown(node, entry);
    }
    vehicle.components[c.compid] = { id: c.compid, messages };
  }
  return { vehicles };
}

/** Follows `a/b/c` (or `a.b.c`) from the root of the tree. */
export function followPath(tree: Tree, path: string): unknown {
  let node: unknown = tree;
  for (const part of path.split(/[/.]/).filter(Boolean)) {
    if (node === null || typeof node !== 'object' || !(part in (node as Record<string, unknown>))) throw new TreePathError(path, part);
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * The stored messages a reply for `path` carries: the one message the path goes into (a
 * single field of a position is still a position), or every message under where it ends.
 * The path must exist (`followPath` first).
 */
export function messagesOnPath<T>(tree: Tree, path: string, shownAs: ReadonlyMap<object, T>): T[] {
  let node: unknown = tree;
  for (const part of path.split(/[/.]/).filter(Boolean)) {
    const message = shownAs.get(node as object);
    if (message !== undefined) return [message];
    node = (node as Record<string, unknown>)[part];
  }
  const found: T[] = [];
  const walk = (n: unknown): void => {
    if (n === null || typeof n !== 'object') return;
    const message = shownAs.get(n);
    if (message !== undefined) return void found.push(message);
    for (const child of Object.values(n)) walk(child);
  };
  walk(node);
  return found;
}
