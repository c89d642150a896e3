/**
 * Client tokens. A token is 32 random bytes (base64url); the config keeps only its
 * SHA-256, so a leaked config does not let anyone in. Tokens are long random secrets, not
 * passwords: a fast hash is enough, and comparison is constant-time. A token may expire;
 * the set in force can be replaced at run time (SIGHUP), and whoever connected with a
 * token that expired, was removed, rotated or changed is told why by `check`.
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
  /** When it stops being accepted (ms since the epoch); absent: never. */
  expires?: number;
}

/** Who is on the other end of a connection: a token's holder, or an anonymous observer. */
export interface Principal {
  name: string;
  role: Role;
  sources: SourceRule[];
  anonymous: boolean;
  /**
   * The SHA-256 of the token the client presented: a rotated token ends its sessions.
   * Absent for ground-station endpoints, which are bound to a token's role by name.
   */
  token?: string;
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

/** What replacing the tokens in force changed, by token name. */
export interface TokenChanges {
  added: string[];
  removed: string[];
  rotated: string[];
  /** Role, source ids or expiry changed. */
  changed: string[];
}

export type TokenLookup = { entry: TokenEntry; expired: false } | { entry: TokenEntry; expired: true } | undefined;

export class TokenStore {
  private entries: { entry: TokenEntry; digest: Buffer }[] = [];

  constructor(entries: readonly TokenEntry[], private readonly now: () => number = Date.now) {
    this.replace(entries);
  }

  get size(): number {
    return this.entries.length;
  }

  get all(): readonly TokenEntry[] {
    return this.entries.map((e) => e.entry);
  }

  byName(name: string): TokenEntry | undefined {
    return this.entries.find((e) => e.entry.name === name)?.entry;
  }

  /** The entry whose hash matches `token` (comparing every entry in constant time), and whether it has expired. */
  find(token: string): TokenLookup {
    const digest = createHash('sha256').update(token).digest();
    let found: TokenEntry | undefined;
    for (const e of this.entries) if (e.digest.length === digest.length && timingSafeEqual(e.digest, digest)) found = e.entry;
    return found ? { entry: found, expired: isExpired(found, this.now()) } : undefined;
  }

  /** Puts a new set of tokens in force (a reload), and says what changed. */
  replace(entries: readonly TokenEntry[]): TokenChanges {
    const before = new Map(this.entries.map((e) => [e.entry.name, e.entry]));
    this.entries = entries.map((entry) => ({ entry, digest: Buffer.from(entry.sha256, 'hex') }));
    const changes: TokenChanges = { added: [], removed: [], rotated: [], changed: [] };
    for (const entry of entries) {
      const old = before.get(entry.name);
      if (!old) changes.added.push(entry.name);
      else if (old.sha256 !== entry.sha256) changes.rotated.push(entry.name);
      else if (old.role !== entry.role || old.expires !== entry.expires || JSON.stringify(old.sources) !== JSON.stringify(entry.sources)) changes.changed.push(entry.name);
      before.delete(entry.name);
    }
    changes.removed.push(...before.keys());
    return changes;
  }

  /** Adds one token (a pairing made on the dashboard). */
  add(entry: TokenEntry): void {
    if (this.byName(entry.name)) throw new Error(`a token named "${entry.name}" exists already`);
    this.entries.push({ entry, digest: Buffer.from(entry.sha256, 'hex') });
  }

  /**
   * Why a connected client may no longer stay, or null while it may: its token was
   * removed, rotated, changed or has expired. Anonymous observers stay only while no
   * token is configured (as they are admitted).
   */
  check(principal: Principal): string | null {
    if (principal.anonymous) return this.entries.length === 0 ? null : 'tokens are configured now: clients need one';
    const entry = this.byName(principal.name);
    if (!entry) return `token "${principal.name}" was removed`;
    if (principal.token !== undefined && principal.token !== entry.sha256) return `token "${principal.name}" was rotated`;
    if (isExpired(entry, this.now())) return `token "${principal.name}" expired at ${new Date(entry.expires!).toISOString()}`;
    if (entry.role !== principal.role || JSON.stringify(entry.sources) !== JSON.stringify(principal.sources)) return `token "${principal.name}" changed (now ${entry.role})`;
    return null;
  }

  /** The next moment a token in force expires, or null. */
  nextExpiry(): number | null {
    const now = this.now();
    let next: number | null = null;
    for (const { entry } of this.entries) if (entry.expires !== undefined && entry.expires > now && (next === null || entry.expires < next)) next = entry.expires;
    return next;
  }
}

function isExpired(entry: TokenEntry, now: number): boolean {
  return entry.expires !== undefined && entry.expires <= now;
}

/** `12h`, `30m`, `7d`, `90s`: a token's lifetime, for `--expires` and pairing. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!(ms >= 1000) || ms > 3650 * 86_400_000) throw new Error(`"${text}" is not a duration: a number and a unit, e.g. 90s, 30m, 12h or 7d (at most 3650d)`);
  return ms;
}

/** Who holds `entry`; with `presented`, the client showed the token itself (a rotation then ends its session). */
export function principalOf(entry: TokenEntry, presented = false): Principal {
  return { name: entry.name, role: entry.role, sources: entry.sources, anonymous: false, ...(presented ? { token: entry.sha256 } : {}) };
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
