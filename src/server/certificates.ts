/**
 * X.509 certificates for the client server: a local certificate authority, and server
 * certificates it signs for the names and addresses clients use. Keys are ECDSA P-256
 * (small, and cheap handshakes for a laptop serving many tablets), made and used through
 * Node's WebCrypto; node:crypto cannot write a certificate, so pkijs builds them (see
 * docs/residency.md for why that library). Nothing here touches a file.
 */
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import ipaddr from 'ipaddr.js';
import * as pkijs from 'pkijs';
import { isIpLiteral } from '../residency/verdicts.js';

/** A certificate and its private key, both PEM. */
export interface CertifiedKey {
  certPem: string;
  keyPem: string;
}

/** What a certificate says, as the operator and the renewal check need it. */
export interface CertificateInfo {
  /** SHA-256 of the certificate (DER), as a phone or browser shows it: `AB:CD:…`. */
  fingerprint: string;
  /** Base64 SHA-256 of the public key (SPKI): Chromium's --ignore-certificate-errors-spki-list, HPKP-style pins. */
  spkiPin: string;
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** Host names and IP addresses the certificate is valid for (subjectAltName). */
  names: string[];
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const OID = {
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};
/** A tablet's clock can be a little behind the laptop's. */
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 86_400_000;
/** Within what phones and browsers accept for a certificate from a locally installed authority (Apple: 825 days; 398 for public ones). */
export const SERVER_CERT_DAYS = 397;
export const CA_DAYS = 3650;

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'] });

function distinguishedName(commonName: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({ typesAndValues: [new pkijs.AttributeTypeAndValue({ type: OID.commonName, value: new asn1js.Utf8String({ value: commonName }) })] });
}

function extension(extnID: string, critical: boolean, value: { toBER(sizeOnly?: boolean): ArrayBuffer }): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** keyUsage bits: digitalSignature is bit 0 (0x80 of the first byte), keyCertSign bit 5 (0x04), cRLSign bit 6 (0x02). */
function keyUsage(ca: boolean): asn1js.BitString {
  return ca ? new asn1js.BitString({ valueHex: new Uint8Array([0x06]).buffer, unusedBits: 1 }) : new asn1js.BitString({ valueHex: new Uint8Array([0x80]).buffer, unusedBits: 7 });
}

function subjectAltNames(names: readonly string[]): pkijs.AltName {
  return new pkijs.AltName({
    altNames: names.map((n) => (isIpLiteral(n)
      ? new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: new Uint8Array(ipaddr.parse(n).toByteArray()).buffer }) })
      : new pkijs.GeneralName({ type: 2, value: n }))),
  });
}

async function keyIdentifier(publicKey: CryptoKey): Promise<ArrayBuffer> {
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey));
  return new Uint8Array(createHash('sha1').update(spki).digest()).buffer;
}

function toPem(der: ArrayBuffer | Buffer, label: string): string {
  const b64 = Buffer.from(der as ArrayBuffer).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function fromPem(pem: string, label: string): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem);
  if (!match) throw new Error(`no ${label} in the PEM text`);
  return Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
}

interface Signer {
  /** The authority's subject, byte for byte, as the issuer of what it signs. */
  name: pkijs.RelativeDistinguishedNames;
  keyId: ArrayBuffer;
}

/**
 * A positive serial in minimal DER form, unique without a counter to keep. The top bit is cleared so the
 * integer is positive, the next one set so the first byte is never a zero pad: DER forbids that
 * ("illegal padding"), and OpenSSL refuses such a certificate, 1 time in 256 with 16 random bytes.
 */
export function serialNumber(random: Uint8Array): ArrayBuffer {
  const serial = new Uint8Array(random);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial.buffer;
}

async function build(subject: string, publicKey: CryptoKey, signer: Signer | null, signingKey: CryptoKey, now: Date, days: number, names: readonly string[] | null): Promise<Buffer> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: serialNumber(randomBytes(16)) });
  cert.subject = distinguishedName(subject);
  cert.issuer = signer?.name ?? cert.subject;
  cert.notBefore.value = new Date(now.getTime() - BACKDATE_MS);
  cert.notAfter.value = new Date(now.getTime() + days * DAY_MS);
  await cert.subjectPublicKeyInfo.importKey(publicKey, engine);
  const ownId = await keyIdentifier(publicKey);
  const ca = names === null;
  cert.extensions = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints(ca ? { cA: true, pathLenConstraint: 0 } : { cA: false }).toSchema()),
    extension(OID.keyUsage, true, keyUsage(ca)),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ownId })),
    extension(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: signer?.keyId ?? ownId }) }).toSchema()),
  ];
  if (names) {
    cert.extensions.push(extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] }).toSchema()));
    cert.extensions.push(extension(OID.subjectAltName, false, subjectAltNames(names).toSchema()));
  }
  await cert.sign(signingKey, 'SHA-256', engine);
  return Buffer.from(cert.toSchema(true).toBER(false));
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A new certificate authority, valid `days` from `now`, that may sign server certificates only (path length 0). */
export async function createAuthority(commonName: string, now: Date, days = CA_DAYS): Promise<CertifiedKey> {
  const keys = await newKeys();
  const der = await build(commonName, keys.publicKey, null, keys.privateKey, now, days, null);
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** A server certificate for `names` (host names and IP addresses), signed by `ca`, with a new key. */
export async function issueServerCertificate(ca: CertifiedKey, names: readonly string[], now: Date, days = SERVER_CERT_DAYS): Promise<CertifiedKey> {
  if (names.length === 0) throw new Error('a server certificate needs at least one name or address');
  const caKey = await webcrypto.subtle.importKey('pkcs8', fromPem(ca.keyPem, 'PRIVATE KEY'), ALGORITHM, false, ['sign']);
  const caCert = new X509Certificate(ca.certPem);
  const caPublic = await webcrypto.subtle.importKey('spki', caCert.publicKey.export({ type: 'spki', format: 'der' }), ALGORITHM, true, ['verify']);
  const signer: Signer = { name: pkijs.Certificate.fromBER(new Uint8Array(caCert.raw)).subject, keyId: await keyIdentifier(caPublic) };
  const keys = await newKeys();
  const der = await build(`mavgate ${names[0]}`, keys.publicKey, signer, caKey, now, days, names);
  return { certPem: toPem(der, 'CERTIFICATE'), keyPem: await privateKeyPem(keys.privateKey) };
}

function commonNameOf(subject: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? subject;
}

/** The certificate's fingerprint, key pin, validity and names. */
export function describeCertificate(pem: string): CertificateInfo {
  const cert = new X509Certificate(pem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const names = (cert.subjectAltName ?? '').split(', ').filter(Boolean).map((n) => n.replace(/^(DNS|IP Address):/, ''));
  return {
    fingerprint: cert.fingerprint256,
    spkiPin: createHash('sha256').update(spki).digest('base64'),
    serial: cert.serialNumber,
    subject: commonNameOf(cert.subject),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    names,
  };
}

/** The names (host names and IP addresses, any spelling of IPv6) `pem` does not cover. */
export function namesMissing(pem: string, names: readonly string[]): string[] {
  const cert = new X509Certificate(pem);
  return names.filter((n) => (isIpLiteral(n) ? cert.checkIP(n) === undefined : cert.checkHost(n, { wildcards: false }) === undefined));
}

/**
 * Why a server certificate must be issued again, or null while it can serve on: it
 * expires within `renewBeforeMs`, misses one of `names`, or was not signed by `caPem`.
 */
export function renewalReason(certPem: string, caPem: string, names: readonly string[], now: Date, renewBeforeMs: number): string | null {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'it was not signed by this authority';
  const notAfter = new Date(cert.validTo);
  const left = notAfter.getTime() - now.getTime();
  if (left <= renewBeforeMs) return `it expires ${notAfter.toISOString()} (in ${Math.max(0, Math.floor(left / DAY_MS))} days)`;
  const missing = namesMissing(certPem, names);
  return missing.length > 0 ? `it does not cover ${missing.join(', ')}` : null;
}
