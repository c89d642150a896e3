/**
 * Checking an audit log: the hash chain line by line, sequence numbers, monotonic time
 * within each run, and the last record against the head kept beside the log (or given).
 */
import { readFileSync } from 'node:fs';
import { type AuditHead, type AuditRecord, checkSeal, GENESIS, readHead } from './audit-record.js';

export type VerifyResult =
  /** `endVerified`: a head (or a witness) vouched for the end; without one, records cut from the end go unnoticed. */
  | { ok: true; records: number; head: AuditHead; endVerified: boolean }
  | { ok: false; records: number; line: number; reason: string };

/**
 * Verifies the log at `path`. `expectedHead` is the head to check the end against
 * (default: `<path>.head`; a log without any head can only be checked for its chain).
 * `witness` is a head kept elsewhere (the fleet broker): the log must still hold it.
 */
export function verifyAuditLog(path: string, expectedHead?: AuditHead | null, witness?: AuditHead): VerifyResult {
  return verifyAuditText(readFileSync(path, 'utf8'), expectedHead === undefined ? readHead(path) : expectedHead, witness);
}

/** Verifies a log's text against `head` (null: the chain only) and a `witness` it must hold. */
export function verifyAuditText(text: string, head: AuditHead | null, witness?: AuditHead): VerifyResult {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else if (lines.length > 0) return { ok: false, records: lines.length - 1, line: lines.length, reason: 'the last line is cut off (no newline)' };

  let prev = GENESIS;
  const lastMono = new Map<string, bigint>();
  for (const [i, line] of lines.entries()) {
    const at = i + 1;
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, records: i, line: at, reason: `line ${at} is not JSON` };
    }
    const seal = checkSeal(line);
    if (!seal) return { ok: false, records: i, line: at, reason: `line ${at} has no hash` };
    if (!seal.intact) return { ok: false, records: i, line: at, reason: `line ${at} (seq ${record.seq}) was edited: its content no longer has its hash` };
    if (record.prev !== prev) {
      return { ok: false, records: i, line: at, reason: `line ${at} (seq ${record.seq}) does not follow the record before it: records were removed, inserted or reordered` };
    }
    if (record.seq !== i) return { ok: false, records: i, line: at, reason: `line ${at} has seq ${record.seq}, expected ${i}` };
    const mono = BigInt(record.mono_ns);
    const before = lastMono.get(record.run);
    if (before !== undefined && mono < before) return { ok: false, records: i, line: at, reason: `line ${at}: monotonic time went backwards within run ${record.run}` };
    lastMono.set(record.run, mono);
    prev = seal.hash;
    if (witness && record.seq === witness.seq && seal.hash !== witness.hash) {
      return { ok: false, records: i, line: at, reason: `line ${at} (seq ${record.seq}) is not the record the witness saw: the log was rewritten from there on` };
    }
  }
  if (witness && witness.seq > lines.length - 1) {
    return { ok: false, records: lines.length, line: lines.length + 1, reason: `the log ends at seq ${lines.length - 1} but the witness saw seq ${witness.seq}: the newest ${witness.seq - lines.length + 1} record(s) were removed` };
  }

  const actual: AuditHead = { seq: lines.length - 1, hash: prev };
  if (head && (head.seq !== actual.seq || head.hash !== actual.hash)) {
    return {
      ok: false, records: lines.length, line: Math.min(head.seq + 1, lines.length + 1),
      reason: head.seq > actual.seq
        ? `the log ends at seq ${actual.seq} but its head says ${head.seq}: the newest ${head.seq - actual.seq} record(s) were removed`
        : `the last record (seq ${actual.seq}) does not match the head (seq ${head.seq})`,
    };
  }
  return { ok: true, records: lines.length, head: actual, endVerified: head !== null || witness !== undefined };
}
