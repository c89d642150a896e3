/**
 * Who may connect, decided before a request is served or a socket upgraded:
 * - the Host header must name this server by IP literal, `localhost` or a configured
 *   name (a DNS-rebinding page reaches us under its own name, and is refused);
 * - a browser's Origin must be this server's own or an allowed one (a web page open in
 *   the operator's browser must not drive the vehicle through the operator's loopback);
 * - the client's token (expired ones refused), or the dashboard session it became (see
 *   sessions.ts); with no tokens configured, loopback only, as an observer;
 * - the client's network and role must be approved by the residency policy.
 */
import type { IncomingMessage } from 'node:http';
import type { EgressGate } from '../residency/gate.js';
import { isIpLiteral, isLoopbackAddress } from '../residency/verdicts.js';
import type { DashboardSessions } from './sessions.js';
import { ANONYMOUS, type Principal, principalOf, type TokenEntry, tokenOf, type TokenStore } from './tokens.js';

export interface AdmissionSettings {
  tokens: TokenStore;
  /** Extra origins allowed to open WebSockets and call the API from a browser (`http://cockpit.local`). */
  origins: ReadonlySet<string>;
  /** Host names (besides IP literals and localhost) this server answers to. */
  hosts: ReadonlySet<string>;
  gate: () => EgressGate;
  /** Dashboard sessions (cookies); null: none are made. */
  sessions: DashboardSessions | null;
}

export type Admission =
  /** `presented`: the token the request carried itself (not a session), which a page request turns into a session. */
  | { ok: true; principal: Principal; origin: string | undefined; presented?: TokenEntry }
  | { ok: false; status: 400 | 401 | 403; reason: string; refused: AdmissionRefusal };

/** What a refusal was about: what the refused client has to change. */
export type AdmissionRefusal = 'host' | 'origin' | 'token' | 'policy' | 'path';

/** The host name of a Host header (`[::1]:8088` → `::1`). */
function hostName(host: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1]!;
  return host.replace(/:\d+$/, '');
}

/** Whether `origin` may talk to the server reached as `host`. */
export function originAllowed(origin: string | undefined, host: string, settings: AdmissionSettings): boolean {
  if (origin === undefined) return true;
  if (settings.origins.has(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function admit(req: IncomingMessage, url: URL, settings: AdmissionSettings): Admission {
  const host = req.headers.host ?? '';
  const name = hostName(host);
  if (!host || !(isIpLiteral(name) || name === 'localhost' || settings.hosts.has(name))) {
    return { ok: false, status: 403, refused: 'host', reason: `Host "${host}" is not this server's: use its IP address or localhost, or add the name under server.hosts` };
  }
  const origin = req.headers.origin;
  if (!originAllowed(origin, host, settings)) {
    return { ok: false, status: 403, refused: 'origin', reason: `Origin ${origin} is not allowed; add it under server.origins` };
  }
  const address = req.socket.remoteAddress ?? '';
  const token = tokenOf(req.headers, url);
  let principal: Principal;
  let presented: TokenEntry | undefined;
  const session = token === undefined ? settings.sessions?.lookup(req.headers.cookie) ?? null : null;
  if (token !== undefined) {
    const found = settings.tokens.find(token);
    if (!found) return { ok: false, status: 401, refused: 'token', reason: 'unknown token' };
    if (found.expired) return { ok: false, status: 401, refused: 'token', reason: `token "${found.entry.name}" expired at ${new Date(found.entry.expires!).toISOString()}` };
    presented = found.entry;
    principal = principalOf(found.entry, true);
  } else if (session) {
    if (!session.ok) return { ok: false, status: 401, refused: 'token', reason: session.reason };
    principal = session.principal;
  } else if (settings.tokens.size === 0 && isLoopbackAddress(address)) {
    principal = ANONYMOUS;
  } else {
    return { ok: false, status: 401, refused: 'token', reason: settings.tokens.size === 0 ? 'clients from other machines need a token (mavgate token add)' : 'a token is required: Authorization: Bearer TOKEN, ?token=TOKEN, or the WebSocket subprotocol mavgate.token.TOKEN' };
  }
  const verdict = settings.gate().admitClient(`client ${principal.name} from ${address}`, address, principal.role);
  if (!verdict.approved) return { ok: false, status: 403, refused: 'policy', reason: `residency policy refuses the client: ${verdict.reason} (rule: ${verdict.rule})` };
  return { ok: true, principal, origin, ...(presented ? { presented } : {}) };
}
