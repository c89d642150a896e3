/**
 * Secrets at rest (the recordings' and signing key, TLS private keys, the session key) are
 * their owner's alone: a file that group or others could read or write is refused before
 * a byte of it is used, naming its mode and the command that fixes it.
 */
import { readFileSync, statSync } from 'node:fs';

/**
 * Reads a secret file as text. `fail` makes the caller's own error from a reason;
 * `missing` is the reason when there is no such file (what to run to make one).
 */
export function readOwnerOnlyFile(path: string, fail: (reason: string) => Error, missing = 'no such file'): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code === 'ENOENT' ? missing : (err as Error).message);
  }
  if ((mode & 0o077) !== 0) throw fail(`readable or writable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`);
  return readFileSync(path, 'utf8');
}
