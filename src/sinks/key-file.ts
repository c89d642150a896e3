/** The key of encrypted recordings: 32 bytes as 64 hex digits in a file only its owner can read. */
import { readFileSync, statSync } from 'node:fs';
import { KEY_BYTES } from './encryption.js';

export class KeyFileError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`key file ${path}: ${reason}`);
    this.name = 'KeyFileError';
  }
}

/** Reads a key, refusing a file that group or others could read (or write). */
export function loadKey(path: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new KeyFileError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (create one with mavgate key generate FILE)' : (err as Error).message);
  }
  if ((mode & 0o077) !== 0) {
    throw new KeyFileError(path, `readable or writable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600 ${path}`);
  }
  const text = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new KeyFileError(path, `expected ${KEY_BYTES * 2} hex digits (mavgate key generate writes one)`);
  return Buffer.from(text, 'hex');
}
