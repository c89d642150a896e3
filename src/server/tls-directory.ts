/**
 * The client server's TLS files, in a directory the residency gate granted:
 *
 *   ca.crt        the local certificate authority (tablets and phones install it once)
 *   ca.key        its key, owner-only; never overwritten (a new CA means re-pairing every tablet)
 *   server.crt    the server certificate, signed by the CA, for the names clients use
 *   server.key    its key, owner-only; replaced with the certificate on renewal
 *   session.key   the key that signs dashboard session cookies, owner-only
 *
 * Keys are written owner-only (0600) and refused when anyone else can read them.
 */
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertGrant, type DirectoryGrant } from '../residency/gate.js';
import { readOwnerOnlyFile } from '../residency/owner-only.js';
import { type CertifiedKey, createAuthority, issueServerCertificate, renewalReason } from './certificates.js';
import { TlsFileError } from './settings.js';

// Defined beside the settings so that catching it does not load the certificate code.
export { TlsFileError };

const FILES = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'server.crt', key: 'server.key', sessionKey: 'session.key' } as const;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

/** Reads a private key, refusing one that group or others can read (as recording and signing keys are). */
export function readPrivateKey(path: string): string {
  return readOwnerOnlyFile(path, (reason) => new TlsFileError(path, `a private key ${reason}`));
}

export function readCertificate(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsFileError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
}

/** A certificate the agency provides, its key and chain, checked to belong together; the chain follows the certificate. */
export function readCertificateFiles(files: { certFile: string; keyFile: string; chainFile?: string }): { key: string; cert: string } {
  const cert = readCertificate(files.certFile);
  const key = readPrivateKey(files.keyFile);
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new TlsFileError(`${files.certFile}, ${files.keyFile}`, `not a PEM certificate and private key: ${(err as Error).message}`);
  }
  if (!matches) throw new TlsFileError(files.keyFile, `not the key of the certificate ${files.certFile}`);
  const chain = files.chainFile ? readCertificate(files.chainFile) : '';
  return { key, cert: chain ? `${cert.trimEnd()}\n${chain}` : cert };
}

export interface IssuedTls {
  ca: CertifiedKey;
  server: CertifiedKey;
  /** What changed on disk: the authority created, the server certificate issued (and why). */
  createdAuthority: boolean;
  issued: string | null;
}

export class TlsDirectory {
  constructor(private readonly grant: DirectoryGrant) {
    assertGrant(grant, 'directory');
  }

  get path(): string {
    return this.grant.path;
  }

  private file(name: string): string {
    return join(this.grant.path, name);
  }

  get hasAuthority(): boolean {
    return existsSync(this.file(FILES.caCert)) && existsSync(this.file(FILES.caKey));
  }

  get caCertPath(): string {
    return this.file(FILES.caCert);
  }

  /** A whole file replaced at once (written beside, then renamed), so a reader never sees half of it. */
  private write(name: string, data: string, mode: number): void {
    const path = this.file(name);
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, data, { mode, flag: 'w' });
    chmodSync(temporary, mode);
    renameSync(temporary, path);
  }

  /**
   * The authority (created if there is none) and a server certificate for `names`,
   * issued again when it is missing, expires within `renewBeforeMs`, or does not cover a
   * name. An existing authority is never replaced.
   */
  async ensure(names: readonly string[], now: Date, renewBeforeMs: number, authorityName = 'mavgate local CA'): Promise<IssuedTls> {
    let createdAuthority = false;
    let ca: CertifiedKey;
    if (this.hasAuthority) {
      ca = { certPem: readCertificate(this.file(FILES.caCert)), keyPem: readPrivateKey(this.file(FILES.caKey)) };
    } else {
      ca = await createAuthority(`${authorityName} ${now.toISOString().slice(0, 10)}`, now);
      // The key first, and neither over an existing one: `wx` fails if another process made them meanwhile.
      writeFileSync(this.file(FILES.caKey), ca.keyPem, { mode: KEY_MODE, flag: 'wx' });
      writeFileSync(this.file(FILES.caCert), ca.certPem, { mode: CERT_MODE, flag: 'wx' });
      createdAuthority = true;
    }
    let server: CertifiedKey | null = null;
    let issued: string | null = null;
    if (existsSync(this.file(FILES.cert)) && existsSync(this.file(FILES.key))) {
      server = { certPem: readCertificate(this.file(FILES.cert)), keyPem: readPrivateKey(this.file(FILES.key)) };
      issued = renewalReason(server.certPem, ca.certPem, names, now, renewBeforeMs);
    } else {
      issued = 'there was none';
    }
    if (issued !== null) {
      server = await issueServerCertificate(ca, names, now);
      this.write(FILES.key, server.keyPem, KEY_MODE);
      this.write(FILES.cert, server.certPem, CERT_MODE);
    }
    return { ca, server: server!, createdAuthority, issued };
  }

  /** The key that signs session cookies (created once, so sessions survive a restart). */
  sessionKey(): Buffer {
    const path = this.file(FILES.sessionKey);
    if (!existsSync(path)) {
      try {
        writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: KEY_MODE, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    const text = readPrivateKey(path).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new TlsFileError(path, 'expected 64 hex digits (delete it: a new one is made, and dashboard sessions start again)');
    return Buffer.from(text, 'hex');
  }
}
