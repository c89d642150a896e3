/**
 * The audit log: append-only JSON Lines, hash-chained, with its chain head kept in a file
 * beside it. A new run continues the chain of the last. Audit events are rare (links up
 * and down, refusals, control messages), so records are written synchronously: a record
 * that was reported is on disk.
 *
 * A run never papers over a lost log: a head without its log, a log shorter than its
 * head, a log without its head, or a log that fails verification stops mavgate at
 * start-up, unless it is told to begin a new chain; the new chain's first record then
 * names what was lost, and a damaged log is kept beside it as evidence.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE_NAME, type AuditHead, type AuditRecord, GENESIS, headPathOf, readHead, sealRecord } from './audit-record.js';
import { verifyAuditLog } from './audit-verify.js';
import { assertGrant, type DirectoryGrant } from './grants.js';
import { EXIT_RESIDENCY } from './refusal.js';

export class AuditLogError extends Error {
  constructor(readonly path: string, reason: string, readonly exitCode: number = EXIT_RESIDENCY) {
    super(`audit log ${path}: ${reason}`);
    this.name = 'AuditLogError';
  }
}

export interface AuditLogOptions {
  fileName?: string;
  /**
   * Begin a new chain although the old one is lost or damaged (`--new-audit-chain`).
   * Refused when the old log is intact: there is nothing to start over from.
   */
  newChain?: boolean;
}

/** Why the chain on disk cannot be continued, or null when it can (or there is none). */
function brokenChain(path: string): { reason: string; head: AuditHead | null } | null {
  let head: AuditHead | null;
  try {
    head = readHead(path);
  } catch (err) {
    return { reason: `its head (${headPathOf(path)}) cannot be read: ${(err as Error).message}`, head: null };
  }
  if (!existsSync(path)) {
    return head ? { reason: `its head (${headPathOf(path)}) says seq ${head.seq}, but the log itself is missing: its records were lost`, head } : null;
  }
  if (!head) return { reason: `its head (${headPathOf(path)}) is missing, so nothing vouches for the end of the log (records may have been cut)`, head: null };
  const result = verifyAuditLog(path, head);
  return result.ok ? null : { reason: `it fails verification: ${result.reason}`, head };
}

export class AuditLog {
  private readonly fd: number;
  private readonly run = randomBytes(8).toString('hex');
  private head: AuditHead;
  readonly path: string;

  /**
   * Opens (or creates) the log in a directory the gate granted. An existing log must
   * verify against its head before anything is appended: mavgate does not write onto a
   * chain that was tampered with, nor start a new one over a lost one unless told to.
   */
  constructor(directory: DirectoryGrant, options: AuditLogOptions = {}) {
    assertGrant(directory, 'directory');
    const path = join(directory.path, options.fileName ?? AUDIT_FILE_NAME);
    this.path = path;
    const broken = brokenChain(path);
    let restart: Record<string, unknown> | null = null;
    if (broken && !options.newChain) {
      throw new AuditLogError(path, `will not start: ${broken.reason}. Find out what happened to it; to begin a new chain that records the loss, start once with --new-audit-chain`);
    }
    if (!broken && options.newChain && existsSync(path)) {
      throw new AuditLogError(path, '--new-audit-chain: the log and its head verify, there is nothing to start over from; remove the flag', 2);
    }
    if (broken) {
      let kept: string | null = null;
      if (existsSync(path)) {
        kept = `${path}.broken-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        renameSync(path, kept);
      }
      restart = { reason: broken.reason, lost_head: broken.head, previous_log: kept };
    }
    this.head = { seq: -1, hash: GENESIS };
    if (existsSync(path)) this.head = (verifyAuditLog(path) as { head: AuditHead }).head;
    this.fd = openSync(path, 'a', 0o600);
    if (restart) this.append('audit_chain_restarted', restart);
  }

  /** The chain head: printed at shutdown and kept in `<log>.head`. */
  get chainHead(): AuditHead {
    return { ...this.head };
  }

  append(event: string, details: Record<string, unknown> = {}): AuditRecord {
    const record: AuditRecord = {
      seq: this.head.seq + 1,
      time: new Date().toISOString(),
      run: this.run,
      mono_ns: process.hrtime.bigint().toString(),
      event,
      details,
      prev: this.head.hash,
    };
    const { line, hash } = sealRecord(record);
    writeSync(this.fd, `${line}\n`);
    this.head = { seq: record.seq, hash };
    this.writeHead();
    return record;
  }

  close(): AuditHead {
    fsyncSync(this.fd);
    closeSync(this.fd);
    return this.chainHead;
  }

  /** Replaced whole (write, then rename), so a crash leaves the old head or the new one. */
  private writeHead(): void {
    const headPath = headPathOf(this.path);
    writeFileSync(`${headPath}.tmp`, `${JSON.stringify(this.head)}\n`, { mode: 0o600 });
    renameSync(`${headPath}.tmp`, headPath);
  }
}
