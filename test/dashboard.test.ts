/**
 * The operator's dashboard in a real headless Chromium: the simulated vehicle over UDP, a
 * pilot arming it, the simulator dropping packets, a refused destination; and no request
 * leaving the page's origin.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Gateway } from '../src/gateway/gateway.js';
import { startSim, type RunningSim } from '../src/cli/sim.js';
import type { TransportEndpoint } from '../src/links/create-link.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { defaultPolicy } from '../src/residency/policy.js';
import { ClientServices } from '../src/server/client-services.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken } from '../src/server/tokens.js';
import { Client, commandLong } from './helpers/clients.js';
import { gateFor } from './helpers/gate.js';

/** The page's DOM, as the functions evaluated in the browser see it (the tests are typed for Node). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null; getElementById(id: string): any };

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) console.warn(`${CHROMIUM} not found: dashboard tests skipped (.ci/run installs the Debian package chromium)`);

describe.skipIf(!HAS_CHROMIUM)('the dashboard in headless Chromium', () => {
  let browser: Browser;
  let gateway: Gateway;
  let services: ClientServices;
  let sim: RunningSim;
  let page: Page;
  let base: string;
  const tokens = { screen: generateToken(), alice: generateToken() };
  const requests: string[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-dashboard-'));
    // Only 127.0.0.1 is approved: a link to the decoy 127.0.0.2 is refused (nothing is ever sent there).
    const gate = gateFor({ site: 'field-team-3', jurisdiction: 'EU/FR', approved_sinks: { directories: [dir], networks: [{ cidr: '127.0.0.1/32' }] } });
    gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0')], gate });
    await gateway.start();
    sim = await startSim(parseEndpoint(`udp:127.0.0.1:${(gateway.links[0]!.link as UdpLink).localPort}`) as TransportEndpoint, { rate: 5 }, defaultPolicy());
    services = await ClientServices.start(gateway, {
      ...DEFAULT_SERVER, listen: { host: '127.0.0.1', port: 0 },
      tokens: [
        { name: 'screen', role: 'observer', sha256: hashToken(tokens.screen), sources: DEFAULT_SOURCES },
        { name: 'alice', role: 'pilot', sha256: hashToken(tokens.alice), sources: DEFAULT_SOURCES },
      ],
    }, 'test', () => {});
    base = services.server!.url;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (r) => void requests.push(r.url()));
    page.on('websocket', (ws) => void requests.push(ws.url()));
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await services?.stop();
    await sim?.stop();
    await gateway?.stop();
  });

  const text = (selector: string) => page.locator(selector).first().textContent({ timeout: 10_000 });
  /** Waits until `predicate(arg)` holds in the page. (A function, not a string: the page's CSP forbids eval, as it should.) */
  const until = (predicate: (args: string[]) => boolean, args: string[], what: string, timeout = 10_000) =>
    page.waitForFunction(predicate, args, { timeout }).catch((err: Error) => { throw new Error(`${what}: ${err.message}`); });

  it('serves the page with a same-origin-only Content-Security-Policy, and shows the vehicle', async () => {
    const response = await page.goto(`${base}/?token=${tokens.screen}`);
    expect(response!.status()).toBe(200);
    expect(response!.headers()['content-security-policy']).toMatch(/default-src 'none'.*connect-src 'self'/);
    await page.waitForSelector('[data-vehicle="1"]', { timeout: 10_000 });
    expect(await text('[data-vehicle="1"] .mode')).toBe('STABILIZE');
    expect(await text('[data-vehicle="1"] .state')).toBe('disarmed');
    expect(await text('#policy')).toContain('field-team-3');
    await page.waitForSelector('#clients tr[data-client]', { timeout: 10_000 });
  });

  it('shows the mode and armed state change when a pilot arms the vehicle, and who holds control', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws/mavlink?filter=^COMMAND_ACK$`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    await new Promise((r) => ws.once('open', r));
    const pilot = new Client(ws);
    expect(await pilot.request(commandLong('MAV_CMD_DO_SET_MODE', { param1: 1, param2: 4 }))).toMatch(/^Ok/);
    expect(await pilot.request(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toMatch(/^Ok/);
    const shows = ([selector, value]: string[]) => document.querySelector(selector!)?.textContent === value;
    await until(shows, ['[data-vehicle="1"] .mode', 'GUIDED'], 'GUIDED on the page');
    await until(shows, ['[data-vehicle="1"] .state', 'ARMED'], 'ARMED on the page');
    expect(await text('#control')).toBe('control: alice (pilot)');
    await pilot.close();
  });

  it('shows the link\'s loss rising when the simulator drops packets', async () => {
    sim.vehicle.loss = 0.5;
    await until(([selector]) => Number.parseFloat(document.querySelector(selector!)?.textContent ?? '0') > 5, ['[data-link="link1"] .loss'], 'loss above 5% on the page', 15_000);
    sim.vehicle.loss = 0;
  });

  it('lists a refused destination in the residency panel', async () => {
    const result = await gateway.reload([parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint('udp:127.0.0.2:14550')]);
    expect(result.refused).toHaveLength(1);
    await until(([decoy]) => (document.querySelector('#refusals')?.textContent ?? '').includes(decoy!), ['127.0.0.2'], 'the refusal in the residency panel');
    expect(await text('#refusals li')).toMatch(/refused: 127\.0\.0\.2 \(loopback\) is in no approved network/);
  });

  it('draws the track, and made no request outside its origin', async () => {
    const painted = await page.evaluate(() => {
      const canvas = document.getElementById('track');
      const data: Uint8ClampedArray = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
      return n;
    });
    expect(painted).toBeGreaterThan(0);
    const origin = new URL(base);
    expect(requests.length).toBeGreaterThan(3);
    for (const url of requests) expect(new URL(url).host).toBe(origin.host);
    const out = resolve(import.meta.dirname, '../test-output');
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
  });
});
