/** `mavgate key generate FILE`: a new recording key, readable by its owner only, never overwriting one. */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { KEY_BYTES } from '../sinks/encryption.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';

export function generateKeyFile(path: string): void {
  try {
    writeFileSync(path, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot write key ${path}: ${code === 'EEXIST' ? 'the file exists (a key is never overwritten: recordings sealed with it would be lost)' : describeFsError(err)}`);
  }
}
