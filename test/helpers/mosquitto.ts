/** A real Mosquitto broker (Debian's package) on a loopback port, stoppable and restartable with its sessions. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { freeTcpPort } from './ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const HAS_MOSQUITTO = existsSync(MOSQUITTO);
if (!HAS_MOSQUITTO) console.warn(`${MOSQUITTO} not found: MQTT tests skipped (.ci/run installs the Debian package mosquitto)`);


export class Mosquitto {
  private child: ChildProcess | null = null;
  readonly dir: string;

  private constructor(readonly port: number, private readonly extra: string[]) {
    this.dir = mkdtempSync(join(tmpdir(), 'mavgate-mosquitto-'));
    // Started as root, mosquitto drops to its own user: it must be able to write its sessions here.
    chmodSync(this.dir, 0o777);
  }

  /** `extra`: more configuration lines for the listener (TLS settings, say). */
  static async start(extra: string[] = []): Promise<Mosquitto> {
    const broker = new Mosquitto(await freeTcpPort(), extra);
    await broker.restart();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts (again), keeping persistent sessions across a stop. */
  async restart(): Promise<void> {
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(conf, [
      `listener ${this.port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${this.dir}/`,
      'log_dest stderr', ...this.extra, '',
    ].join('\n'));
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    let exited = false;
    child.once('exit', () => (exited = true));
    // Ready when it accepts a connection (its log is buffered when not on a terminal).
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exited) throw new Error(`mosquitto exited (${child.exitCode}):\n${log}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not start listening on ${this.port}:\n${log}`);
      const accepted = await new Promise<boolean>((resolve) => {
        const probe = connect(this.port, '127.0.0.1', () => {
          probe.destroy();
          resolve(true);
        });
        probe.on('error', () => resolve(false));
      });
      if (accepted) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    this.child = null;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}
