/**
 * The residency policy: where telemetry may go. Loaded from YAML (standalone, or the
 * `residency:` key of the gateway config), validated, every error naming the key.
 * What the policy does not approve is refused: the defaults approve loopback and the
 * data directory only.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

export interface ApprovedNetwork {
  /** Where in the policy it came from, for messages and audit records: `approved_sinks.networks[1]`. */
  key: string;
  cidr: string;
  range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  /** Allowed ports; empty means any port. */
  ports: number[];
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
  /** Directory of the audit log (inside an approved directory). */
  auditDirectory: string;
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

const port = z.number().int().min(1).max(65535);
const schema = z.strictObject({
  jurisdiction: z.string().min(1).default('unspecified'),
  site: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only (it goes into file names)').default('local'),
  approved_sinks: z.strictObject({
    directories: z.array(z.string().min(1)).default([DEFAULT_DATA_DIRECTORY]),
    networks: z.array(z.strictObject({ cidr: z.string(), ports: z.array(port).default([]) })).default(LOOPBACK.map((cidr) => ({ cidr, ports: [] }))),
  }).default({ directories: [DEFAULT_DATA_DIRECTORY], networks: LOOPBACK.map((cidr) => ({ cidr, ports: [] })) }),
  listen: z.array(z.string()).default(LOOPBACK),
  audit: z.strictObject({ directory: z.string().min(1) }).optional(),
});

function keyOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
}

function parseCidr(source: string, key: string, cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] {
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    range = cidr.includes('/') ? ipaddr.parseCIDR(cidr) : [ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new PolicyError(source, key, `"${cidr}" is not an address or CIDR range (e.g. 192.168.10.0/24)`);
  }
  if (range[1] === 0) throw new PolicyError(source, key, `"${cidr}" approves every address; approve the networks you control`);
  return range;
}

/** Validates a parsed policy document (`{}` gives the defaults). Relative directories resolve against `baseDir`. */
export function parsePolicy(document: unknown, source: string, baseDir = process.cwd()): ResidencyPolicy {
  const result = schema.safeParse(document ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new PolicyError(source, keyOf(issue.path), issue.message);
  }
  const p = result.data;
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
  const auditDirectory = resolve(baseDir, p.audit?.directory ?? `${directories[0]?.path ?? DEFAULT_DATA_DIRECTORY}/audit`);
  const sha256 = createHash('sha256').update(JSON.stringify(p)).digest('hex');
  return { jurisdiction: p.jurisdiction, site: p.site, directories, networks, listen, auditDirectory, sha256, source };
}
