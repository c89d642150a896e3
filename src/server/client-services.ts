/**
 * The client side of the gateway assembled: the hub, the HTTP(S)/WebSocket server and the
 * UDP/TCP ground-station endpoints, each listening on an address the residency gate
 * granted; the tokens in force, their expiry and the dashboard sessions they become.
 * `mavgate run` starts it next to the gateway; tests drive it directly.
 */
import { randomBytes } from 'node:crypto';
import type { MessageRegistry } from '../mavlink/index.js';
import { isLoopbackAddress } from '../residency/verdicts.js';
import type { Router } from '../router/router.js';
import type { VehicleStateStore } from '../router/vehicle-state.js';
import { type EgressGate, type Grant, watchGrant } from '../residency/gate.js';
import type { LinkMonitor } from '../router/link-monitor.js';
import type { FlightHistory } from '../router/flight-history.js';
import type { DashboardParts } from './dashboard-feed.js';
import { MapFileError, MapTiles } from './map-tiles.js';
import { ClientHub } from './client-hub.js';
import type { PairingContext } from './pairing.js';
import type { ServerTls } from './server-tls.js';
import { DashboardSessions } from './sessions.js';
import { type GcsEndpoint, TcpGcsEndpoint, TcpGcsPush, UdpGcsEndpoint, UdpGcsPush } from './gcs-endpoints.js';
import { coalesceLimit } from '../links/send-batch.js';
import { type AfterFlight, ClientServer } from './http-server.js';
import type { ApiContext } from './rest-api.js';
import { roleView } from './role-view.js';
import type { GcsEndpointSpec, ServerSettings } from './settings.js';
import { ANONYMOUS, type Principal, principalOf, type TokenChanges, type TokenEntry, TokenStore } from './tokens.js';

/** What the client services need of the gateway. */
export interface GatewayParts {
  readonly registry: MessageRegistry;
  readonly router: Router;
  readonly state: VehicleStateStore;
  /** The gate: it holds the policy in force, which a reload changes. */
  readonly gate: EgressGate;
  readonly node: { readonly options: { sysid: number; compid: number } };
  /** Each link's quality and diagnosis, and the tracks and timeline: what the dashboard shows after a reload. */
  readonly monitor: LinkMonitor;
  readonly history: FlightHistory;
  stats(): ReturnType<ApiContext['gatewayStats']>;
  /** Onboard logs and the recordings' reports, when the command offers them. */
  readonly afterFlight?: AfterFlight;
}

export class ServerConfigError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'ServerConfigError';
  }
}

export interface ClientServicesOptions {
  /** Keeps a token paired on the dashboard (in the config file); none: it lasts as long as this run. */
  persistToken?: (entry: TokenEntry) => void;
  /** The clock tokens expire by (tests move it). */
  now?: () => number;
}

/** setTimeout's longest wait; a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ClientServices {
  private expiryTimer: NodeJS.Timeout | null = null;
  private readonly expiredTold = new Set<string>();

  private constructor(
    readonly hub: ClientHub,
    readonly server: ClientServer | null,
    readonly gcs: GcsEndpoint[],
    readonly tokens: TokenStore,
    readonly tls: ServerTls | null,
    private readonly record: (event: string, details: Record<string, unknown>) => void,
    private readonly log: (level: 'info' | 'warn', message: string, key?: string) => void,
    private readonly now: () => number,
    /** Tokens paired on the dashboard of a run without a config file: kept through reloads. */
    private readonly runOnly: ReadonlyMap<string, TokenEntry>,
    /** The dashboard's offline map, if one was given. */
    private readonly map: MapTiles | null,
  ) {}

  static async start(gateway: GatewayParts, settings: ServerSettings, version: string, log: (level: 'info' | 'warn', message: string, key?: string) => void, options: ClientServicesOptions = {}): Promise<ClientServices> {
    const now = options.now ?? Date.now;
    const tokens = new TokenStore(settings.tokens, now);
    const runOnly = new Map<string, TokenEntry>();
    const gate = () => gateway.gate;
    const record = (event: string, details: Record<string, unknown>) => gateway.gate.record(event, details);
    const hub = new ClientHub({ registry: gateway.registry, router: gateway.router, state: gateway.state, gate, source: gateway.node.options, log, tokenCheck: (p) => tokens.check(p) }, settings.hub);
    const started: { stop(): Promise<void> | void }[] = [];
    let tls: ServerTls | null = null;
    let map: MapTiles | null = null;
    try {
      let server: ClientServer | null = null;
      if (settings.listen) {
        const { host, port } = settings.listen;
        const grant = await gateway.gate.grantClientServer('server.listen', host, port, settings.tls !== null);
        if (settings.tls === null && !isLoopbackAddress(grant.address)) {
          log('warn', `the client server on ${grant.address} serves plain HTTP beyond this machine (the policy's server.plaintext_lan): tokens cross the network in the clear`);
        }
        if (settings.tls) {
          // Certificates (pkijs, ~11 MiB of RSS) are loaded only when the server speaks TLS.
          const { ServerTls, serverNames } = await import('./server-tls.js');
          tls = await ServerTls.open(settings.tls, serverNames(host, settings.hosts), {
            grantDirectory: (entry, path) => gateway.gate.grantDirectory(entry, path),
            policy: gateway.gate.policy,
            record, log, now: () => new Date(now()),
          });
          started.push(tls);
        }
        const { mapFile } = settings.dashboard;
        if (mapFile) {
          try {
            map = MapTiles.open(gateway.gate, mapFile);
          } catch (err) {
            if (err instanceof MapFileError) throw new ServerConfigError('dashboard.map', err.message);
            throw err;
          }
          log('info', `dashboard: background map ${map.description.name} (${map.description.format}, zoom ${map.description.minzoom}-${map.description.maxzoom}) from ${mapFile}`);
        }
        const tiles = map;
        const dashboard: DashboardParts = {
          state: gateway.state, history: gateway.history, monitor: gateway.monitor, settings: settings.dashboard,
          links: () => gateway.stats().links as ReturnType<DashboardParts['links']>,
          map: () => tiles?.description ?? null,
        };
        const api: ApiContext = {
          hub, registry: gateway.registry, state: gateway.state, version,
          gatewayStats: () => gateway.stats(),
          viewFor: (principal) => roleView(gateway.gate.egressForRole(principal.role, gateway.registry).filter, gateway.registry),
          dashboard,
          tile: (z, x, y) => tiles?.tile(z, x, y) ?? null,
          via: grant.entry,
        };
        const sessions = new DashboardSessions(tls?.sessionKey ?? randomBytes(32), tokens, tls !== null, now);
        const pairing: PairingContext = {
          tokens, persist: options.persistToken ?? null, authorityPem: tls?.authorityPem ?? null, record, log, now,
          // Without a config file a pairing lasts for the run: it must outlive a reload of the (file-less) tokens.
          added: (entry) => void (options.persistToken ? undefined : runOnly.set(entry.name, entry)),
          ...(settings.cockpit ? { cockpit: settings.cockpit } : {}),
        };
        const running = server = new ClientServer(grant, hub, api, { tokens, origins: new Set(settings.origins), hosts: new Set(settings.hosts), gate, sessions }, tls, pairing, log, gateway.afterFlight);
        await running.start();
        started.push(running);
        tls?.start();
        watchGrant(grant, {
          revoked: (refusal) => {
            running.cutOff(`the policy in force refuses the server: ${refusal.reason}`);
            log('warn', `server: closed: ${refusal.message}`);
          },
        });
        // With tokens, the bare URL is refused: say which URL opens the page.
        const page = tokens.size > 0 ? `${server.url}/?token=TOKEN (TOKEN: one that mavgate token add printed; the page asks for it otherwise)` : `${server.url}/`;
        log('info', `dashboard: ${page}   clients: ${server.url}/v1/ws/mavlink (mavlink2rest JSON), /v1/ws/raw (MAVLink), /v1/mavlink, /v1/stats`);
        if (tls?.authorityPem) {
          const { describeCertificate } = await import('./certificates.js');
          log('info', `TLS: clients trust the local authority ${server.url}/mavgate-ca.crt (SHA-256 ${describeCertificate(tls.authorityPem).fingerprint}); pair a tablet with mavgate pair`);
        }
      }
      const endpoints: GcsEndpoint[] = [];
      for (const [i, { endpoint, as }] of settings.gcs.entries()) {
        const entry = tokens.byName(as ?? '');
        if (as !== undefined && !entry) throw new ServerConfigError(`gcs[${i}]`, `no token named "${as}" (create it with mavgate token add)`);
        // The token as it is when a peer arrives (a reload may change its role); once removed, its last form, which the hub refuses.
        let last = entry ? principalOf(entry) : ANONYMOUS;
        const principal = () => {
          const now = as === undefined ? undefined : tokens.byName(as);
          if (now) last = principalOf(now);
          return last;
        };
        const { gcs, grant } = await gcsEndpoint(gateway.gate, `gcs[${i}] ${endpoint.text}`, endpoint, hub, principal);
        await gcs.start();
        started.push(gcs);
        watchGrant(grant, {
          changed: () => gcs.policyChanged(),
          revoked: (refusal) => {
            gcs.cutOff(`the policy in force refuses ${endpoint.text}: ${refusal.reason}`);
            log('warn', `clients: ${endpoint.text} closed: ${refusal.message}`);
          },
        });
        endpoints.push(gcs);
        const listens = endpoint.kind === 'udp-listen' || endpoint.kind === 'tcp-listen';
        log('info', listens
          ? `clients: ground stations on ${endpoint.text} as ${last.name} (${last.role})`
          : `clients: sending to the ground station at ${endpoint.text} (from ${endpoint.kind} port ${gcs.localPort || 'any'}) as ${last.name} (${last.role})`);
      }
      if (tokens.size === 0) {
        log('warn', 'NO CLIENT TOKENS CONFIGURED: clients on this machine are read-only observers and nobody can fly. Create one with: mavgate token add --role pilot NAME --config FILE');
      }
      const services = new ClientServices(hub, server, endpoints, tokens, tls, record, log, now, runOnly, map);
      record('tokens_in_force', { tokens: tokens.all.map(describeToken) });
      services.armExpiry();
      return services;
    } catch (err) {
      for (const s of started) await s.stop();
      hub.stop();
      map?.close();
      throw err;
    }
  }

  /**
   * A new set of tokens (SIGHUP): each change audited, and every client whose token was
   * removed, rotated, changed or expired disconnected.
   */
  applyTokens(entries: readonly TokenEntry[]): TokenChanges & { disconnected: number } {
    const named = new Set(entries.map((e) => e.name));
    const changes = this.tokens.replace([...entries, ...[...this.runOnly.values()].filter((e) => !named.has(e.name))]);
    for (const [event, names] of [['token_added', changes.added], ['token_removed', changes.removed], ['token_rotated', changes.rotated], ['token_changed', changes.changed]] as const) {
      for (const name of names) this.record(event, { name, ...(this.tokens.byName(name) ? describeToken(this.tokens.byName(name)!) : {}), via: 'configuration reload' });
    }
    const disconnected = this.hub.applyTokens();
    this.armExpiry();
    return { ...changes, disconnected };
  }

  /** At the next expiry, the clients of the tokens that expired are disconnected (and the expiry audited). */
  private armExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const next = this.tokens.nextExpiry();
    if (next === null) return;
    const wait = next - this.now();
    this.expiryTimer = setTimeout(() => {
      if (this.now() >= next) this.expire();
      this.armExpiry();
    }, Math.min(MAX_TIMER_MS, Math.max(0, wait)));
    this.expiryTimer.unref();
  }

  private expire(): void {
    // Every token past its expiry not yet told (a timer that fired late, after a suspend, sees several).
    for (const entry of this.tokens.all) {
      const key = `${entry.name} ${entry.expires}`;
      if (entry.expires === undefined || entry.expires > this.now() || this.expiredTold.has(key)) continue;
      this.expiredTold.add(key);
      this.record('token_expired', { name: entry.name, role: entry.role, expires: new Date(entry.expires).toISOString() });
      this.log('info', `token "${entry.name}" (${entry.role}) expired`);
    }
    const n = this.hub.applyTokens();
    if (n > 0) this.log('info', `${n} client(s) disconnected: their token expired`);
  }

  async stop(): Promise<void> {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.tls?.stop();
    for (const g of this.gcs) await g.stop();
    if (this.server) await this.server.stop();
    this.hub.stop();
    this.map?.close();
  }
}

/** A token as the audit log records it: never the token, nor its whole hash. */
function describeToken(entry: TokenEntry): Record<string, unknown> {
  return { name: entry.name, role: entry.role, sha256_prefix: entry.sha256.slice(0, 12), ...(entry.expires !== undefined ? { expires: new Date(entry.expires).toISOString() } : {}) };
}

/** The endpoint for a `--gcs` entry, with the gate's grant: to listen on its address, or to send to it. */
async function gcsEndpoint(gate: EgressGate, entry: string, endpoint: GcsEndpointSpec, hub: ClientHub, principal: () => Principal): Promise<{ gcs: GcsEndpoint; grant: Grant }> {
  const udp = endpoint.kind === 'udp' || endpoint.kind === 'udp-listen';
  const protocol = udp ? 'udp' : 'tcp';
  const coalesce = coalesceLimit(endpoint);
  if (endpoint.kind === 'udp-listen' || endpoint.kind === 'tcp-listen') {
    const grant = await gate.grantListen(entry, protocol, endpoint.host, endpoint.port);
    return { gcs: udp ? new UdpGcsEndpoint(endpoint.text, grant, hub, principal, coalesce) : new TcpGcsEndpoint(endpoint.text, grant, hub, principal, coalesce), grant };
  }
  const grant = await gate.grantConnect(entry, protocol, endpoint.host, endpoint.port);
  return { gcs: udp ? new UdpGcsPush(endpoint.text, grant, hub, principal, coalesce) : new TcpGcsPush(endpoint.text, grant, hub, principal, coalesce), grant };
}
