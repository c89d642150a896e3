/**
 * The gateway's configuration file (YAML), validated: every error names the key and
 * what was expected. Flags given on the command line override the file. Loaded only
 * when a file is given (zod and yaml cost start-up time and memory otherwise).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { EndpointError, parseEndpoint } from '../links/endpoint.js';
import { MAX_DATAGRAM_BYTES } from '../links/send-batch.js';
import { MAX_FRAME_LENGTH } from '../mavlink/index.js';
import { DEFAULT_ALLOW_UNSIGNED } from '../links/link-signing.js';
import { KeyFileError, loadKey } from '../sinks/key-file.js';
import { parseGcsEndpoint, parseListen } from './server-flags.js';
import { DEFAULT_GATEWAY_NODE } from '../router/gateway-node.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';
import { DEFAULT_RECORDING, DEFAULT_RUN_CONFIG, DEFAULT_SPOOL_BYTES, type RecordingConfig, type RunConfig } from './run-config.js';
import { PolicyError, ROLES } from '../residency/policy.js';
import type { ClientHubOptions } from '../server/client-hub.js';
import { DEFAULT_RENEW_DAYS, DEFAULT_SERVER, type ServerSettings, type TlsSettings } from '../server/settings.js';
import { DEFAULT_QUEUE } from '../server/outbound-queue.js';
import { DEFAULT_PERMISSIONS } from '../server/permissions.js';
import { DEFAULT_SOURCES } from '../server/tokens.js';
import { keyOf, parsePolicy } from '../residency/policy-parse.js';
import { dirname, resolve } from 'node:path';

const byte = z.number().int().min(1).max(255);
const names = z.array(z.string().min(1));

const serverSchema = z.strictObject({
  /** HOST:PORT, or false for no HTTP/WebSocket server. */
  listen: z.union([z.string(), z.literal(false)], { error: 'expected HOST:PORT, or false for no server' }).optional(),
  origins: z.array(z.url()).default([]),
  hosts: names.default([]),
  control_timeout_ms: z.number().int().min(500).max(600_000).optional(),
  control: z.enum(['auto', 'explicit']).optional(),
  rate_limit: z.strictObject({ per_second: z.number().positive(), burst: z.number().int().min(1) }).optional(),
  queue: z.strictObject({
    max_frames: z.number().int().min(10).max(1_000_000).optional(),
    high_water_bytes: z.number().int().min(1024).optional(),
    stall_timeout_ms: z.number().int().min(100).optional(),
  }).optional(),
  roles: z.strictObject({ pilot: names.optional(), admin: names.optional(), admin_commands: names.optional() }).optional(),
  /** HTTPS/WSS: true (the local authority, mavgate tls init), or where its files are, or the agency's certificate. */
  tls: z.union([z.boolean(), z.strictObject({
    directory: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    chain_file: z.string().min(1).optional(),
    renew_days: z.number().int().min(1).max(365).optional(),
  })], { error: 'expected true, false, or the keys directory, cert_file, key_file, chain_file, renew_days' }).optional(),
  /** Where Cockpit is served, for pairing links that open it on this server's socket. */
  cockpit: z.url().optional(),
});

const tokenSchema = z.strictObject({
  name: z.string().min(1),
  role: z.enum(ROLES),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the hex SHA-256 of the token (mavgate token add writes it)'),
  sources: z.array(z.strictObject({ system: byte, components: z.array(z.number().int().min(0).max(255)).default([]) })).optional(),
  /** When the token stops being accepted (ISO 8601; mavgate token add --expires writes it). */
  expires: z.union([z.date(), z.string()]).transform((v, ctx) => {
    const t = new Date(v).getTime();
    if (Number.isNaN(t)) ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a date and time (ISO 8601, e.g. 2026-11-25T18:00:00Z)` });
    return t;
  }).optional(),
});

/** true (the transport's default size), false (one frame per datagram or write), or the largest datagram or write in bytes. */
const coalesceSchema = z.union([z.boolean(), z.number().int().min(MAX_FRAME_LENGTH).max(MAX_DATAGRAM_BYTES)], {
  error: `expected true, false or a datagram size in bytes (${MAX_FRAME_LENGTH} to ${MAX_DATAGRAM_BYTES})`,
});

const signingSchema = z.strictObject({
  key_file: z.string().min(1),
  sign: z.boolean().default(true),
  require_signed: z.boolean().default(true),
  link_id: z.number().int().min(0).max(255).optional(),
  allow_unsigned: names.optional(),
});

const schema = z.strictObject({
  /** An endpoint string, or an endpoint with MAVLink 2 signing. */
  links: z.array(z.union([z.string(), z.strictObject({
    endpoint: z.string(),
    signing: signingSchema.optional(),
    drop_unknown: z.boolean().optional(),
    coalesce: coalesceSchema.optional(),
    receive_buffer_bytes: z.number().int().min(4096).max(2 ** 30).optional(),
  })], { error: 'expected an endpoint (udp-listen:HOST:PORT, serial:DEVICE:BAUD, …), or the keys endpoint, signing, drop_unknown, coalesce, receive_buffer_bytes' })).default([]),
  dialects: z.array(z.string()).optional(),
  dedup_window_ms: z.number().int().min(0).max(10_000).optional(),
  status_interval_ms: z.number().int().min(0).default(DEFAULT_RUN_CONFIG.statusIntervalMs),
  /** The residency policy, inline (or use --policy FILE). */
  residency: z.unknown().optional(),
  server: serverSchema.optional(),
  tokens: z.array(tokenSchema).default([]),
  gcs: z.array(z.strictObject({ endpoint: z.string(), as: z.string().optional(), coalesce: coalesceSchema.optional() })).default([]),
  /** The operator's dashboard. */
  dashboard: z.strictObject({
    battery_warning_percent: z.number().min(0).max(100).optional(),
    /** A raster MBTiles file for the track's background, in an approved directory. */
    map: z.string().min(1).optional(),
  }).optional(),
  /** Publishing to an on-premises MQTT broker. */
  mqtt: z.strictObject({
    broker: z.string().regex(/^mqtts?:\/\//, 'mqtt://HOST:PORT (loopback only) or mqtts://HOST:PORT'),
    ca_file: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    spool: z.strictObject({ directory: z.string().min(1).optional(), max_mb: z.number().positive().optional() }).optional(),
  }).optional(),
  /** Flight recording (on by default), or false. */
  recording: z.union([z.literal(false), z.strictObject({
    directory: z.string().min(1).optional(),
    flush_interval_ms: z.number().int().min(50).max(60_000).optional(),
    rotate_mb: z.number().positive().optional(),
    rotate_minutes: z.number().positive().optional(),
    retain_days: z.number().positive().optional(),
    retain_gb: z.number().positive().optional(),
    encrypt: z.boolean().optional(),
    key_file: z.string().min(1).optional(),
  })], { error: 'expected false (no recording), or the keys directory, flush_interval_ms, rotate_mb, rotate_minutes, retain_days, retain_gb, encrypt, key_file' }).optional(),
  gateway_node: z
    .strictObject({
      heartbeat: z.boolean().default(DEFAULT_GATEWAY_NODE.heartbeat),
      request_streams: z.boolean().default(DEFAULT_GATEWAY_NODE.requestStreams),
      sysid: byte.default(DEFAULT_GATEWAY_NODE.sysid),
      compid: byte.default(DEFAULT_GATEWAY_NODE.compid),
      stream_rate_hz: z.number().positive().max(100).default(DEFAULT_GATEWAY_NODE.streamRateHz),
    })
    .default({ heartbeat: false, request_streams: false, sysid: DEFAULT_GATEWAY_NODE.sysid, compid: DEFAULT_GATEWAY_NODE.compid, stream_rate_hz: DEFAULT_GATEWAY_NODE.streamRateHz }),
});

export class ConfigError extends InputError {
  constructor(readonly source: string, readonly key: string, reason: string) {
    super(`${source}: ${key ? `${key}: ` : ''}${reason}`);
    this.name = 'ConfigError';
  }
}

/**
 * The issue to report. Inside a union (a link as a string or as an object), zod says only
 * that no branch matched: the branch that got furthest before failing is the one meant, so
 * its issue is reported, with the key inside it. A value no branch got into keeps the
 * union's own message, which says what is accepted.
 */
function deepestIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { path: issue.path, message: issue.message };
  const firsts = issue.errors.map((branch) => branch[0]).filter((i): i is z.core.$ZodIssue => i !== undefined);
  const furthest = firsts.reduce((a, b) => (b.path.length > a.path.length ? b : a), firsts[0]!);
  if (furthest.path.length === 0 && furthest.code !== 'invalid_union') return { path: issue.path, message: issue.message };
  const inner = deepestIssue(furthest);
  return { path: [...issue.path, ...inner.path], message: inner.message };
}

/** Validates a parsed document (from a file, or `{}` when there is none). */
export function parseConfig(document: unknown, source: string): RunConfig {
  const result = schema.safeParse(document ?? {});
  if (!result.success) {
    const issue = deepestIssue(result.error.issues[0]!);
    throw new ConfigError(source, keyOf(issue.path), issue.message);
  }
  const c = result.data;
  const links = c.links.map((entry, i) => {
    const text = typeof entry === 'string' ? entry : entry.endpoint;
    const parsed = endpointAt(source, `links[${i}]`, () => parseEndpoint(text));
    if (typeof entry === 'string') return parsed;
    const inProcess = parsed.kind === 'sim' || parsed.kind === 'replay' || parsed.kind === 'fleet';
    if (entry.drop_unknown !== undefined && inProcess) throw new ConfigError(source, `links[${i}].drop_unknown`, `${parsed.kind} links take no frames from a peer: nothing to drop`);
    if (entry.coalesce !== undefined && inProcess) throw new ConfigError(source, `links[${i}].coalesce`, `${parsed.kind} links are in-process: there are no datagrams to coalesce`);
    if (entry.receive_buffer_bytes !== undefined && parsed.kind !== 'udp' && parsed.kind !== 'udp-listen') throw new ConfigError(source, `links[${i}].receive_buffer_bytes`, 'only UDP links have a receive buffer to size');
    const endpoint = inProcess ? parsed : {
      ...parsed,
      ...(entry.drop_unknown ? { dropUnknown: true } : {}),
      ...(entry.coalesce !== undefined ? { coalesce: entry.coalesce } : {}),
      ...(entry.receive_buffer_bytes !== undefined ? { receiveBufferBytes: entry.receive_buffer_bytes } : {}),
    };
    if (!entry.signing) return endpoint;
    if (inProcess) throw new ConfigError(source, `links[${i}].signing`, `${endpoint.kind} links carry no vehicle's own frames: nothing to sign`);
    const s = entry.signing;
    let key: Buffer;
    try {
      key = loadKey(resolve(dirname(source), s.key_file));
    } catch (err) {
      if (err instanceof KeyFileError) throw new ConfigError(source, `links[${i}].signing.key_file`, err.message);
      throw err;
    }
    return { ...endpoint, signing: { key, sign: s.sign, requireSigned: s.require_signed, linkId: s.link_id ?? i, allowUnsigned: s.allow_unsigned ?? DEFAULT_ALLOW_UNSIGNED } };
  });
  const names = new Set<string>();
  c.tokens.forEach((t, i) => {
    if (names.has(t.name)) throw new ConfigError(source, `tokens[${i}].name`, `"${t.name}" is used twice`);
    names.add(t.name);
  });
  return {
    links,
    server: parseServer(c, source),
    recording: parseRecording(c.recording, source),
    mqtt: c.mqtt ? {
      broker: c.mqtt.broker,
      ...(c.mqtt.ca_file ? { caFile: resolve(dirname(source), c.mqtt.ca_file) } : {}),
      ...(c.mqtt.cert_file ? { certFile: resolve(dirname(source), c.mqtt.cert_file) } : {}),
      ...(c.mqtt.key_file ? { keyFile: resolve(dirname(source), c.mqtt.key_file) } : {}),
      ...(c.mqtt.spool?.directory ? { spoolDirectory: resolve(dirname(source), c.mqtt.spool.directory) } : {}),
      spoolMaxBytes: c.mqtt.spool?.max_mb !== undefined ? Math.round(c.mqtt.spool.max_mb * 1024 * 1024) : DEFAULT_SPOOL_BYTES,
    } : null,
    ...(c.dialects ? { dialects: c.dialects } : {}),
    ...(c.dedup_window_ms !== undefined ? { dedupWindowMs: c.dedup_window_ms } : {}),
    statusIntervalMs: c.status_interval_ms,
    ...(c.residency !== undefined ? { policy: parseResidency(c.residency, source) } : {}),
    node: {
      heartbeat: c.gateway_node.heartbeat,
      requestStreams: c.gateway_node.request_streams,
      sysid: c.gateway_node.sysid,
      compid: c.gateway_node.compid,
      streamRateHz: c.gateway_node.stream_rate_hz,
    },
  };
}

function endpointAt<T>(source: string, key: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof EndpointError) throw new ConfigError(source, key, err.message);
    throw err;
  }
}

function parseServer(c: z.infer<typeof schema>, source: string): ServerSettings {
  const s = c.server ?? { origins: [], hosts: [] };
  const base = dirname(source);
  const hub: Partial<ClientHubOptions> = {
    ...(s.control_timeout_ms !== undefined ? { controlTimeoutMs: s.control_timeout_ms } : {}),
    ...(s.control ? { controlMode: s.control } : {}),
    ...(s.rate_limit ? { rateLimit: { perSecond: s.rate_limit.per_second, burst: s.rate_limit.burst } } : {}),
    ...(s.queue?.stall_timeout_ms !== undefined ? { stallTimeoutMs: s.queue.stall_timeout_ms } : {}),
    queue: { maxFrames: s.queue?.max_frames ?? DEFAULT_QUEUE.maxFrames, highWaterBytes: s.queue?.high_water_bytes ?? DEFAULT_QUEUE.highWaterBytes },
    permissions: {
      pilot: s.roles?.pilot ?? DEFAULT_PERMISSIONS.pilot,
      admin: s.roles?.admin ?? DEFAULT_PERMISSIONS.admin,
      adminCommands: s.roles?.admin_commands ?? DEFAULT_PERMISSIONS.adminCommands,
    },
  };
  return {
    listen: s.listen === false ? null : s.listen === undefined ? DEFAULT_SERVER.listen : endpointAt(source, 'server.listen', () => parseListen(s.listen as string)),
    origins: s.origins,
    hosts: s.hosts,
    hub,
    tokens: c.tokens.map((t) => ({ name: t.name, role: t.role, sha256: t.sha256, sources: t.sources ?? DEFAULT_SOURCES, ...(t.expires !== undefined ? { expires: t.expires } : {}) })),
    gcs: c.gcs.map((g, i) => {
      const endpoint = endpointAt(source, `gcs[${i}].endpoint`, () => parseGcsEndpoint(g.endpoint));
      return { endpoint: g.coalesce !== undefined ? { ...endpoint, coalesce: g.coalesce } : endpoint, ...(g.as !== undefined ? { as: g.as } : {}) };
    }),
    dashboard: {
      batteryWarningPercent: c.dashboard?.battery_warning_percent ?? DEFAULT_SERVER.dashboard.batteryWarningPercent,
      mapFile: c.dashboard?.map ? resolve(dirname(source), c.dashboard.map) : null,
    },
    tls: parseTls(s.tls, source, base),
    ...(s.cockpit ? { cockpit: s.cockpit } : {}),
  };
}

function parseTls(t: NonNullable<z.infer<typeof schema>['server']>['tls'], source: string, base: string): TlsSettings | null {
  if (t === undefined || t === false) return null;
  if (t === true) return { source: 'local', renewDays: DEFAULT_RENEW_DAYS };
  const renewDays = t.renew_days ?? DEFAULT_RENEW_DAYS;
  const directory = t.directory !== undefined ? { directory: resolve(base, t.directory) } : {};
  if (t.cert_file === undefined && t.key_file === undefined) {
    if (t.chain_file !== undefined) throw new ConfigError(source, 'server.tls.chain_file', 'goes with cert_file and key_file');
    return { source: 'local', renewDays, ...directory };
  }
  if (t.cert_file === undefined || t.key_file === undefined) throw new ConfigError(source, `server.tls.${t.cert_file === undefined ? 'cert_file' : 'key_file'}`, 'the certificate and its key go together: give both');
  return {
    source: 'files', certFile: resolve(base, t.cert_file), keyFile: resolve(base, t.key_file), renewDays, ...directory,
    ...(t.chain_file !== undefined ? { chainFile: resolve(base, t.chain_file) } : {}),
  };
}

function parseRecording(r: z.infer<typeof schema>['recording'], source: string): RecordingConfig | null {
  if (r === false) return null;
  if (r === undefined) return DEFAULT_RECORDING;
  const base = dirname(source);
  if (r.encrypt === true && r.key_file === undefined) throw new ConfigError(source, 'recording.key_file', 'encrypt: true needs the key file (mavgate key generate FILE)');
  if (r.encrypt === false && r.key_file !== undefined) throw new ConfigError(source, 'recording.encrypt', 'false, but key_file is given: remove one of them');
  return {
    flushIntervalMs: r.flush_interval_ms ?? DEFAULT_RECORDING.flushIntervalMs,
    ...(r.directory !== undefined ? { directory: resolve(base, r.directory) } : {}),
    ...(r.rotate_mb !== undefined ? { rotateBytes: Math.round(r.rotate_mb * 1024 * 1024) } : {}),
    ...(r.rotate_minutes !== undefined ? { rotateMs: Math.round(r.rotate_minutes * 60_000) } : {}),
    ...(r.retain_days !== undefined ? { retainMs: Math.round(r.retain_days * 86_400_000) } : {}),
    ...(r.retain_gb !== undefined ? { retainBytes: Math.round(r.retain_gb * 1024 ** 3) } : {}),
    ...(r.key_file !== undefined ? { keyFile: resolve(base, r.key_file) } : {}),
  };
}

function parseResidency(document: unknown, source: string) {
  try {
    return parsePolicy(document, source, dirname(source));
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(source, `residency${err.key ? `.${err.key}` : ''}`, err.message.replace(/^residency policy [^:]*: (?:[^:]*: )?/, ''));
    throw err;
  }
}

export function loadConfigFile(path: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read config ${path}: ${describeFsError(err)}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    if (err instanceof YAMLParseError) throw new ConfigError(path, '', `not valid YAML: ${err.message}`);
    throw err;
  }
  return { ...parseConfig(document, path), configPath: path };
}
