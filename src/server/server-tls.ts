/**
 * TLS for the client server while it runs: the certificate it serves (from the local
 * authority in an approved directory, or files the agency provides), renewed or reloaded
 * before it expires, each change logged and audited; and the key that signs dashboard
 * sessions.
 */
import { networkInterfaces } from 'node:os';
import type { SecureContextOptions } from 'node:tls';
import type { DirectoryGrant } from '../residency/gate.js';
import { dataDirectory, type ResidencyPolicy } from '../residency/policy.js';
import { type CertificateInfo, describeCertificate } from './certificates.js';
import type { TlsSettings } from './settings.js';
import { readCertificateFiles, TlsDirectory } from './tls-directory.js';

/** How often the certificate is checked (start-up, SIGHUP and this). */
const CHECK_INTERVAL_MS = 6 * 3_600_000;
const DAY_MS = 86_400_000;

/** Where the TLS files are: the configured directory, or `tls/` in the policy's data directory. */
export function tlsDirectoryOf(settings: TlsSettings | null, policy: ResidencyPolicy): string {
  return settings?.directory ?? dataDirectory(policy, 'tls');
}

export interface TlsHooks {
  grantDirectory(entry: string, path: string): DirectoryGrant;
  policy: ResidencyPolicy;
  record(event: string, details: Record<string, unknown>): void;
  log(level: 'info' | 'warn', message: string): void;
  now?: () => Date;
}

/**
 * The names and addresses clients will use to reach a server listening on `host`: this
 * machine's own (localhost, loopback), the configured host names, and the listen address,
 * or every interface's when it listens on all of them.
 */
export function serverNames(host: string, hosts: readonly string[], interfaces = networkInterfaces()): string[] {
  const names = ['localhost', ...hosts, '127.0.0.1', '::1'];
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(interfaces)) {
      for (const a of list ?? []) if (!a.internal && (host === '::' || a.family === 'IPv4') && !a.address.startsWith('fe80:')) names.push(a.address);
    }
  } else {
    names.push(host);
  }
  return [...new Set(names)];
}

export class ServerTls {
  private timer: NodeJS.Timeout | null = null;
  private served: { key: string; cert: string };
  /** Called with the new key and certificate when they change, to serve them from the next handshake on. */
  onChange: (options: SecureContextOptions) => void = () => {};

  private constructor(
    private readonly settings: TlsSettings,
    private readonly names: readonly string[],
    private readonly directory: TlsDirectory,
    private readonly hooks: TlsHooks,
    /** The local authority's certificate (PEM), for tablets to install; null with an agency's certificate. */
    readonly authorityPem: string | null,
    served: { key: string; cert: string },
    readonly sessionKey: Buffer,
  ) {
    this.served = served;
  }

  /** Opens the TLS material (creating the local authority and certificate if needed), audited. */
  static async open(settings: TlsSettings, names: readonly string[], hooks: TlsHooks): Promise<ServerTls> {
    const directory = new TlsDirectory(hooks.grantDirectory('server.tls.directory', tlsDirectoryOf(settings, hooks.policy)));
    const now = (hooks.now ?? (() => new Date()))();
    let authorityPem: string | null = null;
    let served: { key: string; cert: string };
    if (settings.source === 'local') {
      const issued = await directory.ensure(names, now, settings.renewDays * DAY_MS);
      authorityPem = issued.ca.certPem;
      served = withAuthority(issued.server, authorityPem);
      const ca = describeCertificate(authorityPem);
      if (issued.createdAuthority) {
        hooks.record('tls_authority_created', { directory: directory.path, fingerprint: ca.fingerprint, not_after: ca.notAfter.toISOString() });
        hooks.log('info', `TLS: created a local certificate authority in ${directory.path}; tablets trust it once (SHA-256 ${ca.fingerprint})`);
      }
      if (issued.issued) ServerTls.issued(hooks, served.cert, `issued because ${issued.issued}`);
    } else {
      served = readCertificateFiles(settings);
    }
    const tls = new ServerTls(settings, names, directory, hooks, authorityPem, served, directory.sessionKey());
    const info = tls.certificate;
    hooks.record('tls_in_force', {
      source: settings.source, fingerprint: info.fingerprint, serial: info.serial, not_after: info.notAfter.toISOString(), names: info.names,
      ...(authorityPem ? { authority_fingerprint: describeCertificate(authorityPem).fingerprint } : { cert_file: (settings as { certFile: string }).certFile }),
    });
    tls.warnIfExpiring(now);
    return tls;
  }

  private static issued(hooks: TlsHooks, certPem: string, why: string): void {
    const info = describeCertificate(certPem);
    hooks.record('tls_certificate_issued', { serial: info.serial, fingerprint: info.fingerprint, not_after: info.notAfter.toISOString(), names: info.names, why });
    hooks.log('info', `TLS: server certificate ${why}; valid until ${info.notAfter.toISOString()} for ${info.names.join(', ')}`);
  }

  /** The options node:https takes: key, certificate and its chain. */
  get options(): SecureContextOptions {
    return { key: this.served.key, cert: this.served.cert };
  }

  get certificate(): CertificateInfo {
    return describeCertificate(this.served.cert);
  }

  /** Checks the certificate every few hours from now on. */
  start(): void {
    this.timer = setInterval(() => void this.check().catch((err: Error) => this.hooks.log('warn', `TLS: certificate check failed: ${err.message}`)), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Renews the local authority's certificate when it is due (expiry near, a name
   * missing), or reloads the agency's files when they changed; warns while an agency
   * certificate is about to expire. Returns what it did.
   */
  async check(): Promise<'renewed' | 'reloaded' | 'unchanged'> {
    const now = (this.hooks.now ?? (() => new Date()))();
    let outcome: 'renewed' | 'reloaded' | 'unchanged' = 'unchanged';
    if (this.settings.source === 'local') {
      const issued = await this.directory.ensure(this.names, now, this.settings.renewDays * DAY_MS);
      if (issued.issued) {
        this.served = withAuthority(issued.server, issued.ca.certPem);
        ServerTls.issued(this.hooks, this.served.cert, `renewed because ${issued.issued}`);
        outcome = 'renewed';
      }
    } else {
      const files = readCertificateFiles(this.settings);
      if (files.cert !== this.served.cert || files.key !== this.served.key) {
        this.served = files;
        const info = this.certificate;
        this.hooks.record('tls_certificate_reloaded', { cert_file: this.settings.certFile, serial: info.serial, fingerprint: info.fingerprint, not_after: info.notAfter.toISOString() });
        this.hooks.log('info', `TLS: ${this.settings.certFile} changed: serving it from now on (valid until ${info.notAfter.toISOString()})`);
        outcome = 'reloaded';
      }
      this.warnIfExpiring(now);
    }
    if (outcome !== 'unchanged') this.onChange(this.options);
    return outcome;
  }

  private warnIfExpiring(now: Date): void {
    if (this.settings.source !== 'files') return;
    const info = this.certificate;
    const days = Math.floor((info.notAfter.getTime() - now.getTime()) / DAY_MS);
    if (days > this.settings.renewDays) return;
    this.hooks.record('tls_certificate_expiring', { cert_file: this.settings.certFile, not_after: info.notAfter.toISOString(), days_left: days });
    this.hooks.log('warn', `TLS: ${this.settings.certFile} expires ${info.notAfter.toISOString()} (${days} days): replace the files (a SIGHUP or the next check serves the new ones)`);
  }
}

/**
 * The server certificate followed by its authority: a client that pins the authority's key
 * (Chromium's --ignore-certificate-errors-spki-list, a tablet's app) finds it in the chain.
 */
function withAuthority(server: { certPem: string; keyPem: string }, authorityPem: string): { key: string; cert: string } {
  return { key: server.keyPem, cert: `${server.certPem.trimEnd()}\n${authorityPem}` };
}
