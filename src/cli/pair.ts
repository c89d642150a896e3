/**
 * `mavgate pair --role pilot NAME`: a token for a tablet (written to the config like
 * `token add`, with an expiry), and a QR code in the terminal of the link that opens the
 * dashboard with it, or Cockpit on mavgate's socket; with the local certificate
 * authority's fingerprint, for the tablet to check before it trusts it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import { defaultPolicy, type Role } from '../residency/policy.js';
import { bracketedHost, isLoopbackAddress } from '../residency/verdicts.js';
import { type CertificateInfo, describeCertificate } from '../server/certificates.js';
import { pairingLinks, qrForTerminal } from '../server/pairing.js';
import { tlsDirectoryOf } from '../server/server-tls.js';
import { DEFAULT_SERVER } from '../server/settings.js';
import { readCertificate } from '../server/tls-directory.js';
import { DEFAULT_SOURCES } from '../server/tokens.js';
import { InputError } from './errors.js';
import type { RunConfig } from './run-config.js';
import { addToken } from './token.js';

export interface PairRequest {
  configPath: string;
  config: RunConfig;
  name: string;
  role: Role;
  expiresMs: number;
  /** How the tablet reaches the server (`https://192.168.10.5:8443`); default from the config. */
  url?: string;
  /** Where Cockpit is served: the code then opens Cockpit on mavgate's socket. */
  cockpit?: string;
  now: number;
}

export interface Pairing {
  token: string;
  base: string;
  link: string;
  qr: string;
  expires: Date;
  authority: CertificateInfo | null;
  warnings: string[];
}

/**
 * The address a tablet uses: the first configured host name, else the listen address,
 * else (listening on every interface) this machine's first network address; https when
 * the server has TLS.
 */
export function pairingBase(config: RunConfig, tls: boolean, interfaces = networkInterfaces()): string {
  const listen = config.server.listen ?? DEFAULT_SERVER.listen!;
  const scheme = tls ? 'https' : 'http';
  let host = config.server.hosts[0];
  if (!host && listen.host !== '0.0.0.0' && listen.host !== '::') host = listen.host;
  host ??= Object.values(interfaces).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address ?? '127.0.0.1';
  return `${scheme}://${bracketedHost(host)}:${listen.port}`;
}

export function pairDevice(request: PairRequest): Pairing {
  const { config } = request;
  // The local authority, if there is one: `run --tls` uses it even when the config does not say tls.
  const caPath = join(tlsDirectoryOf(config.server.tls, config.policy ?? defaultPolicy()), 'ca.crt');
  const hasAuthority = config.server.tls?.source !== 'files' && existsSync(caPath);
  let base: string;
  try {
    base = new URL(request.url ?? pairingBase(config, config.server.tls !== null || hasAuthority)).origin;
  } catch {
    throw new InputError(`--url: "${request.url}" is not a URL (e.g. https://192.168.10.5:8443)`);
  }
  const warnings: string[] = [];
  const host = new URL(base).hostname.replace(/^\[|\]$/g, '');
  if (isLoopbackAddress(host) || host === 'localhost') warnings.push(`${base} is this machine only: a tablet cannot reach it; serve the dashboard on the team's network over TLS (mavgate run --tls --listen ADDRESS:PORT), or give --url`);
  else if (base.startsWith('http:')) warnings.push(`${base} is plain HTTP: the token crosses the network in the clear; serve it over TLS (mavgate run --tls)`);
  if (request.cockpit && !config.server.origins.includes(new URL(request.cockpit).origin)) {
    warnings.push(`Cockpit at ${new URL(request.cockpit).origin} must be an allowed origin: add it under server.origins (or --origin)`);
  }
  const authority: CertificateInfo | null = hasAuthority ? describeCertificate(readCertificate(caPath)) : null;
  if (!hasAuthority && base.startsWith('https:') && config.server.tls?.source !== 'files') {
    warnings.push(`no local certificate authority yet (${caPath}): mavgate tls init, or the first mavgate run --tls, makes it`);
  }
  const expires = request.now + request.expiresMs;
  const token = addToken(request.configPath, { name: request.name, role: request.role, sources: DEFAULT_SOURCES, expires });
  const links = pairingLinks(base, token, request.cockpit);
  const link = links.cockpit ?? links.dashboard;
  return { token, base, link, qr: qrForTerminal(link), expires: new Date(expires), authority, warnings };
}

export function describePairing(p: Pairing, request: PairRequest): string {
  const lines = [
    p.qr,
    `"${request.name}" (${request.role}) until ${p.expires.toISOString()}: scan to open ${request.cockpit ? 'Cockpit on mavgate\'s socket' : 'the dashboard'}`,
    `  ${p.link}`,
  ];
  if (p.authority) {
    lines.push(
      `first, on the tablet, trust mavgate's certificate authority: open ${p.base}/mavgate-ca.crt, install it,`,
      `  and check its SHA-256 fingerprint: ${p.authority.fingerprint}`,
    );
  }
  lines.push(`the token is in ${request.configPath}; a running gateway accepts it within seconds (or on SIGHUP); mavgate token remove ${request.name} revokes it`);
  for (const w of p.warnings) lines.push(`warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
