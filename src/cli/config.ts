/**
 * The gateway's configuration file (YAML), validated: every error names the key and
 * what was expected. Flags given on the command line override the file. Loaded only
 * when a file is given (zod and yaml cost start-up time and memory otherwise).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { EndpointError, parseEndpoint } from '../links/endpoint.js';
import { DEFAULT_GATEWAY_NODE } from '../router/gateway-node.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';
import { DEFAULT_RUN_CONFIG, type RunConfig } from './run-config.js';
import { PolicyError } from '../residency/policy.js';
import { keyOf, parsePolicy } from '../residency/policy-parse.js';
import { dirname } from 'node:path';

const byte = z.number().int().min(1).max(255);

const schema = z.strictObject({
  links: z.array(z.string()).default([]),
  dialects: z.array(z.string()).optional(),
  dedup_window_ms: z.number().int().min(0).max(10_000).optional(),
  status_interval_ms: z.number().int().min(0).default(DEFAULT_RUN_CONFIG.statusIntervalMs),
  /** The residency policy, inline (or use --policy FILE). */
  residency: z.unknown().optional(),
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

/** Validates a parsed document (from a file, or `{}` when there is none). */
export function parseConfig(document: unknown, source: string): RunConfig {
  const result = schema.safeParse(document ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(source, keyOf(issue.path), issue.message);
  }
  const c = result.data;
  const links = c.links.map((text, i) => {
    try {
      return parseEndpoint(text);
    } catch (err) {
      if (err instanceof EndpointError) throw new ConfigError(source, `links[${i}]`, err.message);
      throw err;
    }
  });
  return {
    links,
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
  return parseConfig(document, path);
}
