/**
 * Pairing a tablet in one step: a new token, and a QR code of the link that opens the
 * dashboard with it (the server turns it into a session and drops it from the URL), or
 * Cockpit pointed at mavgate's WebSocket with it. The same links and codes serve the
 * terminal (`mavgate pair`) and an admin's dashboard (`POST /v1/pair`).
 */
import type { IncomingMessage } from 'node:http';
import { encode, renderSVG, renderUnicodeCompact } from 'uqr';
import { ROLES, type Role } from '../residency/policy.js';
import { BodyError, readBody, type Reply } from './rest-api.js';
import { generateToken, hashToken, parseDuration, type Principal, type SourceRule, type TokenEntry, type TokenStore, DEFAULT_SOURCES } from './tokens.js';

/** The links a paired device opens. `base`: how it reaches the server (`https://192.168.10.5:8443`). */
export function pairingLinks(base: string, token: string, cockpit?: string): { dashboard: string; cockpit?: string } {
  const dashboard = new URL('/', base);
  dashboard.searchParams.set('token', token);
  if (!cockpit) return { dashboard: dashboard.href };
  // Cockpit reads its socket from ?mainConnectionURI= (it cannot send headers, so the token rides in the socket's URL).
  const socket = new URL('/mavlink2rest/ws/mavlink', base.replace(/^http/, 'ws'));
  socket.searchParams.set('token', token);
  const app = new URL(cockpit);
  app.searchParams.set('mainConnectionURI', socket.href);
  return { dashboard: dashboard.href, cockpit: app.href };
}

/** Error correction M: a code that still reads with a smudge or a glare on a screen. */
const QR = { ecc: 'M' } as const;

/** The QR code for a terminal: two rows of modules per line, light modules as blocks (for a dark terminal). */
export function qrForTerminal(text: string): string {
  return renderUnicodeCompact(text, { ...QR, border: 2 });
}

/** The QR code as an SVG image (the dashboard shows it), with the quiet zone the standard asks for. */
export function qrSvg(text: string): string {
  return renderSVG(text, { ...QR, border: 4, pixelSize: 8 });
}

/** The QR code's modules (true: dark), for tests and other renderers. */
export function qrMatrix(text: string): boolean[][] {
  return encode(text, { ...QR, border: 0 }).data;
}

export interface PairingContext {
  tokens: TokenStore;
  /** Keeps the new token (in the config file); null: it lasts as long as this run. */
  persist: ((entry: TokenEntry) => void) | null;
  /** Told of every token paired (after it is kept and in force). */
  added?: (entry: TokenEntry) => void;
  /** The local certificate authority the tablet must trust (PEM); null without one. */
  authorityPem: string | null;
  /** Cockpit's address, for a second link that opens it on mavgate's socket. */
  cockpit?: string;
  record(event: string, details: Record<string, unknown>): void;
  log(level: 'info' | 'warn', message: string): void;
  now?: () => number;
}

export const DEFAULT_PAIRING_EXPIRY = '12h';

/** What a device is paired as: a token's name, role, lifetime and source ids. */
export interface PairingRequest {
  name: string;
  role: Role;
  expiresMs: number;
  sources?: SourceRule[];
}

/** Makes the token and its entry (the token itself is shown once, never stored). */
export function newPairing(request: PairingRequest, now: number): { token: string; entry: TokenEntry } {
  const token = generateToken();
  return { token, entry: { name: request.name, role: request.role, sha256: hashToken(token), sources: request.sources ?? DEFAULT_SOURCES, expires: now + request.expiresMs } };
}

/** `GET /v1/pair` (what an admin may pair, and the authority to trust) and `POST /v1/pair` (a new pairing). */
export async function handlePairing(method: string, req: IncomingMessage, base: string, principal: Principal, context: PairingContext | null): Promise<Reply> {
  if (principal.role !== 'admin') return { status: 403, body: { error: 'pairing a device needs an admin token' } };
  if (!context) return { status: 404, body: { error: 'pairing is not available on this server' } };
  // Only a server with TLS has an authority; certificates are loaded for it alone.
  const authority = context.authorityPem ? (await import('./certificates.js')).describeCertificate(context.authorityPem) : null;
  const trust = authority ? { authority_fingerprint: authority.fingerprint, authority_url: new URL('/mavgate-ca.crt', base).href } : {};
  if (method === 'GET') return { status: 200, body: { roles: ROLES, default_expiry: DEFAULT_PAIRING_EXPIRY, persistent: context.persist !== null, ...trust } };
  let body: { name?: unknown; role?: unknown; expires?: unknown };
  try {
    body = ((await readBody(req)) ?? {}) as typeof body;
  } catch (err) {
    if (err instanceof BodyError) return { status: 400, body: { error: err.message } };
    throw err;
  }
  const name = typeof body.name === 'string' ? body.name.trim() : '';
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) return { status: 400, body: { error: 'name: 1 to 64 letters, digits, dot, dash, underscore or @' } };
  if (!(ROLES as readonly unknown[]).includes(body.role)) return { status: 400, body: { error: `role: one of ${ROLES.join(', ')}` } };
  let expiresMs: number;
  try {
    expiresMs = parseDuration(typeof body.expires === 'string' ? body.expires : DEFAULT_PAIRING_EXPIRY);
  } catch (err) {
    return { status: 400, body: { error: `expires: ${(err as Error).message}` } };
  }
  if (context.tokens.byName(name)) return { status: 409, body: { error: `a token named "${name}" exists already: choose another name, or rotate it with mavgate token rotate` } };
  const now = (context.now ?? Date.now)();
  const { token, entry } = newPairing({ name, role: body.role as Role, expiresMs }, now);
  try {
    context.persist?.(entry);
  } catch (err) {
    return { status: 500, body: { error: `the token could not be kept: ${(err as Error).message}` } };
  }
  context.tokens.add(entry);
  context.added?.(entry);
  context.record('token_added', { name, role: entry.role, expires: new Date(entry.expires!).toISOString(), by: principal.name, via: 'dashboard pairing', kept: context.persist ? 'config' : 'this run only' });
  context.log('info', `pairing: ${principal.name} paired "${name}" (${entry.role}) until ${new Date(entry.expires!).toISOString()}`);
  const links = pairingLinks(base, token, context.cockpit);
  return {
    status: 201,
    body: {
      name, role: entry.role, expires: new Date(entry.expires!).toISOString(), url: links.dashboard, qr_svg: qrSvg(links.dashboard),
      ...(links.cockpit ? { cockpit_url: links.cockpit, cockpit_qr_svg: qrSvg(links.cockpit) } : {}), ...trust,
    },
  };
}
