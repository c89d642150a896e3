/**
 * `mavgate tls init`: the local certificate authority and a server certificate for the
 * names and addresses clients will use (`server.hosts`, the listen address, `--host`), in
 * a directory the residency policy approves. An existing authority is kept (tablets that
 * trust it keep working); the server certificate is issued again when it is missing, due
 * for renewal, or does not cover a name.
 */
import { EgressGate } from '../residency/gate.js';
import { defaultPolicy } from '../residency/policy.js';
import { type CertificateInfo, describeCertificate } from '../server/certificates.js';
import { serverNames, tlsDirectoryOf } from '../server/server-tls.js';
import { DEFAULT_RENEW_DAYS, DEFAULT_SERVER } from '../server/settings.js';
import { TlsDirectory, TlsFileError } from '../server/tls-directory.js';
import { InputError } from './errors.js';
import type { RunConfig } from './run-config.js';

export interface TlsInitResult {
  directory: string;
  caPath: string;
  authority: CertificateInfo;
  createdAuthority: boolean;
  server: CertificateInfo;
  /** Why the server certificate was issued now; null: the one there was still good. */
  issued: string | null;
}

export async function initTls(config: RunConfig, extraHosts: readonly string[], now = new Date()): Promise<TlsInitResult> {
  const policy = config.policy ?? defaultPolicy();
  const settings = config.server.tls;
  if (settings?.source === 'files') throw new InputError('server.tls names the agency\'s certificate (cert_file, key_file): there is nothing for mavgate to make; remove them to use a local authority');
  const gate = new EgressGate(policy);
  const directory = new TlsDirectory(gate.grantDirectory('server.tls.directory', tlsDirectoryOf(settings, policy)));
  const listen = config.server.listen ?? DEFAULT_SERVER.listen!;
  const names = serverNames(listen.host, [...config.server.hosts, ...extraHosts]);
  try {
    const issued = await directory.ensure(names, now, (settings?.renewDays ?? DEFAULT_RENEW_DAYS) * 86_400_000);
    return {
      directory: directory.path, caPath: directory.caCertPath, authority: describeCertificate(issued.ca.certPem), createdAuthority: issued.createdAuthority,
      server: describeCertificate(issued.server.certPem), issued: issued.issued,
    };
  } catch (err) {
    if (err instanceof TlsFileError) throw new InputError(err.message);
    throw err;
  }
}

export function describeTlsInit(r: TlsInitResult): string {
  return [
    `local certificate authority: ${r.caPath}${r.createdAuthority ? ' (created)' : ' (kept)'}`,
    `  SHA-256 fingerprint: ${r.authority.fingerprint}`,
    '  install it once on each tablet or phone (served at /mavgate-ca.crt), checking this fingerprint',
    `server certificate: ${r.directory}/server.crt, ${r.issued ? `issued because ${r.issued}` : 'kept'}; valid until ${r.server.notAfter.toISOString()}`,
    `  for ${r.server.names.join(', ')}`,
    'serve with: mavgate run --tls (or server: { tls: true } in the config); renewed before it expires',
    '',
  ].join('\n');
}
