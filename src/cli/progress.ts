/**
 * Progress of a long command: a bar (cli-progress) with rate and ETA when stderr is a
 * terminal, nothing when it is not (a log file, CI, systemd's journal): there stderr
 * carries the summaries and log lines that scripts read. While a bar is shown, log lines
 * go above it (terminal.ts), never into it, and the terminal is given back as it was
 * (cursor shown, bar ended with a newline) however the command ends: done, an error,
 * Ctrl-C or SIGTERM.
 */
import cliProgress from 'cli-progress';
import { barShown } from './terminal.js';

export interface Progress {
  /** `done` of the total (bytes), and a few words about where the work is. */
  update(done: number, detail?: string): void;
  stop(): void;
}

const WINDOW_MS = 10_000;

/** Rate over the last ten seconds, and the time left at that rate. */
export class RateMeter {
  private readonly samples: { at: number; done: number }[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Units per second, or null before two samples a moment apart. */
  observe(done: number): number | null {
    const at = this.now();
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[0]!.at > WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (at - first.at) / 1000;
    return seconds > 0.05 ? Math.max(0, (done - first.done) / seconds) : null;
  }
}

export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** "12.3/98.7 MB | 4.1 MB/s | ETA 00:21": where the work is, how fast it goes, how long is left. */
export function describeProgress(done: number, total: number, rate: number | null): string {
  const left = done >= total ? formatDuration(0) : rate && rate > 0 ? formatDuration((total - done) / rate) : '--:--';
  return `${formatBytes(done)}/${formatBytes(total)} | ${rate === null ? '…' : `${formatBytes(Math.round(rate))}/s`} | ETA ${left}`;
}

interface ActiveBar {
  stream: NodeJS.WritableStream;
  bars: cliProgress.MultiBar;
  done: boolean;
}

function finish(bar: ActiveBar): void {
  if (bar.done) return;
  bar.done = true;
  barShown(bar.stream, null);
  // Lines logged since the last redraw first, then the final bar and its newline; the cursor comes back.
  bar.bars.update();
  bar.bars.stop();
}

/** The one rule for every command: progress is shown on a terminal only. */
export function showsProgress(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY === true;
}

export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!showsProgress(stream)) return { update() {}, stop() {} };
  const meter = new RateMeter();
  const bars = new cliProgress.MultiBar(
    { format: `${label} [{bar}] {percentage}% | {amounts} {detail}`, stream, hideCursor: true, clearOnComplete: false, linewrap: false, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(Math.max(1, total), 0, { amounts: describeProgress(0, total, null), detail: '' });
  const current: ActiveBar = { stream, bars, done: false };
  barShown(stream, (line) => bars.log(line));
  const onExit = () => finish(current);
  // Ctrl-C or SIGTERM while the bar is shown: give the terminal back, then let the signal do what it would have done.
  const onSignal = (signal: NodeJS.Signals) => {
    finish(current);
    process.off('exit', onExit);
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.once('exit', onExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    update(done, detail = '') {
      const clamped = Math.max(0, Math.min(done, total));
      bar.update(clamped, { amounts: describeProgress(clamped, total, meter.observe(clamped)), detail });
    },
    stop() {
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      finish(current);
    },
  };
}
