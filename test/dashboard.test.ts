/**
 * The operator's dashboard in a real headless Chromium: the simulated vehicle over UDP
 * flying a circle, a pilot arming it; each panel showing what the vehicle sends; a link
 * down and a lost vehicle as alarms; a reload that keeps the last known state; a page
 * refused for its token asking for one; 414 px wide without overflow; and no request
 * leaving the page's origin.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
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
import { FrameDecoder } from '../src/mavlink/index.js';
import { defaultPolicy } from '../src/residency/policy.js';
import { ClientServices } from '../src/server/client-services.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken } from '../src/server/tokens.js';
import { Client, commandLong } from './helpers/clients.js';
import { frame, registry } from './helpers/frames.js';
import { gateFor } from './helpers/gate.js';
import { makeMbtiles } from './helpers/mbtiles.js';
import { freeUdpPort } from './helpers/ports.js';

/** The page's DOM, as the functions evaluated in the browser see it (the tests are typed for Node). */
declare const document: { querySelector(selector: string): { textContent: string | null } | null; querySelectorAll(selector: string): { length: number }; getElementById(id: string): any; title: string; documentElement: { scrollWidth: number } };
declare const window: { innerWidth: number };

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) console.warn(`${CHROMIUM} not found: dashboard tests skipped (.ci/run installs the Debian package chromium)`);

/** Painted pixels of a canvas, and how many of them are the horizon's sky blue. */
const paintOf = (selector: string) => `(() => {
  const canvas = document.querySelector(${JSON.stringify(selector)});
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0, sky = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0) painted++;
    if (data[i] === 0x4f && data[i + 1] === 0x8f && data[i + 2] === 0xd8) sky++;
  }
  return { painted, sky };
})()`;

describe.skipIf(!HAS_CHROMIUM)('the dashboard in headless Chromium', () => {
  let browser: Browser;
  let gateway: Gateway;
  let services: ClientServices;
  let sim: RunningSim;
  let page: Page;
  let base: string;
  let simEndpoint: string;
  const tokens = { screen: generateToken(), alice: generateToken() };
  const requests: string[] = [];
  /** Messages the simulated vehicle on this branch does not send, injected as if it had, through the router. */
  let inject: (bytes: Buffer) => void;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-dashboard-'));
    // Only 127.0.0.1 is approved: a link to the decoy 127.0.0.2 is refused (nothing is ever sent there).
    const gate = gateFor({ site: 'field-team-3', jurisdiction: 'EU/FR', approved_sinks: { directories: [dir], networks: [{ cidr: '127.0.0.1/32' }] } });
    gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0')], gate });
    await gateway.start();
    simEndpoint = gateway.links[0]!.link.endpoint.text;
    sim = await startSim(parseEndpoint(`udp:127.0.0.1:${(gateway.links[0]!.link as UdpLink).localPort}`) as TransportEndpoint, { rate: 5 }, defaultPolicy());
    const port = gateway.links[0]!.port;
    const decoder = new FrameDecoder(registry, (f) => gateway.router.route(f, port));
    inject = (bytes) => decoder.push(bytes);
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
  const shows = ([selector, value]: string[]) => (document.querySelector(selector!)?.textContent ?? '').includes(value!);

  it('serves the page with a same-origin-only Content-Security-Policy, takes the token out of the address bar, and shows the vehicle', async () => {
    const response = await page.goto(`${base}/?token=${tokens.screen}`);
    expect(response!.status()).toBe(200);
    expect(response!.headers()['content-security-policy']).toMatch(/default-src 'none'.*connect-src 'self'/);
    await page.waitForSelector('[data-vehicle="1"]', { timeout: 10_000 });
    expect(page.url()).toBe(`${base}/`);
    expect(await text('[data-vehicle="1"] .mode')).toBe('STABILIZE');
    expect(await text('[data-vehicle="1"] .state')).toBe('disarmed');
    expect(await text('#policy')).toContain('field-team-3');
    await page.waitForSelector('#clients tr[data-client]', { timeout: 10_000 });
    // The page's own socket is listed as a client of its token's role.
    await until(shows, ['#clients tbody', 'screen'], 'the page as a client');
    expect(await text('#clients tbody')).toMatch(/ws-json screen.*observer/);
  });

  it('shows position, heading, attitude, GPS and battery as the simulated vehicle sends them', async () => {
    await until(shows, ['[data-vehicle="1"] .gps', '3D fix, 12 satellites'], 'GPS');
    expect(await text('[data-vehicle="1"] .lat-lon')).toMatch(/^-35\.36326\d\d, 149\.16523\d\d/);
    expect(await text('[data-vehicle="1"] .alt')).toMatch(/0\.0 m above home · 584\.0 m MSL/);
    expect(await text('[data-vehicle="1"] .heading')).toMatch(/^\d+°$/);
    expect(await text('[data-vehicle="1"] .battery')).toMatch(/^12\.\d\d V · [\d.]+ A · 100%$/);
    const horizon = await page.evaluate(paintOf('[data-vehicle="1"] .horizon')) as { sky: number };
    expect(horizon.sky).toBeGreaterThan(1000);
    expect(await page.title()).toBe('STABILIZE — mavgate');
  });

  it('puts a pilot\'s arming, mode change and takeoff on the timeline and the vehicle panel, with who holds control', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws/mavlink?filter=^COMMAND_ACK$`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    await new Promise((r) => ws.once('open', r));
    const pilot = new Client(ws);
    expect(await pilot.request(commandLong('MAV_CMD_DO_SET_MODE', { param1: 1, param2: 4 }))).toMatch(/^Ok/);
    expect(await pilot.request(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toMatch(/^Ok/);
    expect(await pilot.request(commandLong('MAV_CMD_NAV_TAKEOFF', { param7: 20 }))).toMatch(/^Ok/);
    await until(shows, ['[data-vehicle="1"] .mode', 'GUIDED'], 'GUIDED on the page');
    await until(shows, ['[data-vehicle="1"] .state', 'ARMED'], 'ARMED on the page');
    await until(shows, ['#timeline', 'mode STABILIZE → GUIDED'], 'the mode change on the timeline');
    expect(await text('#timeline')).toContain('ARMED');
    expect(await text('#control')).toBe('control: alice (pilot)');
    await pilot.close();
  });

  it('shows the vehicle\'s messages by severity, home, and the radio\'s RSSI and noise (injected: the simulated vehicle on this branch does not send them)', async () => {
    inject(frame({ name: 'STATUSTEXT', fields: { severity: 2, text: 'PreArm: Compass not calibrated' } }, { seq: 1 }));
    inject(frame({ name: 'HOME_POSITION', fields: { latitude: -353632620, longitude: 1491652370, altitude: 584_000, x: 0, y: 0, z: 0, q: [1, 0, 0, 0], approach_x: 0, approach_y: 0, approach_z: 0 } }, { seq: 2 }));
    let n = 0;
    const radio = setInterval(() => inject(frame({ name: 'RADIO_STATUS', fields: { rssi: 180 + (n % 5), remrssi: 170, txbuf: 100, noise: 40, remnoise: 45, rxerrors: 0, fixed: 0 } }, { sysid: 51, compid: 68, seq: n++ & 0xff })), 200);
    try {
      await until(shows, ['#timeline .severity-alarm', 'PreArm: Compass not calibrated'], 'the STATUSTEXT on the timeline');
      expect(await text('#timeline .severity-alarm .severity')).toBe('CRITICAL');
      await page.waitForSelector('[data-chart="radio"]', { timeout: 10_000 });
      expect(await page.locator('[data-chart="radio"] .u-legend').textContent()).toMatch(/rssi.*remote rssi.*noise.*remote noise/);
      expect(await page.locator('#no-radio').isHidden()).toBe(true);
      await page.waitForSelector('[data-chart="frames"] canvas', { timeout: 10_000 });
    } finally {
      clearInterval(radio);
    }
  });

  it('shows the link\'s loss rising when the simulator drops packets', async () => {
    sim.vehicle.loss = 0.5;
    await until(([selector]) => Number.parseFloat(document.querySelector(selector!)?.textContent ?? '0') > 5, ['[data-link="link1"] .loss'], 'loss above 5% on the page', 15_000);
    sim.vehicle.loss = 0;
  });

  it('draws the flight\'s track to scale, with a scale bar', async () => {
    await until(() => Number(document.getElementById('track').dataset.points) > 20, [], 'the circle drawn', 15_000);
    // A 40 m circle: the scale bar is a few tens of metres.
    expect(Number(await page.evaluate(() => document.getElementById('track').dataset.scaleMetres))).toBeGreaterThanOrEqual(10);
    expect(Number(await page.evaluate(() => document.getElementById('track').dataset.scaleMetres))).toBeLessThanOrEqual(50);
    const track = await page.evaluate(paintOf('#track')) as { painted: number };
    expect(track.painted).toBeGreaterThan(500);
  });

  it('lists a refused destination in the residency panel, and shows a link that is down as an alarm', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const result = await gateway.reload([parseEndpoint(simEndpoint), parseEndpoint('udp:127.0.0.2:14550'), parseEndpoint(`tcp:127.0.0.1:${closedPort}`)]);
    expect(result.refused).toHaveLength(1);
    await until(([decoy]) => (document.querySelector('#refusals')?.textContent ?? '').includes(decoy!), ['127.0.0.2'], 'the refusal in the residency panel');
    expect(await text('#refusals li')).toMatch(/refused: 127\.0\.0\.2 \(loopback\) is in no approved network/);
    await until(shows, ['#alarms .alarm.alarm', `LINK tcp:127.0.0.1:${closedPort} DOWN: `], 'the link down alarm');
    expect(await page.title()).toMatch(/^⚠ LINK tcp:127\.0\.0\.1:\d+ DOWN/);
    await gateway.reload([parseEndpoint(simEndpoint)]);
    await until(() => document.querySelectorAll('#alarms .alarm').length === 0, [], 'the alarm gone with the link');
  });

  it('warns when bytes arrive on a link but its frames fail their checksum, with the likely cause', async () => {
    const noisyPort = await freeUdpPort();
    await gateway.reload([parseEndpoint(simEndpoint), parseEndpoint(`udp-listen:127.0.0.1:${noisyPort}`)]);
    const noisy = gateway.links.find((h) => h.link.endpoint.text !== simEndpoint)!;
    const socket = createSocket('udp4');
    const bad = frame({ name: 'ATTITUDE', fields: { time_boot_ms: 1, roll: 0, pitch: 0, yaw: 0, rollspeed: 0, pitchspeed: 0, yawspeed: 0 } });
    bad[bad.length - 1] ^= 0xff;
    const sending = setInterval(() => socket.send(Buffer.concat(Array.from({ length: 20 }, () => bad)), (noisy.link as UdpLink).localPort, '127.0.0.1'), 100);
    try {
      await until(shows, ['#alarms .alarm.warning', 'frames arrive but fail their checksum'], 'the warning', 15_000);
      expect(await text(`[data-link="${noisy.link.id}"] .diagnosis`)).toMatch(/fail their checksum/);
      const out = resolve(import.meta.dirname, '../test-output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
    } finally {
      clearInterval(sending);
      socket.close();
    }
    await gateway.reload([parseEndpoint(simEndpoint)]);
  });

  it('is usable 414 px wide: nothing wider than the screen', async () => {
    await page.setViewportSize({ width: 414, height: 900 });
    await until(() => document.documentElement.scrollWidth <= window.innerWidth, [], 'no horizontal overflow at 414 px');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(414);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('shows a lost vehicle as the loudest thing on the page, and a reload keeps its last known state, track and timeline', async () => {
    await sim.stop();
    await until(shows, ['#alarms .alarm.alarm', 'VEHICLE 1 LOST: no heartbeat for'], 'the lost vehicle alarm', 15_000);
    const lastPosition = await text('[data-vehicle="1"] .lat-lon');
    const points = await page.evaluate(() => Number(document.getElementById('track').dataset.points));
    expect(await text('#alarms .alarm.alarm')).toMatch(/last known at -35\.\d+, 149\.\d+, \d+ m above home, \d\d:\d\d:\d\d UTC/);
    expect(await page.title()).toMatch(/^⚠ VEHICLE 1 LOST/);
    expect(await text('[data-vehicle="1"] .status')).toBe('LOST');
    await page.reload();
    await until(shows, ['[data-vehicle="1"] .status', 'LOST'], 'LOST after a reload');
    expect((await text('[data-vehicle="1"] .lat-lon'))!.slice(0, 24)).toBe(lastPosition!.slice(0, 24));
    expect(await text('[data-vehicle="1"] .state')).toBe('ARMED');
    expect(await text('#timeline')).toMatch(/LOST: no heartbeat[\s\S]*mode STABILIZE → GUIDED/);
    await until(([n]) => Number(document.getElementById('track').dataset.points) === Number(n), [String(points)], 'the whole track after the reload');
  });

  it('asks for a token when refused, explains ?token=, and opens with the one typed in', async () => {
    const other = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    other.on('request', (r) => void requests.push(r.url()));
    await other.goto(`${base}/`);
    await other.waitForSelector('#token-form:not([hidden])', { timeout: 10_000 });
    expect(await other.locator('#token-form').textContent()).toMatch(/a token is required[\s\S]*mavgate token add[\s\S]*\/\?token=TOKEN/);
    await other.fill('#token-input', tokens.screen);
    await other.click('#token-form button');
    await other.waitForSelector('[data-vehicle="1"]', { timeout: 10_000 });
    expect(await other.locator('#token-form').isHidden()).toBe(true);
    await other.close();
  });

  it('draws the track over an offline map from an MBTiles file, its tiles served by mavgate', async () => {
    const maker = await browser.newPage({ viewport: { width: 256, height: 256 } });
    await maker.setContent('<body style="margin:0;background:#ff00ff"></body>');
    const magenta = await maker.screenshot({ clip: { x: 0, y: 0, width: 256, height: 256 } });
    await maker.close();
    // Tiles around the simulated vehicle's home (ArduPilot SITL, CMAC) at zoom 17.
    const z = 17;
    const lat = -35.363262;
    const x = Math.floor(((149.165237 + 180) / 360) * 2 ** z);
    const y = Math.floor(((1 - Math.log(Math.tan((lat * Math.PI) / 180) + 1 / Math.cos((lat * Math.PI) / 180)) / Math.PI) / 2) * 2 ** z);
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-dashboard-map-'));
    const tiles: [number, number, number, Buffer][] = [];
    for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) tiles.push([z, x + dx, 2 ** z - 1 - (y + dy), magenta]);
    makeMbtiles(join(dir, 'cmac.mbtiles'), 'png', tiles, [z, z]);
    const withMap = await ClientServices.start({ ...gateway, gate: gateFor({ approved_sinks: { directories: [dir] } }), stats: () => gateway.stats() } as unknown as Gateway, {
      ...DEFAULT_SERVER, listen: { host: '127.0.0.1', port: 0 }, dashboard: { ...DEFAULT_SERVER.dashboard, mapFile: join(dir, 'cmac.mbtiles') },
    }, 'test', () => {});
    const mapPage = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const asked: string[] = [];
    mapPage.on('request', (r) => void asked.push(r.url()));
    try {
      await mapPage.goto(`${withMap.server!.url}/`);
      await mapPage.waitForSelector('[data-vehicle="1"]', { timeout: 10_000 });
      await mapPage.waitForFunction(`(${paintOf('#track').replace('data[i] === 0x4f && data[i + 1] === 0x8f && data[i + 2] === 0xd8', 'data[i] === 255 && data[i + 1] === 0 && data[i + 2] === 255')}).sky > 10000`, undefined, { timeout: 10_000 });
      expect(await mapPage.locator('#track-note').textContent()).toMatch(/map: test map \(made in a test\), from a file mavgate reads/);
      expect(asked.some((u) => u.includes(`/v1/map/${z}/${x}/${y}`))).toBe(true);
      for (const url of asked) expect(new URL(url).host).toBe(new URL(withMap.server!.url).host);
    } finally {
      await mapPage.close();
      await withMap.stop();
    }
  });

  it('made no request outside its origin', async () => {
    const origin = new URL(base);
    expect(requests.length).toBeGreaterThan(10);
    for (const url of requests) expect(new URL(url).host).toBe(origin.host);
    expect(requests.some((u) => u.endsWith('/vendor/uPlot.esm.js'))).toBe(true);
  });
});

/** Keeps docs/dashboard.png current by hand: `UPDATE_SCREENSHOT=1 npx vitest run test/dashboard.test.ts`. */
afterAll(() => {
  const shot = resolve(import.meta.dirname, '../test-output/dashboard.png');
  if (process.env.UPDATE_SCREENSHOT && existsSync(shot)) copyFileSync(shot, resolve(import.meta.dirname, '../docs/dashboard.png'));
});
