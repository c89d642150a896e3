/**
 * Pairing a tablet: `mavgate pair` prints a QR code that an independent decoder (jsQR,
 * on the code as printed in the terminal) reads back as the link, whose token is the one
 * written to the config; an admin's `POST /v1/pair` does the same for the dashboard; the
 * dashboard over HTTPS in headless Chromium, trusting the local authority by its key's
 * pin only, with the token turned into a session, and the admin's pairing panel.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jsQRModule from 'jsqr';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeCertificate } from '../src/server/certificates.js';
import { pairingLinks, qrForTerminal, qrMatrix } from '../src/server/pairing.js';
import { hashToken } from '../src/server/tokens.js';
import { runMavgate } from './helpers/cli.js';
import { decksPerTest } from './helpers/clients.js';

const deck = decksPerTest();
/** jsQR is a CommonJS module whose function is its default export. */
const jsQR = ((jsQRModule as unknown as { default?: unknown }).default ?? jsQRModule) as (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;

/** An image of modules (true: dark), `scale` pixels each, with a white margin, as RGBA. */
function rasterise(modules: boolean[][], scale = 4, margin = 4): { data: Uint8ClampedArray; width: number; height: number } {
  const size = modules.length + 2 * margin;
  const width = size * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  modules.forEach((row, y) => row.forEach((dark, x) => {
    if (!dark) return;
    for (let dy = 0; dy < scale; dy++) {
      for (let dx = 0; dx < scale; dx++) {
        const i = (((y + margin) * scale + dy) * width + (x + margin) * scale + dx) * 4;
        data[i] = data[i + 1] = data[i + 2] = 0;
      }
    }
  }));
  return { data, width, height: width };
}

/**
 * The modules of a QR code as the terminal shows it: each character is two rows, a
 * block (█, ▀ top, ▄ bottom) is a light module, a space a dark one (for a dark terminal).
 */
function modulesOfTerminal(text: string): boolean[][] {
  const lines = text.split('\n').filter((l) => /^[█▀▄ ]+$/.test(l));
  const rows: boolean[][] = [];
  for (const line of lines) {
    const chars = [...line];
    rows.push(chars.map((c) => !(c === '█' || c === '▀')));
    rows.push(chars.map((c) => !(c === '█' || c === '▄')));
  }
  return rows;
}

function decode(modules: boolean[][]): string {
  const image = rasterise(modules);
  const code = jsQR(image.data, image.width, image.height);
  if (!code) throw new Error('jsQR found no QR code');
  return code.data;
}

describe('QR codes', () => {
  it('decode (by an independent decoder) to the link, from the matrix and from the terminal text', () => {
    const link = 'https://192.168.10.5:8443/?token=AbCdEf0123456789AbCdEf0123456789AbCdEf01234';
    expect(decode(qrMatrix(link))).toBe(link);
    expect(decode(modulesOfTerminal(qrForTerminal(link)))).toBe(link);
  });

  it('make a Cockpit link that opens Cockpit on mavgate\'s socket with the token', () => {
    const links = pairingLinks('https://192.168.10.5:8443', 'T0K', 'https://cockpit.local/#/');
    expect(links.dashboard).toBe('https://192.168.10.5:8443/?token=T0K');
    const cockpit = new URL(links.cockpit!);
    expect(cockpit.origin + cockpit.hash).toBe('https://cockpit.local#/');
    expect(cockpit.searchParams.get('mainConnectionURI')).toBe('wss://192.168.10.5:8443/mavlink2rest/ws/mavlink?token=T0K');
  });
});

describe('mavgate pair', () => {
  it('prints a QR code whose link carries the token written to the config, with an expiry and the authority\'s fingerprint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-pair-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, `server:\n  listen: 192.168.10.5:8443\n  hosts: [mavgate.local]\n  tls: { directory: ${join(dir, 'data', 'tls')} }\n`);
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `approved_sinks:\n  directories: [${join(dir, 'data')}]\n`);
    const init = await runMavgate(['tls', 'init', '--config', config, '--policy', policy]);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/local certificate authority: .*ca\.crt \(created\)/);
    expect(init.stdout).toMatch(/for localhost, mavgate\.local, 127\.0\.0\.1, 0:0:0:0:0:0:0:1, 192\.168\.10\.5/);
    const again = await runMavgate(['tls', 'init', '--config', config, '--policy', policy]);
    expect(again.stdout).toMatch(/\(kept\)[\s\S]*server certificate: .*, kept/);
    const fingerprint = describeCertificate(readFileSync(join(dir, 'data', 'tls', 'ca.crt'), 'utf8')).fingerprint;

    const run = await runMavgate(['pair', '--role', 'pilot', '--expires', '12h', '--config', config, '--policy', policy, 'tablet-1']);
    expect(run.code).toBe(0);
    const link = decode(modulesOfTerminal(run.stdout));
    expect(link).toMatch(/^https:\/\/mavgate\.local:8443\/\?token=[A-Za-z0-9_-]{43}$/);
    expect(run.stdout).toContain(link);
    expect(run.stdout).toContain(fingerprint);
    const token = new URL(link).searchParams.get('token')!;
    const entry = (parse(readFileSync(config, 'utf8')) as { tokens: Record<string, string>[] }).tokens[0]!;
    expect(entry).toMatchObject({ name: 'tablet-1', role: 'pilot', sha256: hashToken(token) });
    expect(Math.abs(Date.parse(entry.expires!) - Date.now() - 12 * 3_600_000)).toBeLessThan(60_000);
  });

  it('warns when the server a tablet would use is plain HTTP on this machine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-pair-'));
    const run = await runMavgate(['pair', '--config', join(dir, 'gateway.yaml'), 'phone']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/warning: http:\/\/127\.0\.0\.1:8088 is this machine only/);
  });
});

describe('pairing from the dashboard (POST /v1/pair)', () => {
  it('is for admins only, and makes a token that works, audited, whose QR code decodes to its link', async () => {
    const kept: string[] = [];
    const d = await deck({ tls: true, audit: true, tokens: [{ name: 'chief', role: 'admin' }, { name: 'pilot', role: 'pilot' }], services: { persistToken: (e) => void kept.push(e.name) } });
    expect((await d.http('GET', '/v1/pair', { token: d.tokens.pilot })).status).toBe(403);
    const info = await d.http('GET', '/v1/pair', { token: d.tokens.chief });
    expect(info.body).toMatchObject({ persistent: true, authority_fingerprint: describeCertificate(d.ca!).fingerprint });
    const made = await d.http('POST', '/v1/pair', { token: d.tokens.chief, body: { name: 'tablet-2', role: 'observer', expires: '2h' } });
    expect(made.status).toBe(201);
    const body = made.body as { url: string; qr_svg: string; expires: string };
    expect(kept).toEqual(['tablet-2']);
    const token = new URL(body.url).searchParams.get('token')!;
    expect((await d.http('GET', '/v1/stats', { token })).status).toBe(200);
    expect((await d.http('POST', '/v1/pair', { token: d.tokens.chief, body: { name: 'tablet-2', role: 'observer' } })).status).toBe(409);
    expect((await d.http('POST', '/v1/pair', { token: d.tokens.chief, body: { name: 'x', role: 'captain' } })).body).toMatchObject({ error: expect.stringMatching(/role: one of/) });
    const audit = readFileSync(d.audit!.path, 'utf8');
    expect(audit).toMatch(/"event":"token_added".*"name":"tablet-2".*"by":"chief"/);
    expect(audit).not.toContain(token);
    expect(body.qr_svg).toMatch(/^<svg/);
  });

  it('without a config file, keeps a pairing for the run, through a reload of the tokens', async () => {
    const d = await deck({ tokens: [{ name: 'chief', role: 'admin' }] });
    expect((await d.http('GET', '/v1/pair', { token: d.tokens.chief })).body).toMatchObject({ persistent: false });
    const made = await d.http('POST', '/v1/pair', { token: d.tokens.chief, body: { name: 'tablet-3', role: 'pilot' } });
    const token = new URL((made.body as { url: string }).url).searchParams.get('token')!;
    expect(d.services!.applyTokens(d.services!.tokens.all.filter((t) => t.name === 'chief'))).toMatchObject({ removed: [], disconnected: 0 });
    expect((await d.http('GET', '/v1/stats', { token })).status).toBe(200);
  });
});

const CHROMIUM = '/usr/bin/chromium';
describe.skipIf(!existsSync(CHROMIUM))('the dashboard over HTTPS in headless Chromium (the authority trusted by its key\'s pin only)', () => {
  let browser: Browser | undefined;
  afterAll(async () => browser?.close());

  it('opens with a paired token, which becomes a session and leaves the URL; the page\'s WSS socket works; an admin pairs from the page', async () => {
    const d = await deck({ tls: true, tokens: [{ name: 'tablet', role: 'pilot' }, { name: 'chief', role: 'admin' }] });
    const pin = describeCertificate(d.ca!).spkiPin;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${pin}`],
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${d.base}/?token=${d.tokens.tablet}`);
    expect(response!.status()).toBe(200);
    expect(page.url()).toBe(`${d.base}/`);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'mavgate_session', httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('');
    // The page's own socket (wss://, with the session cookie) brings the vehicle.
    await page.waitForSelector('[data-vehicle="1"]', { timeout: 10_000 });
    await page.waitForFunction(() => (globalThis as unknown as { document: { getElementById(id: string): { textContent: string } } }).document.getElementById('connection').textContent === 'live', undefined, { timeout: 10_000 });
    expect([...d.hub.sessions.values()].some((s) => s.kind === 'ws-json' && s.principal.name === 'tablet')).toBe(true);
    expect(await page.locator('#pair-panel').count()).toBe(0); // a pilot sees no pairing panel

    const admin = await browser.newPage();
    await admin.goto(`${d.base}/?token=${d.tokens.chief}`);
    await admin.waitForSelector('#pair-panel', { timeout: 10_000 });
    expect(await admin.textContent('#pair-fingerprint')).toBe(describeCertificate(d.ca!).fingerprint);
    await admin.fill('#pair-name', 'field-tablet');
    await admin.selectOption('#pair-role', 'pilot');
    await admin.click('#pair-form button');
    const img = admin.locator('#pair-result img.pair-qr');
    await img.waitFor({ timeout: 10_000 });
    // The code as the page shows it, read back by jsQR from the page's own pixels.
    const pixels = await img.evaluate(async (node: unknown) => {
      const image = node as { naturalWidth: number; decode(): Promise<void> };
      await image.decode();
      const doc = (globalThis as unknown as { document: { createElement(t: string): any } }).document;
      const canvas = doc.createElement('canvas');
      canvas.width = canvas.height = 400;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(image, 0, 0, 400, 400);
      return Array.from(ctx.getImageData(0, 0, 400, 400).data as Uint8ClampedArray);
    });
    const out = join(import.meta.dirname, '../test-output');
    mkdirSync(out, { recursive: true });
    await admin.locator('#pair-panel').screenshot({ path: join(out, 'pairing.png') });
    const code = jsQR(new Uint8ClampedArray(pixels), 400, 400);
    expect(code?.data).toMatch(new RegExp(`^${d.base.replace(/[.]/g, '\\.')}/\\?token=[A-Za-z0-9_-]{43}$`));
    const paired = await browser.newPage();
    await paired.goto(code!.data);
    expect(paired.url()).toBe(`${d.base}/`);
    await paired.waitForSelector('[data-vehicle="1"]', { timeout: 10_000 });
    expect([...d.hub.sessions.values()].some((s) => s.principal.name === 'field-tablet' && s.principal.role === 'pilot')).toBe(true);
  }, 60_000);
});
