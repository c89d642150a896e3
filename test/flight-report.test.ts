/**
 * The post-flight report of the shared corpus's real recordings, opened in headless
 * Chromium with the network blocked: every plot drawn with data, no request leaving the
 * page, and the summary's figures equal to what this test computes on its own from the
 * reference decoder's output (pymavlink's, in the corpus).
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReport } from '../src/cli/report.js';
import { ResidencyRefusal } from '../src/residency/gate.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { ChunkSealer } from '../src/sinks/encryption.js';
import { MinMaxSeries } from '../src/sinks/flight-report/decimate.js';
import { HAS_CHROMIUM, launchChromium } from './helpers/chromium.js';
import { corpusFile, HAS_CORPUS, readJsonLinesGz, TLOG_NAMES } from './helpers/corpus.js';
import { createHash } from 'node:crypto';


/** The page's DOM as seen from the functions evaluated in it (the tests are typed for Node). */
declare const document: any;

interface Expected {
  ts_us: number;
  sysid: number;
  compid: number;
  ok: boolean;
  name?: string;
  fields?: Record<string, number>;
}

/** Flight time, max altitude and distance, computed here from pymavlink's decoding, as the report defines them. */
function independentFigures(name: string) {
  const records = readJsonLinesGz<Expected>('tlog', `${name}.expected.jsonl.gz`).filter((r) => r.ok);
  const first = records.find((r) => r.name === 'HEARTBEAT' && r.fields!.autopilot !== 8 && r.fields!.type !== 6)!;
  const ours = (r: Expected) => r.sysid === first.sysid && r.compid === first.compid;
  let armed = false;
  let armedAt = 0;
  let flightTime = 0;
  let maxAlt = Number.NEGATIVE_INFINITY;
  let distance = 0;
  let last: { lat: number; lon: number } | null = null;
  let fixes = 0;
  const rad = Math.PI / 180;
  for (const r of records) {
    if (!ours(r)) continue;
    if (r.name === 'HEARTBEAT') {
      const a = (r.fields!.base_mode! & 128) !== 0;
      if (a && !armed) {
        armedAt = r.ts_us;
        last = null;
      }
      if (!a && armed) flightTime += (r.ts_us - armedAt) / 1e6;
      armed = a;
    } else if (r.name === 'GLOBAL_POSITION_INT') {
      if (r.fields!.lat !== 0 || r.fields!.lon !== 0) fixes++;
      if (!armed) continue;
      maxAlt = Math.max(maxAlt, r.fields!.relative_alt! / 1000);
      const p = { lat: r.fields!.lat! / 1e7, lon: r.fields!.lon! / 1e7 };
      if (p.lat === 0 && p.lon === 0) continue;
      if (last) {
        const h = Math.sin(((p.lat - last.lat) * rad) / 2) ** 2 + Math.cos(last.lat * rad) * Math.cos(p.lat * rad) * Math.sin(((p.lon - last.lon) * rad) / 2) ** 2;
        distance += 2 * 6_371_008.8 * Math.asin(Math.sqrt(h));
      }
      last = p;
    }
  }
  if (armed) flightTime += (records.at(-1)!.ts_us - armedAt) / 1e6;
  return { flightTime, maxAlt, distance, fixes };
}

describe('the vehicle\'s firmware', () => {
  it('is read from its boot banner (STATUSTEXT) even when the banner comes before its first heartbeat', async () => {
    const { FlightAnalysis } = await import('../src/sinks/flight-report/flight-analysis.js');
    const { FrameDecoder } = await import('../src/mavlink/index.js');
    const { frame, registry } = await import('./helpers/frames.js');
    const analysis = new FlightAnalysis(registry);
    let t = 0;
    const decoder = new FrameDecoder(registry, (f) => analysis.observe(f, (t += 100_000)));
    decoder.push(frame({ name: 'STATUSTEXT', fields: { severity: 6, text: 'Frame: QUAD/X' } }));
    decoder.push(frame({ name: 'STATUSTEXT', fields: { severity: 6, text: 'ArduCopter V4.5.7 (mavgate simulated vehicle)' } }));
    decoder.push(frame({ name: 'STATUSTEXT', fields: { severity: 6, text: 'ArduPlane V4.1.0' } }, { sysid: 2 }));
    decoder.push(frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3 } }));
    expect(analysis.finish().vehicle?.firmware).toBe('ArduCopter V4.5.7 (mavgate simulated vehicle)');
  });
});

describe('min/max-preserving decimation', () => {
  it('keeps every extreme of a day of 10 Hz samples in at most two points per bucket', () => {
    const series = new MinMaxSeries(500);
    const spikes = new Map([[12_345.6, 99], [40_000.1, -77], [86_000.3, 55]]);
    for (let i = 0; i < 864_000; i++) {
      const t = 1_700_000_000 + i / 10;
      series.add(t, spikes.get(Math.round((i / 10) * 10) / 10) ?? Math.sin(i / 1000));
    }
    const [ts, vs] = series.points();
    expect(ts.length).toBeLessThanOrEqual(1000);
    expect(ts.length).toBeGreaterThan(400);
    for (const [at, v] of spikes) expect(ts[vs.indexOf(v)]).toBeCloseTo(1_700_000_000 + at, 3);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect([series.min, series.max]).toEqual([-77, 99]);
  });
});

describe.skipIf(!HAS_CORPUS || !HAS_CHROMIUM)('the post-flight report of real recordings, in headless Chromium with no network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mavgate-report-'));
  const policy = parsePolicy({ approved_sinks: { directories: [dir] } }, 'test policy');
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a report with every request but the file itself refused, and returns what the page asked for. */
  async function open(file: string) {
    const context = await browser.newContext({ offline: true });
    const requests: string[] = [];
    await context.route('**/*', (route) => {
      requests.push(route.request().url());
      return route.request().url().startsWith('file:') ? route.continue() : route.abort();
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`);
    await page.waitForFunction(() => document.body.dataset.plots !== undefined, undefined, { timeout: 10_000 });
    return { page, context, requests, errors };
  }

  const figure = (page: Awaited<ReturnType<typeof open>>['page'], name: string) =>
    page.evaluate((n: string) => Number(document.querySelector(`[data-figure="${n}"]`)?.dataset.value), name);

  for (const name of TLOG_NAMES.filter((n) => !n.endsWith('_cut'))) {
    it(`${name}: every plot drawn with data, nothing requested, figures as computed independently`, async () => {
      const out = join(dir, `${name}.html`);
      const result = await runReport({ input: corpusFile('tlog', `${name}.tlog`), key: null, out, policy, progress: false });
      expect(result.bytes).toBeLessThan(5e6);
      const { page, context, requests, errors } = await open(out);
      try {
        expect(errors).toEqual([]);
        const plots = await page.evaluate(() => [...document.querySelectorAll('.plot')].map((el: any) => {
          const canvas = el.querySelector('canvas');
          const pixels: Uint8ClampedArray = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++;
          return { id: el.id, points: Number(el.dataset.points), painted };
        }));
        expect(plots.length).toBeGreaterThanOrEqual(6);
        expect(Number(await page.evaluate(() => document.body.dataset.plots))).toBe(plots.length);
        for (const p of plots) {
          expect(p.points, p.id).toBeGreaterThan(10);
          expect(p.painted, p.id).toBeGreaterThan(1000);
        }
        expect(plots.map((p) => p.id)).toEqual(expect.arrayContaining(['plot-altitude', 'plot-speed', 'plot-attitude', 'plot-battery', 'plot-gps', 'plot-link']));
        const independent = independentFigures(name);
        const polylines = await page.evaluate(() => document.querySelectorAll('#track svg polyline').length);
        if (independent.fixes > 10) expect(polylines).toBeGreaterThan(2);
        else expect(await page.evaluate(() => document.querySelector('#track').textContent)).toMatch(/No position in the recording|take-off/);
        expect(await page.evaluate(() => document.querySelectorAll('#timeline tbody tr').length)).toBeGreaterThan(3);

        expect(await figure(page, 'flight-time-s')).toBeCloseTo(independent.flightTime, 3);
        expect(await figure(page, 'max-altitude-m')).toBeCloseTo(independent.maxAlt, 3);
        expect(await figure(page, 'distance-m')).toBeCloseTo(independent.distance, 1);
        // Only the page itself was asked for.
        expect(requests).toEqual([`file://${out}`]);
      } finally {
        await context.close();
      }
    }, 60_000);
  }

  it('says whether the file matches its sidecar\'s SHA-256, and reads an encrypted recording with its key', async () => {
    const source = corpusFile('tlog', 'arduplane_vtol_2018-08-08_v1.tlog');
    const plain = readFileSync(source);
    const key = Buffer.alloc(32, 5);
    const sealer = new ChunkSealer(key);
    const sealed = Buffer.concat([sealer.header(), sealer.seal(plain), sealer.seal(Buffer.alloc(0), true)]);
    const enc = join(dir, 'sealed.tlog.enc');
    writeFileSync(enc, sealed);
    writeFileSync(`${enc}.json`, JSON.stringify({ site: 'field-3', jurisdiction: 'EU/FR', policy_sha256: 'ab'.repeat(32), sha256: createHash('sha256').update(sealed).digest('hex') }));
    const tampered = join(dir, 'tampered.tlog');
    copyFileSync(source, tampered);
    writeFileSync(`${tampered}.json`, JSON.stringify({ site: 'field-3', sha256: '00'.repeat(32) }));
    for (const [input, k, verdict] of [[enc, key, 'true'], [tampered, null, 'false']] as const) {
      const out = join(dir, `${input.split('/').at(-1)}.html`);
      await runReport({ input, key: k, out, policy, progress: false });
      const { page, context } = await open(out);
      try {
        expect(await page.evaluate(() => document.querySelector('[data-figure="integrity"]').dataset.value)).toBe(verdict);
        expect(await page.evaluate(() => document.querySelector('#provenance').textContent)).toContain('field-3');
        expect(await figure(page, 'flights')).toBe(1);
      } finally {
        await context.close();
      }
    }
  }, 60_000);

  it('writes only into an approved directory', async () => {
    const elsewhere = join(tmpdir(), `mavgate-not-approved-${process.pid}`);
    await expect(runReport({ input: corpusFile('tlog', 'arducopter_2012-11-18_v1_cut.tlog'), key: null, out: join(elsewhere, 'r.html'), policy, progress: false }))
      .rejects.toThrow(ResidencyRefusal);
    expect(existsSync(elsewhere)).toBe(false);
  });
});
