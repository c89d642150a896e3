/**
 * A browser shows nothing of a refused WebSocket but a failed connection: mavgate logs
 * each refused upgrade once per origin (or address) with what to change, and lists it in
 * the dashboard's latest refusals. A real page on another origin in headless Chromium,
 * and a real ws client without a token.
 */
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import { ClientServices } from '../src/server/client-services.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken } from '../src/server/tokens.js';
import { gateFor } from './helpers/gate.js';
import { until } from './helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);

describe.skipIf(!HAS_CHROMIUM)('refused WebSocket upgrades', () => {
  let gateway: Gateway;
  let services: ClientServices;
  let browser: Browser;
  let otherSite: Server;
  let base: string;
  const logged: string[] = [];
  const screen = generateToken();

  beforeAll(async () => {
    gateway = new Gateway({ links: [parseEndpoint('sim')], gate: gateFor({}), sim: { rate: 5 } });
    await gateway.start();
    services = await ClientServices.start(gateway, {
      ...DEFAULT_SERVER, listen: { host: '127.0.0.1', port: 0 },
      tokens: [{ name: 'screen', role: 'observer', sha256: hashToken(screen), sources: DEFAULT_SOURCES }],
    }, 'test', (_level, message) => logged.push(message));
    base = services.server!.url;
    // A page served from another origin (another port) that tries mavgate's socket three times, as a web ground station would.
    otherSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<script>
        let tries = 0;
        const attempt = () => { const ws = new WebSocket('${base.replace('http', 'ws')}/v1/ws/mavlink?token=${screen}'); ws.onclose = () => { if (++tries < 3) attempt(); else document.title = 'refused ' + tries; }; };
        attempt();
      </script>`);
    });
    otherSite.listen(0, '127.0.0.1');
    await once(otherSite, 'listening');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    otherSite?.close();
    await services?.stop();
    await gateway?.stop();
  });

  it('logs a page\'s refused origin once, with the flag that lets it in, and shows it in the dashboard\'s latest refusals', async () => {
    const origin = `http://127.0.0.1:${(otherSite.address() as { port: number }).port}`;
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.title === 'refused 3', undefined, { timeout: 10_000 });
    const lines = logged.filter((l) => l.includes(`(page at ${origin})`));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`refused \\(403\\): Origin ${origin} is not allowed.*start mavgate with --origin ${origin}`))]);

    const dashboard = await browser.newPage();
    await dashboard.goto(`${base}/?token=${screen}`);
    await dashboard.waitForFunction((o) => (document.querySelector('#refusals')?.textContent ?? '').includes(`--origin ${o}`), origin, { timeout: 10_000 });
  });

  it('logs a client without a token once per address, with how to give one', async () => {
    for (let i = 0; i < 3; i++) {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws/raw`).on('error', () => {});
      const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
      expect(status).toBe(401);
      ws.terminate();
    }
    await until(() => logged.some((l) => l.startsWith('WebSocket /v1/ws/raw from 127.0.0.1 refused (401)')), 'the log line');
    expect(logged.filter((l) => l.includes('refused (401)'))).toEqual([expect.stringMatching(/a token is required.*open the page with \?token=TOKEN/)]);
    expect(gateway.gate.recentRefusals.map((r) => r.event)).toEqual(['client_refused', 'client_refused']);
  });
});

declare const document: { title: string; querySelector(selector: string): { textContent: string | null } | null };
