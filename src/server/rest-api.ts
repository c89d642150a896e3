/**
 * The REST side of the server, mavlink2rest's routes plus our own. Paths arrive
 * normalised (`/mavlink2rest/v1/mavlink` and `/v1/mavlink` are both `/mavlink`).
 */
import type { IncomingMessage } from 'node:http';
import { ENUMS, FIELD_ENUMS } from '../mavlink/enum-data.js';
import type { Fields, MessageRegistry } from '../mavlink/index.js';
import type { VehicleStateStore } from '../router/vehicle-state.js';
import type { ClientHub } from './client-hub.js';
import { renderMessage } from '../mavlink/mavlink2rest-json.js';
import type { Principal } from './tokens.js';
import { followPath, messagesOnPath, TreePathError, vehicleTree } from './vehicle-tree.js';
import type { RoleView } from './role-view.js';
import { type DashboardParts, dashboardFeed } from './dashboard-feed.js';

export interface ApiContext {
  hub: ClientHub;
  registry: MessageRegistry;
  state: VehicleStateStore;
  version: string;
  /** What the gateway reports about its links and vehicles. */
  gatewayStats: () => { links: { state: { status: string } }[]; vehicles: unknown[] };
  /** What a role may see of the stored messages (its residency rule applied). */
  viewFor: (principal: Principal) => RoleView;
  /** What the operator's dashboard reads. */
  dashboard: DashboardParts;
  /** A background map tile (z/x/y), or null. */
  tile: (z: number, x: number, y: number) => { body: Buffer; type: string } | null;
  /** The grant REST clients come through (`server.listen`), for the audit log. */
  via?: string;
}

export interface Reply {
  status: number;
  body: unknown;
  /** A text body instead of JSON (mavlink2rest's `Ok(N)`). */
  text?: boolean;
  /** Bytes of this content type instead of JSON (a map tile). */
  contentType?: string;
}

const MAX_BODY_BYTES = 16 * 1024;

export class BodyError extends Error {}

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyError(`request body too large (over ${MAX_BODY_BYTES} bytes)`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new BodyError(`body is not valid JSON: ${(err as Error).message}`);
  }
}

/** The request's JSON body, or the 400 reply saying what is wrong with it. */
export async function bodyOf(req: IncomingMessage): Promise<{ body: unknown } | { reply: Reply }> {
  try {
    return { body: await readBody(req) };
  } catch (err) {
    if (err instanceof BodyError) return { reply: { status: 400, body: { error: err.message } } };
    throw err;
  }
}

/** A message of `name` with every field at its default, as `GET /v1/helper/mavlink?name=X` returns it. */
export function templateOf(registry: MessageRegistry, name: string): unknown {
  const def = registry.byName(name);
  if (!def) return null;
  const fields: Fields = {};
  for (const f of def.fields) fields[f.name] = f.type === 'char' ? '' : f.arrayLength > 0 ? new Array(f.arrayLength).fill(0) : 0;
  const message = renderMessage(def, fields);
  // An enum's default is its first value, by name, as mavlink2rest gives it.
  for (const f of def.fields) {
    const info = FIELD_ENUMS[`${def.name}.${f.name}`];
    const first = info && !info.bitmask ? Object.values(ENUMS[info.enum]?.entries ?? {})[0] : undefined;
    if (first) message[f.name === 'type' ? 'mavtype' : f.name] = { type: first };
  }
  return { header: { system_id: 255, component_id: 240, sequence: 0 }, message };
}

const ROUTES = ['/mavlink', '/mavlink/<path>', '/helper/mavlink?name=NAME', '/info', '/stats', '/health', '/control', '/dashboard?since=MS&after=SEQ', '/map', '/map/Z/X/Y', '/ws/mavlink?filter=REGEX', '/ws/raw'];

/** A query number that must be a whole number of at least 0, or 0 when absent. */
function queryNumber(url: URL, name: string): number | null {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return 0;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** The REST client a request comes from (one per token), audited as connected through the server's grant. */
function restSessionOf(req: IncomingMessage, principal: Principal, api: ApiContext) {
  return api.hub.restSession(principal, `${req.socket.remoteAddress}:${req.socket.remotePort}`, api.via);
}

export async function handleRest(method: string, path: string, url: URL, req: IncomingMessage, principal: Principal, api: ApiContext): Promise<Reply> {
  const { hub } = api;
  if (method === 'GET') {
    if (path === '/' || path === '') return { status: 200, body: { service: 'mavgate', version: api.version, routes: ROUTES.map((r) => `/v1${r}`) } };
    if (path === '/info') return { status: 200, body: { version: 0, service: { name: 'mavgate', version: api.version, sha: '', build_date: '', authors: 'mavgate' } } };
    if (path === '/health') {
      const stats = api.gatewayStats();
      const up = stats.links.filter((l) => l.state.status === 'up').length;
      return { status: up > 0 ? 200 : 503, body: { status: up > 0 ? 'ok' : 'no link up', links: { up, total: stats.links.length }, vehicles: stats.vehicles.length, clients: hub.sessions.size } };
    }
    if (path === '/stats') {
      return { status: 200, body: { ...api.gatewayStats(), clients: hub.stats(), control: hub.describeHolder(hub.lease.holder), disconnected_slow: hub.disconnectedSlow } };
    }
    if (path === '/control') return { status: 200, body: { control: hub.describeHolder(hub.lease.holder) } };
    if (path === '/dashboard') {
      const since = queryNumber(url, 'since');
      const after = queryNumber(url, 'after');
      if (since === null || after === null) return { status: 400, body: { error: 'since (ms) and after (a timeline sequence number) are whole numbers' } };
      return { status: 200, body: dashboardFeed(api.dashboard, api.viewFor(principal), since, after) };
    }
    if (path === '/map') {
      const map = api.dashboard.map();
      return map ? { status: 200, body: map } : { status: 404, body: { error: 'no background map: give one with --map FILE.mbtiles (or dashboard.map in the config file)' } };
    }
    const tile = /^\/map\/(\d+)\/(\d+)\/(\d+)$/.exec(path);
    if (tile) {
      const found = api.tile(Number(tile[1]), Number(tile[2]), Number(tile[3]));
      return found ? { status: 200, body: found.body, contentType: found.type } : { status: 404, body: { error: `no tile ${tile[1]}/${tile[2]}/${tile[3]} in the map` } };
    }
    if (path === '/helper/mavlink') {
      const name = url.searchParams.get('name') ?? '';
      const template = templateOf(api.registry, name);
      return template ? { status: 200, body: template } : { status: 404, body: { error: `unknown message "${name}"` } };
    }
    if (path === '/mavlink' || path.startsWith('/mavlink/')) {
      const shownAs = new Map<object, Buffer>();
      const tree = vehicleTree(api.state, api.viewFor(principal), (node, entry) => shownAs.set(node, entry.frame()));
      const rest = path.slice('/mavlink'.length);
      try {
        const body = rest ? followPath(tree, rest) : tree;
        // Telemetry leaving in a reply, counted as a WebSocket client's is: the residency report lists it.
        hub.meterRest(restSessionOf(req, principal, api), messagesOnPath(tree, rest, shownAs));
        return { status: 200, body };
      } catch (err) {
        if (err instanceof TreePathError) return { status: 404, body: { error: err.message } };
        throw err;
      }
    }
    if (path === '/ws/mavlink' || path === '/ws/raw') return { status: 426, body: { error: `${path} is a WebSocket: connect with ws://` } };
  }
  if (method === 'POST' && (path === '/mavlink' || path === '/control')) {
    const read = await bodyOf(req);
    if ('reply' in read) return read.reply;
    const { body } = read;
    if (principal.anonymous) return { status: 403, body: { error: 'observers cannot send: a pilot or admin token is needed' } };
    if (path === '/control') {
      const { control, force } = (body ?? {}) as { control?: unknown; force?: unknown };
      const reply = hub.controlRequest(principal, null, control, force === true);
      return { status: 'error' in reply ? (control === 'take' || control === 'release' ? 409 : 400) : 200, body: reply };
    }
    const result = hub.sendJson(restSessionOf(req, principal, api), body);
    if (result.ok) return { status: 200, body: `Ok(${result.bytes})`, text: true };
    const status = { bad_input: 400, role: 403, source: 403, control: 409, rate: 429 }[result.kind] ?? 400;
    return { status, body: { error: result.reason } };
  }
  return { status: path.startsWith('/mavlink') || ROUTES.some((r) => r.split('?')[0] === path) ? 405 : 404, body: { error: `no route ${method} ${url.pathname}` } };
}
