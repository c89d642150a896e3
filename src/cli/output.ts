/** Where `export` and `report` write: never over a file that is there already. */
import { existsSync } from 'node:fs';
import { InputError } from './errors.js';

const EXISTS = 'the file exists; choose another --out';

/** The InputError for a failed create: EEXIST in the words the user acts on. */
export function cannotWrite(path: string, err: unknown): InputError {
  return new InputError(`cannot write ${path}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? EXISTS : (err as Error).message}`);
}

/**
 * Refuses an output that exists before the recording is read, so the user learns it at
 * once instead of after the whole file. The output is still created exclusively, so one
 * that appears meanwhile is not overwritten either.
 */
export function refuseExistingOutput(path: string): void {
  if (existsSync(path)) throw new InputError(`cannot write ${path}: ${EXISTS}`);
}
