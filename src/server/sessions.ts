/**
 * Dashboard sessions: a token given to the page once (`/?token=…`, from a pairing QR
 * code) becomes a cookie, and the page is reloaded without the token, so that it leaves
 * the URL bar and the history. The cookie is HttpOnly (no script reads it), SameSite=Strict
 * (no other site's page sends it) and, over TLS, Secure. It names the token and is signed
 * with a key kept beside the TLS files, so it survives a restart; it ends with its token:
 * when the token expires, is removed or rotated.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Principal, principalOf, type TokenEntry, type TokenStore } from './tokens.js';

export const SESSION_COOKIE = 'mavgate_session';
/** A session lasts as long as its token, and at most this long. */
export const SESSION_MAX_MS = 30 * 86_400_000;
/** Enough of the token's hash to tell a rotated token from the one the session was made with. */
const HASH_PREFIX = 32;

export type SessionLookup = { ok: true; principal: Principal } | { ok: false; reason: string } | null;

export class DashboardSessions {
  constructor(
    private readonly key: Buffer,
    private readonly tokens: TokenStore,
    /** Over TLS, the cookie is sent only over TLS. */
    private readonly secure: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  /** The `Set-Cookie` value starting a session for the holder of `entry`. */
  issue(entry: TokenEntry): string {
    const expires = Math.min(entry.expires ?? Infinity, this.now() + SESSION_MAX_MS);
    const payload = `${Buffer.from(entry.name).toString('base64url')}.${entry.sha256.slice(0, HASH_PREFIX)}.${expires}`;
    return this.cookie(`${payload}.${this.sign(payload)}`, Math.max(0, Math.floor((expires - this.now()) / 1000)));
  }

  /** The `Set-Cookie` value that ends the session in the browser. */
  clear(): string {
    return this.cookie('', 0);
  }

  private cookie(value: string, maxAge: number): string {
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${this.secure ? '; Secure' : ''}`;
  }

  /** The client a request's session cookie names; null without one; a reason when it is no longer valid. */
  lookup(cookieHeader: string | undefined): SessionLookup {
    const value = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!value) return null;
    const parts = value.split('.');
    if (parts.length !== 4) return { ok: false, reason: 'not a mavgate session cookie' };
    const [name64, prefix, expiresText, mac] = parts as [string, string, string, string];
    const expected = Buffer.from(this.sign(`${name64}.${prefix}.${expiresText}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'session cookie not signed by this server (sign in again with the token)' };
    const name = Buffer.from(name64, 'base64url').toString();
    if (Number(expiresText) <= this.now()) return { ok: false, reason: `the session of "${name}" has ended; sign in again with the token` };
    const found = this.tokens.byName(name);
    if (!found || !found.sha256.startsWith(prefix)) return { ok: false, reason: `the session's token "${name}" was removed or rotated` };
    const principal = principalOf(found, true);
    const invalid = this.tokens.check(principal);
    return invalid ? { ok: false, reason: invalid } : { ok: true, principal };
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
