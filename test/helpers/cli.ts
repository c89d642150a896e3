/** Running the built `mavgate` executable as a user would, and waiting for it to finish. */
import { spawn, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const MAVGATE = resolve(import.meta.dirname, '../../dist/cli/main.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Tests run many gateways at once: unless a test says otherwise, `mavgate run` serves its
 * clients on a free port instead of the default 8088, and records nothing in the working
 * directory.
 */
export function withTestDefaults(args: string[]): string[] {
  if (args[0] !== 'run' && args[0] !== 'replay' && args[0] !== 'fleet') return args;
  const out = [...args];
  if (!args.some((a) => a === '--listen' || a === '--no-server')) out.push('--listen', '127.0.0.1:0');
  if (!args.some((a) => a === '--record' || a === '--no-record')) out.push('--no-record');
  return out;
}

export function runMavgate(args: string[], options: { input?: Buffer; nodeArgs?: string[]; stdout?: number } = {}): Promise<Run> {
  if (!existsSync(MAVGATE)) throw new Error(`${MAVGATE} is missing: run npm run build first (npm test does)`);
  const stdio: StdioOptions = ['pipe', options.stdout ?? 'pipe', 'pipe'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), MAVGATE, ...withTestDefaults(args)], { stdio });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => {}); // a child that exits before reading all of its input
  child.stdin!.end(options.input ?? Buffer.alloc(0));
  return new Promise((resolveRun, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}
