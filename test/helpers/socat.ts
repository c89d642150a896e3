/** A real pseudo-terminal pair made by socat: one end for the link under test, one for its peer. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export class PtyPair {
  private constructor(private readonly child: ChildProcess, readonly a: string, readonly b: string) {}

  /** Starts socat with stable paths (symlinks) `dir/name-a` and `dir/name-b`; resolves when both exist. */
  static async start(dir: string, name = 'tty'): Promise<PtyPair> {
    const a = join(dir, `${name}-a`);
    const b = join(dir, `${name}-b`);
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', (err) => reject(new Error(`cannot start socat (is it installed?): ${err.message}`)));
      child.on('exit', (code) => reject(new Error(`socat exited with ${code}: ${stderr}`)));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('starting data transfer loop')) resolve();
      });
    });
    child.removeAllListeners('exit');
    return new PtyPair(child, a, b);
  }

  /** Kills socat: both pseudo-terminals vanish, as a radio does when unplugged. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}
