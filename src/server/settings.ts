/** What `mavgate run` is told about its clients (config file and flags), without loading the server. */
import type { Endpoint } from '../links/endpoint.js';
import type { ClientHubOptions } from './client-hub.js';
import { DEFAULT_DASHBOARD, type DashboardSettings } from './dashboard-feed.js';
import type { TokenEntry } from './tokens.js';

/** A ground-station endpoint: one mavgate listens on (`udp-listen:`, `tcp-listen:`), or a ground station that listens and is sent to (`udp:`, `tcp:`). */
export type GcsEndpointSpec = Extract<Endpoint, { kind: 'udp-listen' | 'udp' | 'tcp' | 'tcp-listen' }>;

export type TlsSettings =
  /** The local authority's certificate (`mavgate tls init`), in `directory` (default: `tls/` in the data directory). */
  | { source: 'local'; directory?: string; renewDays: number }
  /** A certificate the agency provides; `chainFile`: the intermediates, if not already after the certificate. */
  | { source: 'files'; certFile: string; keyFile: string; chainFile?: string; directory?: string; renewDays: number };

/** A certificate is renewed (or, from the agency, warned about) this many days before it expires. */
export const DEFAULT_RENEW_DAYS = 30;

export interface ServerSettings {
  /** Where the HTTP/WebSocket server listens; null for none. */
  listen: { host: string; port: number } | null;
  /** Browser origins allowed besides the server's own. */
  origins: string[];
  /** Host names the server answers to besides IP literals and localhost. */
  hosts: string[];
  hub: Partial<ClientHubOptions>;
  tokens: TokenEntry[];
  /** UDP/TCP endpoints for ground stations; `as` names the token whose role and source ids their peers get. */
  gcs: { endpoint: GcsEndpointSpec; as?: string }[];
  /** HTTPS and WSS instead of HTTP and WS; null: plain (loopback only, unless the policy allows it on the network). */
  tls: TlsSettings | null;
  /** Where Cockpit is served, for pairing links that open it on mavgate's socket. */
  cockpit?: string;
  /** The operator's dashboard: the battery warning level, an offline map. */
  dashboard: DashboardSettings;
}

export const DEFAULT_SERVER: ServerSettings = { listen: { host: '127.0.0.1', port: 8088 }, origins: [], hosts: [], hub: {}, tokens: [], gcs: [], tls: null, dashboard: DEFAULT_DASHBOARD };

/** A TLS file that cannot be used, naming it. */
export class TlsFileError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'TlsFileError';
  }
}
