/**
 * Endpoint strings, as users know them from mavp2p and MAVProxy:
 *   serial:/dev/ttyUSB0:57600   udp-listen:127.0.0.1:14550   udp:127.0.0.1:14555
 *   tcp:127.0.0.1:5760          tcp-listen:127.0.0.1:5760  sim (the built-in vehicle)
 *   replay:flight.tlog (a recording played back)   profile:sik:/dev/ttyUSB0 (hardware/profiles.json)
 * IPv6 hosts go in brackets: udp:[::1]:14550.
 */
import { readFileSync } from 'node:fs';
import type { SigningSettings } from './link-signing.js';

export type EndpointKind = 'serial' | 'udp-listen' | 'udp' | 'tcp' | 'tcp-listen' | 'sim' | 'replay' | 'fleet';

/** Big enough for ~10k small datagrams: the default (~200 KiB) drops bursts when the event loop is busy for 1–2 ms. */
export const DEFAULT_UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** How a transport link sends (beyond where): its options from the config file or flags. */
export interface SendOptions {
  /**
   * Frames ready in the same turn of the event loop leave as one datagram or write, up to
   * this many bytes (a number), up to the transport's default size (absent or true), or
   * one frame per datagram or write (false).
   */
  coalesce?: number | boolean;
}

export type Endpoint =
  | { kind: 'serial'; text: string; path: string; baudRate: number; signing?: SigningSettings; dropUnknown?: boolean } & SendOptions
  | { kind: 'udp-listen' | 'udp' | 'tcp' | 'tcp-listen'; text: string; host: string; port: number; signing?: SigningSettings; dropUnknown?: boolean; /** UDP: the socket's receive buffer (SO_RCVBUF), bytes. */ receiveBufferBytes?: number } & SendOptions
  | { kind: 'sim'; text: string }
  /** A recording played back as if the vehicle were live (`mavgate replay`). */
  | { kind: 'replay'; text: string; path: string }
  /** The gateways of a fleet, through the on-premises broker they publish to (`mavgate fleet`). */
  | { kind: 'fleet'; text: string; broker: string; host: string; port: number; site: string };

export class EndpointError extends Error {
  constructor(readonly endpoint: string, readonly reason: string) {
    super(`endpoint "${endpoint}": ${reason}`);
    this.name = 'EndpointError';
  }
}

const NETWORK_KINDS = ['udp-listen', 'udp', 'tcp', 'tcp-listen'] as const;
const EXAMPLES = 'serial:/dev/ttyUSB0:57600, udp-listen:127.0.0.1:14550, udp:127.0.0.1:14555, tcp:127.0.0.1:5760, tcp-listen:127.0.0.1:5760, sim, replay:FILE, profile:sik:/dev/ttyUSB0';

/** Port 0 (any free port) makes sense only where we listen. */
function parsePort(text: string, value: string, listening: boolean): number {
  if (!/^\d+$/.test(value)) throw new EndpointError(text, `port "${value}" is not a number`);
  const port = Number(value);
  const min = listening ? 0 : 1;
  if (port < min || port > 65535) throw new EndpointError(text, `port ${port} is out of range (${min}..65535)`);
  return port;
}

function parseHostPort(text: string, rest: string, listening: boolean): { host: string; port: number } {
  if (rest.startsWith('[')) {
    const inside = /^\[([^\]]*)\]/.exec(rest)?.[1];
    if (inside?.includes('%')) throw new EndpointError(text, `scoped IPv6 addresses ("${inside}") are not supported: use a global or loopback address`);
    if (inside === undefined || !rest.startsWith(`[${inside}]:`)) throw new EndpointError(text, 'an IPv6 address in brackets is followed by :PORT, e.g. [::1]:14550');
  }
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(rest);
  const [host, port] = bracketed ? [bracketed[1]!, bracketed[2]!] : [rest.slice(0, rest.lastIndexOf(':')), rest.slice(rest.lastIndexOf(':') + 1)];
  if (rest.lastIndexOf(':') < 0 || host === '') throw new EndpointError(text, 'expected HOST:PORT (IPv6 as [::1]:PORT)');
  if (!bracketed && host.includes(':')) throw new EndpointError(text, `IPv6 address "${host}" must be in brackets, e.g. [${host}]:${port}`);
  if (!/^[A-Za-z0-9.\-_:]+$/.test(host)) throw new EndpointError(text, `"${host}" is not a host name or address`);
  return { host, port: parsePort(text, port, listening) };
}

interface LinkProfile { endpoint: string; default: string; about: string }
let profiles: Record<string, LinkProfile> | null = null;

/** The link profiles of hardware/profiles.json (`profile:sik:/dev/ttyUSB0`). */
export function linkProfiles(): Record<string, LinkProfile> {
  profiles ??= (JSON.parse(readFileSync(new URL('../../hardware/profiles.json', import.meta.url), 'utf8')) as { profiles: Record<string, LinkProfile> }).profiles;
  return profiles;
}

/** `profile:NAME[:ARG]` → the endpoint string it stands for. */
function expandProfile(text: string, rest: string): string {
  const [name, ...arg] = rest.split(':');
  const profile = linkProfiles()[name ?? ''];
  if (!profile) throw new EndpointError(text, `unknown profile "${name}"; profiles are ${Object.keys(linkProfiles()).join(', ')}`);
  return profile.endpoint.replace('{arg}', arg.length > 0 ? arg.join(':') : profile.default);
}

/** Parses one endpoint string; every error names the endpoint and what was wrong with it. */
export function parseEndpoint(text: string): Endpoint {
  const trimmed = text.trim();
  if (trimmed.startsWith('profile:')) return { ...parseEndpoint(expandProfile(text, trimmed.slice('profile:'.length))), text: trimmed };
  if (trimmed === 'sim') return { kind: 'sim', text: trimmed };
  const colon = trimmed.indexOf(':');
  const kind = colon < 0 ? trimmed : trimmed.slice(0, colon);
  const rest = colon < 0 ? '' : trimmed.slice(colon + 1);
  if (kind === 'fleet') {
    // fleet:mqtt://HOST:PORT[/SITE]: every gateway of SITE (default: every site).
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw new EndpointError(text, 'expected fleet:mqtt://HOST:PORT[/SITE] or fleet:mqtts://HOST:PORT[/SITE]');
    }
    if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw new EndpointError(text, 'the broker URL must start mqtt:// or mqtts://');
    const site = url.pathname.replace(/^\//, '') || '+';
    return { kind, text: trimmed, broker: `${url.protocol}//${url.host}`, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883)), site };
  }
  if (kind === 'replay') {
    if (rest === '') throw new EndpointError(text, 'expected replay:FILE, e.g. replay:flight.tlog');
    return { kind, text: trimmed, path: rest };
  }
  if (kind === 'serial') {
    const sep = rest.lastIndexOf(':');
    if (sep <= 0) throw new EndpointError(text, 'expected serial:DEVICE:BAUD, e.g. serial:/dev/ttyUSB0:57600');
    const path = rest.slice(0, sep);
    const baud = rest.slice(sep + 1);
    if (!/^\d+$/.test(baud)) throw new EndpointError(text, `baud rate "${baud}" is not a number`);
    const baudRate = Number(baud);
    if (baudRate < 50 || baudRate > 12_000_000) throw new EndpointError(text, `baud rate ${baudRate} is out of range`);
    return { kind, text: trimmed, path, baudRate };
  }
  if ((NETWORK_KINDS as readonly string[]).includes(kind)) {
    return { kind: kind as (typeof NETWORK_KINDS)[number], text: trimmed, ...parseHostPort(text, rest, kind.endsWith('-listen')) };
  }
  throw new EndpointError(text, `unknown kind "${kind}"; expected one of: ${EXAMPLES}`);
}
