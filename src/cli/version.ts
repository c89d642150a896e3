/** mavgate's version, from package.json: shown by --help and written into recordings and /info. */
import { readFileSync } from 'node:fs';

export const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
