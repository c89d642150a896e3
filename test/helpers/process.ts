/** A long-running mavgate process (run, sim): wait for lines on its stderr, stop it with a signal. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { MAVGATE, withTestDefaults } from './cli.js';

/** Every process still running; killed when the test worker exits, so a failed test leaves none behind. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class MavgateProcess {
  stderr = '';
  private readonly waiters: { pattern: RegExp; resolve: () => void }[] = [];

  private constructor(readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      for (const w of [...this.waiters]) {
        if (w.pattern.test(this.stderr)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  }

  /** `testDefaults` false: the arguments exactly as given (no free server port, no --no-record added); `env`: added to this process's. */
  static start(args: string[], testDefaults = true, env: NodeJS.ProcessEnv = {}): MavgateProcess {
    const child = spawn(process.execPath, [MAVGATE, ...(testDefaults ? withTestDefaults(args) : args)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    running.add(child);
    child.once('exit', () => running.delete(child));
    return new MavgateProcess(child);
  }

  /** Resolves when stderr (so far, or later) matches; fails after `ms` or if the process exits first. */
  waitFor(pattern: RegExp, ms = 10_000): Promise<void> {
    if (pattern.test(this.stderr)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${pattern} in:\n${this.stderr}`)), ms);
      const exited = () => reject(new Error(`mavgate exited (${this.child.exitCode}) before ${pattern} appeared:\n${this.stderr}`));
      this.child.once('exit', exited);
      this.waiters.push({ pattern, resolve: () => { clearTimeout(timer); this.child.off('exit', exited); resolve(); } });
    });
  }

  /** Count of matches so far. */
  count(pattern: RegExp): number {
    return (this.stderr.match(new RegExp(pattern.source, 'g')) ?? []).length;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = once(this.child, 'exit');
    this.child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  }
}
