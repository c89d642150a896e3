/** The key of encrypted recordings: 32 bytes as 64 hex digits in a file only its owner can read. */
import { readOwnerOnlyFile } from '../residency/owner-only.js';
import { KEY_BYTES } from './encryption.js';

export class KeyFileError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`key file ${path}: ${reason}`);
    this.name = 'KeyFileError';
  }
}

/** Reads a key, refusing a file that group or others could read (or write). */
export function loadKey(path: string): Buffer {
  const text = readOwnerOnlyFile(path, (reason) => new KeyFileError(path, reason), 'no such file (create one with mavgate key generate FILE)').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new KeyFileError(path, `expected ${KEY_BYTES * 2} hex digits (mavgate key generate writes one)`);
  return Buffer.from(text, 'hex');
}
