/**
 * The dashboard's after-the-flight panel in headless Chromium: an admin lists the
 * vehicle's onboard logs, downloads one and follows its progress, sees it among the
 * files downloaded, and opens the post-flight report of the recording in one click;
 * an observer is told why it may not; nothing leaves the page's origin.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../src/cli/run.js';
import { DEFAULT_RECORDING, DEFAULT_RUN_CONFIG } from '../src/cli/run-config.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken } from '../src/server/tokens.js';
import { SIM_LOG_SHA256 } from '../src/sim/onboard-logs.js';
import { HAS_CHROMIUM, launchChromium } from './helpers/chromium.js';
import { until } from './helpers/wait.js';


/** The page's DOM, as seen from functions evaluated in it. */
declare const document: any;

describe.skipIf(!HAS_CHROMIUM)('the dashboard\'s after-the-flight panel', () => {
  const data = mkdtempSync(join(tmpdir(), 'mavgate-dash-logs-'));
  const tokens = { admin: generateToken(), screen: generateToken() };
  let running: RunningGateway;
  let browser: Browser;
  let base: string;
  const requests: string[] = [];

  beforeAll(async () => {
    running = await startGateway({
      ...DEFAULT_RUN_CONFIG,
      links: [{ kind: 'sim', text: 'sim' }],
      policy: parsePolicy({ site: 'field-3', approved_sinks: { directories: [data] } }, 'test policy'),
      statusIntervalMs: 0,
      recording: { ...DEFAULT_RECORDING, flushIntervalMs: 100 },
      server: {
        ...DEFAULT_SERVER,
        listen: { host: '127.0.0.1', port: 0 },
        tokens: [
          { name: 'admin', role: 'admin', sha256: hashToken(tokens.admin), sources: DEFAULT_SOURCES },
          { name: 'screen', role: 'observer', sha256: hashToken(tokens.screen), sources: DEFAULT_SOURCES },
        ],
      },
    }, () => {});
    base = running.clients!.server!.url;
    await until(() => running.gateway.state.vehicles().length > 0 && (running.recorder?.stats().files[0]?.frames ?? 0) > 0, 'the vehicle heard and recorded', 10_000);
    browser = await launchChromium();
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  async function page(token: string) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    context.on('request', (r) => void requests.push(r.url()));
    const p = await context.newPage();
    await p.goto(`${base}/?token=${token}`);
    return { context, page: p };
  }

  it('lists the vehicle\'s logs, downloads one with progress, and shows it among the files downloaded', async () => {
    const { context, page: p } = await page(tokens.admin);
    try {
      await p.click('#logs-vehicles button[data-vehicle="1"]', { timeout: 10_000 });
      await p.waitForSelector('#vehicle-logs tr[data-log="3"]', { timeout: 10_000 });
      expect(await p.textContent('#logs-note')).toBe('vehicle 1: 4 onboard log(s)');
      await p.click('#vehicle-logs tr[data-log="3"] button');
      await p.waitForSelector('#log-downloads tr[data-job] progress', { timeout: 10_000 });
      await p.waitForFunction(() => /^done: 2\.50 MB of 2\.50 MB/.test(document.querySelector('#log-downloads tr[data-job] .state')?.textContent ?? ''), undefined, { timeout: 20_000 });
      await p.waitForSelector('#log-files tr[data-file="field-3_sys1_log3_20260702T080000Z.bin"]', { timeout: 10_000 });
      await p.waitForFunction(() => document.querySelector('#vehicle-logs tr[data-log="3"] button').disabled, undefined, { timeout: 10_000 });
      const sha = await p.getAttribute('#log-files tr[data-file] td:nth-child(4)', 'title');
      expect(sha).toBe(SIM_LOG_SHA256[3]);
      expect(await p.textContent('#logs-directory')).toBe(join(data, 'logs'));
      const out = resolve(import.meta.dirname, '../test-output');
      mkdirSync(out, { recursive: true });
      await p.locator('#logs-panel').screenshot({ path: join(out, 'dashboard-logs.png') });
    } finally {
      await context.close();
    }
  }, 40_000);

  it('opens the post-flight report of the recording in one click, with a policy that allows no request', async () => {
    const { context, page: p } = await page(tokens.screen);
    try {
      const link = p.locator('#recordings tr[data-recording] a').first();
      await link.waitFor({ timeout: 10_000 });
      const [report] = await Promise.all([context.waitForEvent('page'), link.click()]);
      await report.waitForFunction(() => document.body?.dataset.plots !== undefined, undefined, { timeout: 20_000 });
      expect(Number(await report.evaluate(() => document.body.dataset.plots))).toBeGreaterThanOrEqual(4);
      expect(await report.textContent('[data-figure="integrity"] td')).toMatch(/no SHA-256|matches/);
      expect(await report.textContent('#provenance')).toContain('field-3');
      const served = await fetch(new URL((await link.getAttribute('href'))!, base), { headers: { authorization: `Bearer ${tokens.screen}` } });
      expect(served.status).toBe(200);
      expect(served.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'unsafe-inline'/);
      // The observer may read reports, but not ask the vehicle for its logs.
      await p.click('#logs-vehicles button[data-vehicle="1"]', { timeout: 10_000 });
      await p.waitForFunction(() => /observers receive telemetry only/.test(document.querySelector('#logs-note').textContent), undefined, { timeout: 10_000 });
    } finally {
      await context.close();
    }
    const origin = new URL(base).host;
    expect(requests.length).toBeGreaterThan(5);
    for (const url of requests) expect(new URL(url).host).toBe(origin);
  }, 40_000);
});
