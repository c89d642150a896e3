/**
 * The client side of the gateway assembled: the hub, the HTTP/WebSocket server and the
 * UDP/TCP ground-station endpoints, each listening on an address the residency gate
 * granted. `mavgate run` starts it next to the gateway; tests drive it directly.
 */
import type { MessageRegistry } from '../mavlink/index.js';
import type { Router } from '../router/router.js';
import type { VehicleStateStore } from '../router/vehicle-state.js';
import { type EgressGate, watchGrant } from '../residency/gate.js';
import { ClientHub } from './client-hub.js';
import { type GcsEndpoint, TcpGcsEndpoint, UdpGcsEndpoint } from './gcs-endpoints.js';
import { ClientServer } from './http-server.js';
import type { ApiContext } from './rest-api.js';
import { roleView } from './role-view.js';
import type { ServerSettings } from './settings.js';
import { ANONYMOUS, principalOf, TokenStore } from './tokens.js';

/** What the client services need of the gateway. */
export interface GatewayParts {
  readonly registry: MessageRegistry;
  readonly router: Router;
  readonly state: VehicleStateStore;
  /** The gate: it holds the policy in force, which a reload changes. */
  readonly gate: EgressGate;
  readonly node: { readonly options: { sysid: number; compid: number } };
  stats(): ReturnType<ApiContext['gatewayStats']>;
}

export class ServerConfigError extends Error {
  constructor(readonly key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'ServerConfigError';
  }
}

export class ClientServices {
  private constructor(readonly hub: ClientHub, readonly server: ClientServer | null, readonly gcs: GcsEndpoint[]) {}

  static async start(gateway: GatewayParts, settings: ServerSettings, version: string, log: (level: 'info' | 'warn', message: string) => void): Promise<ClientServices> {
    const tokens = new TokenStore(settings.tokens);
    const gate = () => gateway.gate;
    const hub = new ClientHub({ registry: gateway.registry, router: gateway.router, state: gateway.state, gate, source: gateway.node.options, log }, settings.hub);
    const started: { stop(): Promise<void> }[] = [];
    try {
      let server: ClientServer | null = null;
      if (settings.listen) {
        const { host, port } = settings.listen;
        const grant = await gateway.gate.grantListen('server.listen', 'tcp', host, port);
        const api: ApiContext = {
          hub, registry: gateway.registry, state: gateway.state, version,
          gatewayStats: () => gateway.stats(),
          viewFor: (principal) => roleView(gateway.gate.egressForRole(principal.role, gateway.registry).filter, gateway.registry),
        };
        const running = server = new ClientServer(grant, hub, api, { tokens, origins: new Set(settings.origins), hosts: new Set(settings.hosts), gate });
        await running.start();
        started.push(running);
        watchGrant(grant, {
          revoked: (refusal) => {
            running.cutOff(`the policy in force refuses the server: ${refusal.reason}`);
            log('warn', `server: closed: ${refusal.message}`);
          },
        });
        log('info', `dashboard: ${server.url}/   clients: ${server.url}/v1/ws/mavlink (mavlink2rest JSON), /v1/ws/raw (MAVLink), /v1/mavlink, /v1/stats`);
      }
      const endpoints: GcsEndpoint[] = [];
      for (const [i, { endpoint, as }] of settings.gcs.entries()) {
        const entry = tokens.byName(as ?? '');
        if (as !== undefined && !entry) throw new ServerConfigError(`gcs[${i}]`, `no token named "${as}" (create it with mavgate token add)`);
        const principal = entry ? principalOf(entry) : ANONYMOUS;
        const protocol = endpoint.kind === 'udp-listen' ? 'udp' : 'tcp';
        const grant = await gateway.gate.grantListen(`gcs[${i}] ${endpoint.text}`, protocol, endpoint.host, endpoint.port);
        const gcs = protocol === 'udp' ? new UdpGcsEndpoint(endpoint.text, grant, hub, principal) : new TcpGcsEndpoint(endpoint.text, grant, hub, principal);
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
        log('info', `clients: ground stations on ${endpoint.text} as ${principal.name} (${principal.role})`);
      }
      if (tokens.size === 0) {
        log('warn', 'NO CLIENT TOKENS CONFIGURED: clients on this machine are read-only observers and nobody can fly. Create one with: mavgate token add --role pilot NAME --config FILE');
      }
      return new ClientServices(hub, server, endpoints);
    } catch (err) {
      for (const s of started) await s.stop();
      hub.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    for (const g of this.gcs) await g.stop();
    if (this.server) await this.server.stop();
    this.hub.stop();
  }
}
