/**
 * Validating a residency policy document (from YAML): every error names the key. Kept
 * apart from policy.ts so that only a gateway given a policy loads the schema library.
 */
import { z } from 'zod';
import { DATA_CLASSES } from './data-classes.js';
import { buildPolicy, DEFAULT_DOCUMENT, PolicyError, type PolicyDocument, type ResidencyPolicy, ROLES } from './policy.js';

const port = z.number().int().min(1).max(65535);
const dataClass = z.enum(DATA_CLASSES);
const schema = z.strictObject({
  jurisdiction: z.string().min(1).default(DEFAULT_DOCUMENT.jurisdiction),
  site: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only (it goes into file names)').default(DEFAULT_DOCUMENT.site),
  approved_sinks: z.strictObject({
    directories: z.array(z.string().min(1)).default(DEFAULT_DOCUMENT.approved_sinks.directories),
    networks: z.array(z.strictObject({ cidr: z.string(), ports: z.array(port).default([]) })).default(DEFAULT_DOCUMENT.approved_sinks.networks),
  }).default(DEFAULT_DOCUMENT.approved_sinks),
  listen: z.array(z.string()).default(DEFAULT_DOCUMENT.listen),
  classes: z.record(z.string().regex(/^[A-Z0-9_]+$/, 'a MAVLink message name'), dataClass).default({}),
  client_networks: z.array(z.strictObject({ cidr: z.string(), roles: z.array(z.enum(ROLES)).min(1) })).default(DEFAULT_DOCUMENT.client_networks),
  rules: z.array(z.strictObject({
    to: z.string(),
    classes: z.array(dataClass).optional(),
    redact: z.partialRecord(dataClass, z.union([z.literal('drop'), z.strictObject({ grid_m: z.number().positive().max(1_000_000) })])).default({}),
    /** Most messages per second of one type from one vehicle, by message name or class (a broker, say: positions at 2 Hz). */
    rates: z.record(z.string().regex(/^[A-Za-z0-9_]+$/, 'a message name or a data class'), z.number().positive().max(1000)).default({}),
  })).default([]),
  audit: z.strictObject({ directory: z.string().min(1) }).optional(),
  /** The client server beyond loopback without TLS: only when the policy says so (audited at every start). */
  server: z.strictObject({ plaintext_lan: z.boolean().default(false) }).optional(),
});

/** A schema issue's path as a config key: `approved_sinks.networks[0].cidr`. */
export function keyOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
}

/** Validates a parsed policy document (`{}` gives the defaults). Relative directories resolve against `baseDir`. */
export function parsePolicy(document: unknown, source: string, baseDir = process.cwd()): ResidencyPolicy {
  const result = schema.safeParse(document ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new PolicyError(source, keyOf(issue.path), issue.message);
  }
  return buildPolicy(result.data as PolicyDocument, source, baseDir);
}
