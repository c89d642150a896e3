/**
 * The client server over TLS on loopback: the local certificate authority and its files,
 * a `ws` client that trusts only that authority (and one that does not), the certificate
 * renewed before it expires (clock moved, not waited for), an agency's certificate reloaded
 * when its files change; and the rule that refuses plain HTTP beyond loopback, judged as a
 * pure verdict.
 */
import { once } from 'node:events';
import { chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { judgeClientServer } from '../src/residency/verdicts.js';
import { createAuthority, describeCertificate, issueServerCertificate, namesMissing, renewalReason, serialNumber } from '../src/server/certificates.js';
import { serverNames } from '../src/server/server-tls.js';
import { runMavgate } from './helpers/cli.js';
import { decksPerTest } from './helpers/clients.js';

const deck = decksPerTest();
const DAY = 86_400_000;

/** The certificate a fresh TLS handshake with the server presents. */
async function servedCertificate(port: number, ca: string): Promise<{ serial: string; fingerprint: string }> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerCertificate();
  socket.destroy();
  return { serial: cert.serialNumber, fingerprint: cert.fingerprint256 };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('the client server beyond loopback (pure verdict: nothing is opened)', () => {
  const defaults = parsePolicy({ listen: ['127.0.0.0/8', '192.168.10.0/24', '0.0.0.0'] }, 'p');

  it('refuses plain HTTP on a LAN address or every interface, naming the rule and the way out', () => {
    for (const address of ['192.168.10.5', '0.0.0.0', '::', '203.0.113.7', '::ffff:192.168.10.5']) {
      const v = judgeClientServer(defaults, address, false);
      expect(v, address).toMatchObject({ approved: false, rule: 'server.tls' });
      expect(v.approved ? '' : v.reason).toMatch(/--tls.*plaintext_lan: true/);
    }
  });

  it('approves TLS anywhere, plain HTTP on loopback, and plain HTTP on the LAN only when the policy says so', () => {
    expect(judgeClientServer(defaults, '192.168.10.5', true)).toMatchObject({ approved: true, rule: 'server.tls' });
    expect(judgeClientServer(defaults, '127.0.0.1', false)).toMatchObject({ approved: true });
    expect(judgeClientServer(defaults, '::1', false)).toMatchObject({ approved: true });
    const lan = parsePolicy({ server: { plaintext_lan: true } }, 'p');
    expect(lan.plaintextLan).toBe(true);
    expect(judgeClientServer(lan, '192.168.10.5', false)).toMatchObject({ approved: true, rule: 'server.plaintext_lan' });
    expect(() => parsePolicy({ server: { plaintext: true } }, 'p')).toThrow(/server/);
  });

  it('stops mavgate run with exit 3 before listening, naming the rule (the listen range approves 0.0.0.0; TLS does not)', async () => {
    const dir = (await deck()).dir;
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `approved_sinks:\n  directories: [${dir}]\nlisten: [127.0.0.0/8, 0.0.0.0]\n`);
    const run = await runMavgate(['run', '--policy', policy, '--listen', '0.0.0.0:0', '--status-interval', '0']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/refuses server\.listen: tcp-listen:0\.0\.0\.0:0: .*in the clear.* \(rule: server\.tls\)/);
  });

  it('revokes a plain LAN listener when a new policy no longer allows plain HTTP (granted and judged only: nothing listens)', async () => {
    const { EgressGate } = await import('../src/residency/gate.js');
    const lan = { listen: ['127.0.0.0/8', '192.168.10.0/24'] };
    const gate = new EgressGate(parsePolicy({ ...lan, server: { plaintext_lan: true } }, 'allows plain'));
    const grant = await gate.grantClientServer('server.listen', '192.168.10.5', 8088, false);
    const tls = await gate.grantClientServer('server.listen', '192.168.10.5', 8443, true);
    const { revoked } = gate.applyPolicy(parsePolicy(lan, 'TLS only'), (err) => { throw err; });
    expect(revoked.map((r) => [r.entry, r.rule])).toEqual([['server.listen', 'server.tls']]);
    const { isRevoked } = await import('../src/residency/grants.js');
    expect([isRevoked(grant), isRevoked(tls)]).toEqual([true, false]);
  });
});

describe('certificates', () => {
  it('makes an authority and a server certificate for names and addresses, which the authority verifies', async () => {
    const now = new Date();
    const ca = await createAuthority('mavgate test CA', now);
    const server = await issueServerCertificate(ca, ['localhost', 'mavgate.local', '127.0.0.1', '::1', '192.168.10.5'], now);
    const info = describeCertificate(server.certPem);
    expect(info.names).toEqual(['localhost', 'mavgate.local', '127.0.0.1', '0:0:0:0:0:0:0:1', '192.168.10.5']);
    expect(namesMissing(server.certPem, ['::1', 'mavgate.local', '192.168.10.6', 'other.local'])).toEqual(['192.168.10.6', 'other.local']);
    expect(renewalReason(server.certPem, ca.certPem, ['localhost'], now, 30 * DAY)).toBeNull();
    expect(renewalReason(server.certPem, ca.certPem, ['localhost'], new Date(now.getTime() + 380 * DAY), 30 * DAY)).toMatch(/expires/);
    const other = await createAuthority('someone else', now);
    expect(renewalReason(server.certPem, other.certPem, ['localhost'], now, 30 * DAY)).toMatch(/not signed by this authority/);
  });

  it('gives every certificate a positive serial in minimal DER form, whatever the random bytes (a zero first byte made OpenSSL refuse it)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (random) => {
      const der = new Uint8Array(new asn1js.Integer({ valueHex: serialNumber(random) }).toBER(false));
      expect(Array.from(der.subarray(0, 2))).toEqual([0x02, 16]);
      expect(der[2]).toBeGreaterThanOrEqual(0x40);
      expect(der[2]).toBeLessThan(0x80);
      expect(Array.from(der.subarray(3))).toEqual(Array.from(random.subarray(1)));
    }), { examples: [[new Uint8Array(16)], [new Uint8Array(16).fill(0x80)]] });
  });

  it('names what clients use: loopback, configured hosts, the listen address', () => {
    expect(serverNames('192.168.10.5', ['mavgate.local'])).toEqual(['localhost', 'mavgate.local', '127.0.0.1', '::1', '192.168.10.5']);
    const interfaces = { eth0: [{ address: '10.1.2.3', family: 'IPv4', internal: false }, { address: 'fe80::1', family: 'IPv6', internal: false }], lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }] };
    expect(serverNames('0.0.0.0', [], interfaces as never)).toEqual(['localhost', '127.0.0.1', '::1', '10.1.2.3']);
  });
});

describe('HTTPS and WSS with the local certificate authority (real TLS on loopback)', () => {
  it('lets a ws client that trusts only the generated authority in, and refuses one that does not', async () => {
    const d = await deck({ tls: true, tokens: [{ name: 'alice', role: 'pilot' }] });
    expect(d.base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice });
    expect((await client.telemetry('HEARTBEAT')).header.system_id).toBe(1);
    // The system's trust store does not know the local authority; neither does another one.
    await expect(d.connect('/v1/ws/mavlink', { token: d.tokens.alice, ca: null })).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    const stranger = await createAuthority('not mavgate', new Date());
    await expect(d.connect('/v1/ws/raw', { token: d.tokens.alice, ca: stranger.certPem })).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    // REST over HTTPS too, and the authority's certificate for tablets to install.
    expect((await d.http('GET', '/v1/stats', { token: d.tokens.alice })).status).toBe(200);
    const ca = await d.http('GET', '/mavgate-ca.crt');
    expect(ca.status).toBe(200);
    expect(ca.text).toBe(readFileSync(join(d.dir, 'tls', 'ca.crt'), 'utf8'));
  });

  it('writes the keys owner-only and the certificates readable, in the approved directory', async () => {
    const d = await deck({ tls: true });
    const mode = (f: string) => statSync(join(d.dir, 'tls', f)).mode & 0o777;
    expect([mode('ca.key'), mode('server.key'), mode('session.key')]).toEqual([0o600, 0o600, 0o600]);
    expect([mode('ca.crt'), mode('server.crt')]).toEqual([0o644, 0o644]);
    expect(describeCertificate(readFileSync(join(d.dir, 'tls', 'server.crt'), 'utf8')).names).toEqual(expect.arrayContaining(['localhost', '127.0.0.1']));
  });

  it('refuses a TLS directory outside the approved ones (exit 3 from mavgate run)', async () => {
    const dir = (await deck()).dir;
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, 'server:\n  tls: { directory: /tmp/elsewhere-mavgate-tls }\n');
    const run = await runMavgate(['run', '--config', config, '--status-interval', '0']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/refuses server\.tls\.directory/);
  });

  it('renews the server certificate before it expires, serves the new one from the next handshake, and audits it', async () => {
    // The certificate was issued 370 days ago (27 days before its 397 run out): the clock is moved, not waited for.
    let now = Date.now() - 370 * DAY;
    const d = await deck({ tls: true, audit: true, tokens: [{ name: 'alice', role: 'observer' }], services: { now: () => now } });
    const tls = d.services!.tls!;
    const port = portOf(d.base);
    const first = await servedCertificate(port, d.ca!);
    const open = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice });
    expect(await tls.check()).toBe('unchanged');
    now = Date.now();
    expect(await tls.check()).toBe('renewed');
    const second = await servedCertificate(port, d.ca!);
    expect(second.serial).not.toBe(first.serial);
    expect(describeCertificate(readFileSync(join(d.dir, 'tls', 'server.crt'), 'utf8')).serial).toBe(second.serial);
    // The authority is kept (tablets keep trusting it), and an open connection is not cut.
    expect(d.ca).toBe(readFileSync(join(d.dir, 'tls', 'ca.crt'), 'utf8'));
    await open.telemetry('HEARTBEAT');
    const audit = readFileSync(d.audit!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; details: Record<string, unknown> });
    expect(audit.find((r) => r.event === 'tls_certificate_issued' && String(r.details.why).startsWith('renewed because it expires'))?.details).toMatchObject({ serial: second.serial });
    expect(audit.some((r) => r.event === 'tls_in_force')).toBe(true);
  });
});

describe('an agency-provided certificate', () => {
  it('is served with its chain, reloaded when its files change, and refused when its key is readable by others', async () => {
    const dir = (await deck()).dir;
    const now = new Date();
    const agency = await createAuthority('Agency CA', now);
    const write = async (name: string) => {
      const c = await issueServerCertificate(agency, ['localhost', '127.0.0.1'], now);
      writeFileSync(join(dir, `${name}.crt`), c.certPem);
      writeFileSync(join(dir, `${name}.key`), c.keyPem, { mode: 0o600 });
      return describeCertificate(c.certPem);
    };
    const first = await write('a');
    const second = await write('b');
    copyFileSync(join(dir, 'a.crt'), join(dir, 'server.crt'));
    copyFileSync(join(dir, 'a.key'), join(dir, 'server.key'));
    chmodSync(join(dir, 'server.key'), 0o600);
    const files = { source: 'files' as const, certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), renewDays: 30 };
    const d = await deck({ tls: files, tokens: [{ name: 'alice', role: 'observer' }] });
    d.ca = agency.certPem;
    expect((await servedCertificate(portOf(d.base), agency.certPem)).serial).toBe(first.serial);
    expect((await d.http('GET', '/mavgate-ca.crt')).status).toBe(401); // no local authority to hand out
    copyFileSync(join(dir, 'b.crt'), files.certFile);
    copyFileSync(join(dir, 'b.key'), files.keyFile);
    expect(await d.services!.tls!.check()).toBe('reloaded');
    expect((await servedCertificate(portOf(d.base), agency.certPem)).serial).toBe(second.serial);
    chmodSync(files.keyFile, 0o644);
    await expect(deck({ tls: files })).rejects.toThrow(/a private key readable or writable by group or others \(mode 0644\); run chmod 600/);
  });
});

describe('WebSocket over TLS refuses the plain scheme', () => {
  it('does not speak plain HTTP on the TLS port', async () => {
    const d = await deck({ tls: true });
    const ws = new WebSocket(d.base.replace('https', 'ws') + '/v1/ws/mavlink');
    const [err] = (await once(ws, 'error')) as [Error];
    expect(err.message).toMatch(/socket hang up|ECONNRESET|Unexpected server response/);
  });
});
