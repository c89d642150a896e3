/**
 * Progress of long commands: on a real terminal (a pseudo-terminal from `script`), a bar
 * with rate and ETA that log lines never break and that gives the terminal back however
 * the command ends; without a terminal, nothing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { progress, RateMeter } from '../src/cli/progress.js';
import { encodeTlogRecord } from '../src/mavlink/index.js';
import { MAVGATE, runMavgate, withTestDefaults } from './helpers/cli.js';
import { corpusFile, HAS_CORPUS, CORPUS_SKIP_NOTE } from './helpers/corpus.js';
import { attitude, heartbeat } from './helpers/frames.js';

describe('progress without a terminal', () => {
  it('writes nothing: stderr off a terminal carries only what scripts read', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const p = progress('export x.tlog', 1000, stream);
    for (const done of [50, 100, 99, 350, 1000]) p.update(done, 'detail');
    p.stop();
    expect(lines).toEqual([]);
  });

  it('export with stderr to a pipe prints its summary and no progress line, as decode does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-progress-'));
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks: { directories: [${dir}] }\n`);
    const source = join(dir, 'flight.tlog');
    writeFileSync(source, Buffer.concat(Array.from({ length: 400 }, (_, i) => encodeTlogRecord(1_764_000_000_000_000 + i * 10_000, i % 10 === 0 ? heartbeat(i & 0xff) : attitude(i & 0xff)))));
    const out = join(dir, 'flight.jsonl');
    const run = await runMavgate(['export', source, '--format', 'jsonl', '--policy', join(dir, 'policy.yaml'), '--out', out]);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/\d+% \||ETA/);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${out}: {"`)).toBe(true);
    const decoded = await runMavgate(['decode', source]);
    expect(decoded.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('measures the rate over the last seconds', () => {
    let now = 0;
    const meter = new RateMeter(() => now);
    expect(meter.observe(0)).toBeNull();
    now = 1000;
    expect(meter.observe(1000)).toBe(1000);
    now = 2000;
    expect(meter.observe(4000)).toBe(2000);
  });
});

const HAS_SCRIPT = (() => {
  try {
    return spawn('script', ['--version']).pid !== undefined;
  } catch {
    return false;
  }
})();

/** Runs a shell command on a pseudo-terminal (util-linux `script`), returning everything the terminal received. */
function onTerminal(command: string, whileRunning?: (output: () => string, pid: () => number | undefined) => Promise<void>): Promise<{ code: number | null; output: string }> {
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, TERM: 'xterm', COLUMNS: '200', LINES: '40' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => resolve({ code, output })));
  void whileRunning?.(() => output, () => child.pid);
  return done;
}

const mavgate = (args: string[]) => [process.execPath, MAVGATE, ...withTestDefaults(args)].map((a) => `'${a}'`).join(' ');
/** What the terminal shows, line by line: a return to column 1 starts the line again, other escape sequences removed. */
const screenLines = (output: string) => output.replace(/\x1b\[1?G/g, '\r').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\n').map((l) => l.split('\r').filter(Boolean).at(-1) ?? '');
const cursorShownAtEnd = (output: string) => output.lastIndexOf('\x1b[?25h') > output.lastIndexOf('\x1b[?25l');

describe.skipIf(!HAS_SCRIPT)('progress bars on a terminal', () => {
  it('replay: a recording whose clock goes back and jumps ahead plays through with rate and ETA, log lines above the bar, the cursor given back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-progress-'));
    const T0 = 1_764_000_000_000_000;
    // 3 s of frames, then the clock set back an hour, then forward a day: at 1× it lasts about 3 s, never an hour.
    const times = [...Array.from({ length: 30 }, (_, i) => T0 + i * 100_000), ...Array.from({ length: 5 }, (_, i) => T0 - 3600e6 + i * 100_000), ...Array.from({ length: 5 }, (_, i) => T0 + 86_400e6 + i * 100_000)];
    const path = join(dir, 'clock.tlog');
    writeFileSync(path, Buffer.concat(times.map((t, i) => encodeTlogRecord(t, i % 10 === 0 ? heartbeat(i) : attitude(i)))));
    const started = Date.now();
    const { code, output } = await onTerminal(`${mavgate(['replay', path, '--speed', '1', '--no-server'])}`);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const lines = screenLines(output);
    const bar = lines.filter((l) => l.startsWith('replay 1× ['));
    expect(bar.at(-1)).toMatch(/\] 100% \| \d+(\.\d)? kB\/\d+(\.\d)? kB \| [\d.]+ (B|kB)\/s \| ETA 00:00 \d\d:\d\d recorded, 40 frames/);
    expect(bar.join('\n')).not.toMatch(/-\d\d:/);
    // Every log line begins its own line: none is glued to the bar.
    for (const l of lines) if (/\d\d:\d\d:\d\d\.\d{3} (info|warn)/.test(l)) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (info|warn) /);
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} info  end of the recording: closing links/.test(l))).toBe(true);
    expect(cursorShownAtEnd(output)).toBe(true);
  }, 30_000);

  it.skipIf(!HAS_CORPUS)(`decode and export: a bar with rate and ETA${CORPUS_SKIP_NOTE}`, async () => {
    const source = corpusFile('tlog', 'arducopter_2015-07-05_v1.tlog');
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-progress-'));
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks: { directories: [${dir}] }\n`);
    const decode = await onTerminal(`${mavgate(['decode', source])} > /dev/null`);
    expect(decode.code).toBe(0);
    expect(screenLines(decode.output).find((l) => l.startsWith('decode arducopter'))).toMatch(/\] 100% \| 2\.7 MB\/2\.7 MB \| [\d.]+ (kB|MB)\/s \| ETA 00:00/);
    const exported = await onTerminal(mavgate(['export', source, '--format', 'csv', '--policy', join(dir, 'policy.yaml'), '--out', join(dir, 'csv')]));
    expect(exported.code).toBe(0);
    expect(screenLines(exported.output).find((l) => l.startsWith('export arducopter'))).toMatch(/\] 100% \| 2\.7 MB\/2\.7 MB \| [\d.]+ (kB|MB)\/s \| ETA 00:00/);
    expect(cursorShownAtEnd(decode.output) && cursorShownAtEnd(exported.output)).toBe(true);
  }, 30_000);

  it('Ctrl-C while a bar is shown gives the cursor back, and the signal still ends the command', async () => {
    const script = `import('${join(import.meta.dirname, '../dist/cli/progress.js')}').then((m) => { const p = m.progress('work', 100); p.update(10); process.stderr.write('PID=' + process.pid + '.'); setInterval(() => {}, 1000); })`;
    let signalled = false;
    const { code, output } = await onTerminal(`'${process.execPath}' -e "${script}"`, async (out) => {
      const deadline = Date.now() + 10_000;
      while (!/PID=\d+\./.test(out()) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      // SIGINT to that node process, as a terminal's Ctrl-C would send it.
      process.kill(Number(/PID=(\d+)\./.exec(out())![1]), 'SIGINT');
      signalled = true;
    });
    expect(signalled).toBe(true);
    expect(code).toBe(130);
    expect(output).toMatch(/work \[/);
    expect(cursorShownAtEnd(output)).toBe(true);
  }, 20_000);
});
