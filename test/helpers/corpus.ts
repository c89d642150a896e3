/** Where the shared corpus lives, and a clear skip when this checkout has none. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const CORPUS_DIR = resolve(import.meta.dirname, '../../../shared/corpus');
export const HAS_CORPUS = existsSync(CORPUS_DIR);
export const NO_CORPUS_REASON = `corpus not found at ${CORPUS_DIR}: corpus tests skipped`;
/** Appended to a corpus test's name: says why it was skipped, and nothing when it ran. */
export const CORPUS_SKIP_NOTE = HAS_CORPUS ? '' : ` (${NO_CORPUS_REASON})`;

if (!HAS_CORPUS) console.warn(NO_CORPUS_REASON);

export function corpusFile(...parts: string[]): string {
  return resolve(CORPUS_DIR, ...parts);
}

export function readCorpus(...parts: string[]): Buffer {
  return readFileSync(corpusFile(...parts));
}

/** JSON.parse rounds integers beyond 2^53; quote long integer literals so they compare exactly. */
function quoteBigIntegers(line: string): string {
  return line.replace(/([:,[])(-?\d{16,})(?=[,\]}])/g, '$1"$2"');
}

export function readJsonLinesGz<T>(...parts: string[]): T[] {
  return gunzipSync(readCorpus(...parts))
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(quoteBigIntegers(l)) as T);
}

export const TLOG_NAMES = [
  'arducopter_2012-11-18_v1_cut',
  'arducopter_2015-07-05_v1',
  'arduplane_vtol_2018-08-08_v1',
  'ardusub_qgc_2023-05-04',
] as const;
