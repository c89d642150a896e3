/** `mavgate audit verify`: the audit log's chain and head, checked; a verdict a person can read. */
import { readFileSync } from 'node:fs';
import type { AuditHead } from '../residency/audit-record.js';
import { verifyAuditLog } from '../residency/audit-verify.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';

export const EXIT_VERIFY_FAILED = 1;

export function verifyAuditFile(path: string, headPath?: string, out = process.stdout, err = process.stderr): number {
  let head: AuditHead | undefined;
  try {
    if (headPath) head = JSON.parse(readFileSync(headPath, 'utf8')) as AuditHead;
  } catch (e) {
    throw new InputError(`cannot read head ${headPath}: ${e instanceof SyntaxError ? 'not JSON' : describeFsError(e)}`);
  }
  let result;
  try {
    result = verifyAuditLog(path, head);
  } catch (e) {
    throw new InputError(`cannot read audit log ${path}: ${describeFsError(e)}`);
  }
  if (!result.ok) {
    err.write(`mavgate: audit log ${path} FAILS verification: ${result.reason}\n`);
    return EXIT_VERIFY_FAILED;
  }
  out.write(`ok: ${result.records} records, chain head seq ${result.head.seq} ${result.head.hash}\n`);
  return 0;
}
