/**
 * One audit record and its place in the hash chain. Each line is a JSON object ending in
 * its own `hash` (SHA-256 of the line without it), and carrying `prev`, the hash of the
 * record before it (64 zeros for the first): an edited line fails its own hash, and a
 * removed, inserted or reordered one breaks the chain where it happened.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

export const GENESIS = '0'.repeat(64);
/** The log's file name in its directory. */
export const AUDIT_FILE_NAME = 'audit.jsonl';

export interface AuditRecord {
  /** 0, 1, 2, … across restarts: the chain continues. */
  seq: number;
  /** Wall-clock time, for people. */
  time: string;
  /** Identifies one run of mavgate; `mono_ns` is monotonic within a run. */
  run: string;
  mono_ns: string;
  event: string;
  details: Record<string, unknown>;
  prev: string;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The record as one line, its hash appended as the last key. */
export function sealRecord(record: AuditRecord): { line: string; hash: string } {
  const body = JSON.stringify(record);
  const hash = sha256(body);
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash };
}

const SEAL = /,"hash":"([0-9a-f]{64})"\}$/;

/** The hash a line claims, and whether its content still has that hash; null if the line has no seal. */
export function checkSeal(line: string): { hash: string; intact: boolean } | null {
  const m = SEAL.exec(line);
  if (!m) return null;
  const body = `${line.slice(0, m.index)}}`;
  return { hash: m[1]!, intact: sha256(body) === m[1] };
}

/** The head kept beside the log: what the newest record must be, so removing it is caught too. */
export interface AuditHead {
  seq: number;
  hash: string;
}

export function headPathOf(logPath: string): string {
  return `${logPath}.head`;
}

export function readHead(logPath: string): AuditHead | null {
  const headPath = headPathOf(logPath);
  return existsSync(headPath) ? (JSON.parse(readFileSync(headPath, 'utf8')) as AuditHead) : null;
}
