/** What `mavgate run` needs to know, whether it came from a file, from flags, or from the defaults. */
import type { Endpoint } from '../links/endpoint.js';
import type { FleetTls } from '../links/fleet-link.js';
import type { ReplayOptions } from '../links/replay-link.js';
import { DEFAULT_GATEWAY_NODE, type GatewayNodeOptions } from '../router/gateway-node.js';
import type { ResidencyPolicy } from '../residency/policy.js';
import { DEFAULT_SERVER, type ServerSettings } from '../server/settings.js';

export interface RunConfig {
  links: Endpoint[];
  /** The configuration file the settings came from, if any (named when it lacks something). */
  configFile?: string;
  dialects?: string[];
  dedupWindowMs?: number;
  statusIntervalMs: number;
  node: GatewayNodeOptions;
  /** The residency policy; with one, the audit log is written in its audit directory. */
  policy?: ResidencyPolicy;
  /** Begin a new audit chain although the old log is lost or damaged (`--new-audit-chain`). */
  newAuditChain?: boolean;
  /** Ground-control clients: the HTTP/WebSocket server, tokens, GCS endpoints. */
  server: ServerSettings;
  /** Flight recording; null: none. */
  recording: RecordingConfig | null;
  /** How `replay:` links play (`mavgate replay`). */
  replay?: ReplayOptions;
  /** Publishing to an on-premises MQTT broker; null: none. */
  mqtt: MqttConfig | null;
  /** Certificates for a fleet link to an mqtts:// broker (`mavgate fleet`). */
  fleetTls?: FleetTls;
  /** The config file it came from: tokens paired on the dashboard are kept there. */
  configPath?: string;
}

export interface MqttConfig {
  broker: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Default: `mqtt-spool` in the policy's first approved directory. */
  spoolDirectory?: string;
  spoolMaxBytes: number;
}

export interface RecordingConfig {
  /** Where recordings go (default: `recordings` in the policy's first approved directory). */
  directory?: string;
  flushIntervalMs: number;
  rotateBytes?: number;
  rotateMs?: number;
  retainMs?: number;
  retainBytes?: number;
  /** Encrypt with the key in this file. */
  keyFile?: string;
}

export const DEFAULT_RECORDING: RecordingConfig = { flushIntervalMs: 1000 };

/** How much the MQTT spool keeps while the broker is out of reach, by default. */
export const DEFAULT_SPOOL_BYTES = 64 * 1024 * 1024;

export const DEFAULT_RUN_CONFIG: RunConfig = { links: [], statusIntervalMs: 1000, node: DEFAULT_GATEWAY_NODE, server: DEFAULT_SERVER, recording: DEFAULT_RECORDING, mqtt: null };
