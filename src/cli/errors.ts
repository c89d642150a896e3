/** Exit codes, as documented in README.md: every command keeps to them. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
/** A residency refusal: the gate's own exit code. */
export { EXIT_RESIDENCY } from '../residency/gate.js';

/** Bad usage or bad input: the message says what was wrong and how to fix it. Exit code 2. */
export class InputError extends Error {
  readonly exitCode = EXIT_USAGE;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
