/**
 * The gate's decisions as pure functions: given the policy and an address (or a real
 * path), approved or refused, and by which rule. They open nothing, so they can be
 * tested on any address, public or private, without sending a byte.
 */
import { sep } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { ResidencyPolicy, Role } from './policy.js';

export type Verdict =
  | { approved: true; rule: string }
  | { approved: false; rule: string; reason: string };

/** An IP literal (as the resolver would return it), not a host name. */
export function isIpLiteral(host: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host);
}

/** A host as an endpoint or a URL writes it before `:PORT`: an IPv6 address in brackets (`[::1]`). */
export function bracketedHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A loopback address (IPv4-mapped IPv6 judged as IPv4): this machine itself. */
export function isLoopbackAddress(address: string): boolean {
  return parse(address)?.range() === 'loopback';
}

function parse(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    const a = ipaddr.parse(address);
    // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it is.
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
  } catch {
    return null;
  }
}

function inRange(a: ipaddr.IPv4 | ipaddr.IPv6, range: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  return a.kind() === range[0].kind() && a.match(range);
}

/** True when the IP address `address` lies in `range` (IPv4-mapped IPv6 judged as IPv4). */
export function addressInRange(address: string, range: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  const a = parse(address);
  return a !== null && inRange(a, range);
}

/** May telemetry be sent to `address:port`? `address` must be an IP address (host names are resolved first). */
export function judgeDestination(policy: ResidencyPolicy, address: string, port: number): Verdict {
  const a = parse(address);
  if (!a) return { approved: false, rule: 'addresses', reason: `"${address}" is not an IP address` };
  if (a.range() === 'unspecified') return { approved: false, rule: 'wildcard', reason: `${address} is a wildcard, not a destination` };
  if (a.range() === 'broadcast' || a.range() === 'multicast') {
    const explicit = policy.networks.find((n) => inRange(a, n.range) && n.range[1] === (a.kind() === 'ipv4' ? 32 : 128));
    if (!explicit) return { approved: false, rule: 'broadcast', reason: `${address} is a ${a.range()} address: it reaches every host, approve it explicitly as a /32` };
  }
  for (const n of policy.networks) {
    if (!inRange(a, n.range)) continue;
    if (n.ports.length > 0 && !n.ports.includes(port)) continue;
    return { approved: true, rule: `${n.key} (${n.cidr}${n.ports.length ? ` ports ${n.ports.join(',')}` : ''})` };
  }
  const near = policy.networks.find((n) => inRange(a, n.range));
  if (near) return { approved: false, rule: near.key, reason: `port ${port} is not among the ports ${near.cidr} is approved for (${near.ports.join(', ')})` };
  return { approved: false, rule: 'approved_sinks.networks', reason: `${address} (${a.range()}) is in no approved network` };
}

/** May mavgate listen on `address`? Wildcards only when the policy lists them literally. */
export function judgeListener(policy: ResidencyPolicy, address: string): Verdict {
  const a = parse(address);
  if (!a) return { approved: false, rule: 'listen', reason: `"${address}" is not an IP address` };
  if (a.range() === 'unspecified') {
    const entry = policy.listen.find((l) => l.wildcard && l.cidr === address);
    return entry
      ? { approved: true, rule: `${entry.key} (${entry.cidr}: every interface)` }
      : { approved: false, rule: 'listen', reason: `${address} listens on every interface; list "${address}" under listen to allow it` };
  }
  const entry = policy.listen.find((l) => l.range && inRange(a, l.range));
  return entry ? { approved: true, rule: `${entry.key} (${entry.cidr})` } : { approved: false, rule: 'listen', reason: `${address} is in no approved listen range` };
}

/** May a client connect from `address`, and with which roles? (The server, issue 5, asks at each connection.) */
export function judgeClient(policy: ResidencyPolicy, address: string): Verdict & { roles: Role[] } {
  const a = parse(address);
  const network = a ? policy.clientNetworks.find((n) => inRange(a, n.range)) : undefined;
  return network
    ? { approved: true, rule: `${network.key} (${network.cidr})`, roles: [...network.roles] }
    : { approved: false, rule: 'client_networks', reason: `${address} is in no approved client network`, roles: [] };
}

/** May telemetry files be written in `realPath` (symlinks and `..` already resolved)? */
export function judgeDirectory(policy: ResidencyPolicy, realPath: string, approvedRealPaths: Map<string, string>): Verdict {
  for (const d of policy.directories) {
    const root = approvedRealPaths.get(d.key) ?? d.path;
    if (realPath === root || realPath.startsWith(root + sep)) return { approved: true, rule: `${d.key} (${d.path})` };
  }
  return { approved: false, rule: 'approved_sinks.directories', reason: `${realPath} is outside every approved directory` };
}

/**
 * Why a message broker at `address` may not be reached over `protocol`, or null when it
 * may: without TLS, only on the machine itself (telemetry never crosses a network in the
 * clear, and the broker's identity is pinned by its CA).
 */
export function brokerTransportRefusal(protocol: string, address: string): string | null {
  if (protocol === 'mqtts:') return null;
  if (isLoopbackAddress(address)) return null;
  return `plain ${protocol}// is allowed to loopback only (${address} is not); use mqtts:// with the broker's CA pinned and a client certificate`;
}

/**
 * May the client server (dashboard, REST, WebSockets) listen on `address` with or
 * without TLS? Its clients present bearer tokens: beyond loopback (a wildcard included)
 * they would cross the network in the clear, so plain HTTP is refused there unless the
 * policy says `server.plaintext_lan: true`. Ground-station UDP/TCP endpoints are not
 * judged here: MAVLink has no TLS, and signing covers them.
 */
export function judgeClientServer(policy: ResidencyPolicy, address: string, tls: boolean): Verdict {
  if (tls) return { approved: true, rule: 'server.tls' };
  if (isLoopbackAddress(address)) return { approved: true, rule: 'loopback (plain HTTP on this machine only)' };
  if (policy.plaintextLan) return { approved: true, rule: 'server.plaintext_lan' };
  return {
    approved: false,
    rule: 'server.tls',
    reason: `a client server on ${address} is reachable beyond this machine, and plain HTTP would carry clients' tokens in the clear; serve it over TLS (mavgate run --tls, or server.tls in the config), or allow plain HTTP on the network with server: { plaintext_lan: true } in the policy`,
  };
}
