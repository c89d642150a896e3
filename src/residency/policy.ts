/**
 * The residency policy: where telemetry may go. Loaded from YAML (standalone, or the
 * `residency:` key of the gateway config), validated, every error naming the key.
 * What the policy does not approve is refused: the defaults approve loopback and the
 * data directory only.
 */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { DATA_CLASSES, type DataClass } from './data-classes.js';

export interface ApprovedNetwork {
  /** Where in the policy it came from, for messages and audit records: `approved_sinks.networks[1]`. */
  key: string;
  cidr: string;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  /** Allowed ports; empty means any port. */
  ports: number[];
}

/** What a destination receives of one data class: nothing, or positions snapped to a grid. */
export type Redaction = 'drop' | { gridM: number };

export const ROLES = ['observer', 'pilot', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ClientNetwork {
  key: string;
  cidr: string;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  /** The roles a client from this network may hold. */
  roles: ReadonlySet<Role>;
}

export interface DestinationRule {
  key: string;
  /** A network destination (`to: 192.168.10.0/24`), or every client of a role (`to: role:observer`). */
  cidr: string;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number] | null;
  role: Role | null;
  /** The classes this destination may receive. */
  classes: ReadonlySet<DataClass>;
  redact: ReadonlyMap<DataClass, Redaction>;
  /** Most messages per second of one type from one source, by message name or class (none: every one). */
  rates: ReadonlyMap<string, number>;
}

export interface ResidencyPolicy {
  jurisdiction: string;
  site: string;
  /** Directories (absolute, as written) where recordings, exports and the audit log may be written. */
  directories: { key: string; path: string }[];
  /** Network destinations telemetry may be sent to. */
  networks: ApprovedNetwork[];
  /** Addresses mavgate may listen on (wildcards only when listed literally: 0.0.0.0 or ::). */
  listen: { key: string; cidr: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number] | null; wildcard: boolean }[];
  /** Messages moved to another class than the shipped one, by name. */
  classOverrides: Record<string, DataClass>;
  /** Networks ground-control clients may connect from, and the roles each may hold (default: loopback, every role). */
  clientNetworks: ClientNetwork[];
  /** Per-destination rules, first match wins; a destination no rule matches gets every class unredacted. */
  rules: DestinationRule[];
  /** Directory of the audit log (inside an approved directory). */
  auditDirectory: string;
  /**
   * Whether the client server may listen beyond loopback without TLS (`server.plaintext_lan`):
   * tokens then cross the network in the clear, so it is off unless the policy says so.
   */
  plaintextLan: boolean;
  /** SHA-256 of the policy as loaded (the canonical JSON of the validated document). */
  sha256: string;
  source: string;
}

export class PolicyError extends Error {
  constructor(readonly source: string, readonly key: string, reason: string) {
    super(`residency policy ${source}: ${key ? `${key}: ` : ''}${reason}`);
    this.name = 'PolicyError';
  }
}

export const DEFAULT_DATA_DIRECTORY = 'mavgate-data';
const LOOPBACK = ['127.0.0.0/8', '::1/128'];

export function parseCidr(source: string, key: string, cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    range = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new PolicyError(source, key, `"${cidr}" is not an address or CIDR range (e.g. 192.168.10.0/24)`);
  }
  if (range[1] === 0) throw new PolicyError(source, key, `"${cidr}" approves every address; approve the networks you control`);
  return range;
}

/** A directory for mavgate's own files (`recordings`, `exports`, `mqtt-spool`) in the policy's first approved directory. */
export function dataDirectory(policy: ResidencyPolicy, name: string): string {
  return join(policy.directories[0]?.path ?? resolve(DEFAULT_DATA_DIRECTORY), name);
}

/** A policy document after schema validation (see policy-parse.ts). */
export interface PolicyDocument {
  jurisdiction: string;
  site: string;
  approved_sinks: { directories: string[]; networks: { cidr: string; ports: number[] }[] };
  listen: string[];
  classes: Record<string, DataClass>;
  client_networks: { cidr: string; roles: Role[] }[];
  rules: { to: string; classes?: DataClass[]; redact: Partial<Record<DataClass, 'drop' | { grid_m: number }>>; rates?: Record<string, number> }[];
  audit?: { directory: string };
  server?: { plaintext_lan: boolean };
}

export const DEFAULT_DOCUMENT: PolicyDocument = {
  jurisdiction: 'unspecified',
  site: 'local',
  approved_sinks: { directories: [DEFAULT_DATA_DIRECTORY], networks: LOOPBACK.map((cidr) => ({ cidr, ports: [] })) },
  listen: LOOPBACK,
  classes: {},
  client_networks: LOOPBACK.map((cidr) => ({ cidr, roles: [...ROLES] })),
  rules: [],
};

/**
 * The default policy (loopback and the data directory only), built without the schema
 * library: a gateway with no policy file does not pay for loading it.
 */
export function defaultPolicy(baseDir = process.cwd()): ResidencyPolicy {
  return buildPolicy(DEFAULT_DOCUMENT, 'defaults', baseDir);
}

/** Turns a validated document into the policy the gate uses; relative directories resolve against `baseDir`. */
export function buildPolicy(p: PolicyDocument, source: string, baseDir: string): ResidencyPolicy {
  const directories = p.approved_sinks.directories.map((dir, i) => ({ key: `approved_sinks.directories[${i}]`, path: resolve(baseDir, dir) }));
  const networks = p.approved_sinks.networks.map((n, i) => {
    const key = `approved_sinks.networks[${i}]`;
    return { key, cidr: n.cidr, range: parseCidr(source, key, n.cidr), ports: n.ports };
  });
  const listen = p.listen.map((cidr, i) => {
    const key = `listen[${i}]`;
    const wildcard = cidr === '0.0.0.0' || cidr === '::';
    return { key, cidr, wildcard, range: wildcard ? null : parseCidr(source, key, cidr) };
  });
  const rules = p.rules.map((r, i): DestinationRule => {
    const key = `rules[${i}]`;
    const redact = new Map<DataClass, Redaction>();
    for (const [cls, action] of Object.entries(r.redact)) {
      if (action === undefined) continue;
      if (action !== 'drop' && cls !== 'position') throw new PolicyError(source, `${key}.redact.${cls}`, 'grid_m applies to position only; other classes can be dropped');
      redact.set(cls as DataClass, action === 'drop' ? 'drop' : { gridM: action.grid_m });
    }
    const role = r.to.startsWith('role:') ? r.to.slice(5) : null;
    if (role !== null && !(ROLES as readonly string[]).includes(role)) throw new PolicyError(source, `${key}.to`, `unknown role "${role}"; roles are ${ROLES.join(', ')}`);
    return {
      key, cidr: r.to, range: role === null ? parseCidr(source, `${key}.to`, r.to) : null, role: role as Role | null,
      classes: new Set(r.classes ?? DATA_CLASSES), redact, rates: new Map(Object.entries(r.rates ?? {})),
    };
  });
  const clientNetworks = p.client_networks.map((n, i): ClientNetwork => {
    const key = `client_networks[${i}]`;
    return { key, cidr: n.cidr, range: parseCidr(source, key, n.cidr), roles: new Set(n.roles) };
  });
  const auditDirectory = resolve(baseDir, p.audit?.directory ?? `${directories[0]?.path ?? DEFAULT_DATA_DIRECTORY}/audit`);
  const sha256 = createHash('sha256').update(JSON.stringify(p)).digest('hex');
  return {
    jurisdiction: p.jurisdiction, site: p.site, directories, networks, listen, classOverrides: p.classes, clientNetworks, rules, auditDirectory,
    plaintextLan: p.server?.plaintext_lan ?? false, sha256, source,
  };
}
