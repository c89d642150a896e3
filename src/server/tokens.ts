/**
 * Client tokens. A token is 32 random bytes (base64url); the config keeps only its
 * SHA-256, so a leaked config does not let anyone in. Tokens are long random secrets, not
 * passwords: a fast hash is enough, and comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '../residency/policy.js';

/** The source ids a client may send with: a system id and, optionally, only some components. */
export interface SourceRule {
  system: number;
  /** Empty: any component. */
  components: number[];
}

export interface TokenEntry {
  name: string;
  role: Role;
  /** Hex SHA-256 of the token. */
  sha256: string;
  sources: SourceRule[];
}

/** Who is on the other end of a connection: a token's holder, or an anonymous observer. */
export interface Principal {
  name: string;
  role: Role;
  sources: SourceRule[];
  anonymous: boolean;
}

/** QGroundControl sends as 255/190, Cockpit as 255/240, MAVProxy as 255/230: GCS system 255, any component. */
export const DEFAULT_SOURCES: SourceRule[] = [{ system: 255, components: [] }];

/** Prefix of the token in a `Sec-WebSocket-Protocol` list (browsers cannot set Authorization on a WebSocket). */
export const TOKEN_PROTOCOL_PREFIX = 'mavgate.token.';
/** The subprotocol the server selects, so that the token is never echoed back. */
export const SUBPROTOCOL = 'mavgate';

export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TokenStore {
  private readonly entries: { entry: TokenEntry; digest: Buffer }[];

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, 'hex') }));
  }

  get size(): number {
    return this.entries.length;
  }

  byName(name: string): TokenEntry | undefined {
    return this.entries.find((e) => e.entry.name === name)?.entry;
  }

  /** The entry whose hash matches `token`, comparing every entry in constant time. */
  find(token: string): TokenEntry | undefined {
    const digest = createHash('sha256').update(token).digest();
    let found: TokenEntry | undefined;
    for (const e of this.entries) if (e.digest.length === digest.length && timingSafeEqual(e.digest, digest)) found = e.entry;
    return found;
  }
}

export function principalOf(entry: TokenEntry): Principal {
  return { name: entry.name, role: entry.role, sources: entry.sources, anonymous: false };
}

export const ANONYMOUS: Principal = { name: 'anonymous', role: 'observer', sources: [], anonymous: true };

/** The token a request carries: `Authorization: Bearer`, `?token=`, or a `mavgate.token.…` WebSocket subprotocol. */
export function tokenOf(headers: Record<string, string | string[] | undefined>, url: URL): string | undefined {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match) return match[1];
  }
  const query = url.searchParams.get('token');
  if (query) return query;
  const protocols = headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    const offered = protocols.split(',').map((p) => p.trim()).find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX));
    if (offered) return offered.slice(TOKEN_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

export function sourceAllowed(sources: readonly SourceRule[], sysid: number, compid: number): boolean {
  return sources.some((s) => s.system === sysid && (s.components.length === 0 || s.components.includes(compid)));
}
