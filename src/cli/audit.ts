/** `mavgate audit verify`: the audit log's chain and head, checked; a verdict a person can read. */
import { readFileSync } from 'node:fs';
import type { AuditHead } from '../residency/audit-record.js';
import { verifyAuditLog } from '../residency/audit-verify.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';

export const EXIT_VERIFY_FAILED = 1;
/** The chain is intact, but nothing vouched for its end (no head, no witness). */
export const EXIT_END_UNVERIFIED = 4;

function readHeadFile(what: string, path: string): AuditHead {
  let head: unknown;
  try {
    head = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(`cannot read ${what} ${path}: ${e instanceof SyntaxError ? 'not JSON' : describeFsError(e)}`);
  }
  const h = head as Partial<AuditHead>;
  if (typeof h?.seq !== 'number' || typeof h.hash !== 'string') throw new InputError(`${what} ${path}: expected {"seq": N, "hash": "…"} as mavgate writes it`);
  return { seq: h.seq, hash: h.hash };
}

export function verifyAuditFile(path: string, options: { head?: string; witness?: string } = {}, out = process.stdout, err = process.stderr): number {
  const head = options.head ? readHeadFile('head', options.head) : undefined;
  const witness = options.witness ? readHeadFile('witness', options.witness) : undefined;
  let result;
  try {
    result = verifyAuditLog(path, head, witness);
  } catch (e) {
    throw new InputError(`cannot read audit log ${path}: ${describeFsError(e)}`);
  }
  if (!result.ok) {
    err.write(`mavgate: audit log ${path} FAILS verification: ${result.reason}\n`);
    return EXIT_VERIFY_FAILED;
  }
  if (!result.endVerified) {
    err.write(`mavgate: WARNING: audit log ${path}: the chain of ${result.records} records is intact, but ITS END IS UNVERIFIED: there is no head file beside it (${path}.head) and no --head or --witness, so records cut from the end would go unnoticed\n`);
    out.write(`chain intact, end unverified: ${result.records} records, last seq ${result.head.seq} ${result.head.hash}\n`);
    return EXIT_END_UNVERIFIED;
  }
  out.write(`ok: ${result.records} records, chain head seq ${result.head.seq} ${result.head.hash}${witness ? `; holds the witness's seq ${witness.seq}` : ''}\n`);
  return 0;
}
