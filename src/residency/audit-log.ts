/**
 * The audit log: append-only JSON Lines, hash-chained, with its chain head kept in a file
 * beside it. A new run continues the chain of the last. Audit events are rare (links up
 * and down, refusals, control messages), so records are written synchronously: a record
 * that was reported is on disk.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_FILE_NAME, type AuditHead, type AuditRecord, GENESIS, headPathOf, sealRecord } from './audit-record.js';
import { verifyAuditLog } from './audit-verify.js';
import { assertGrant, type DirectoryGrant } from './gate.js';

export class AuditLogError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`audit log ${path}: ${reason}`);
    this.name = 'AuditLogError';
  }
}

export class AuditLog {
  private readonly fd: number;
  private readonly run = randomBytes(8).toString('hex');
  private head: AuditHead;
  readonly path: string;

  /**
   * Opens (or creates) the log `fileName` in a directory the gate granted. An existing log
   * must verify against its head before anything is appended: mavgate does not write onto
   * a chain that was tampered with.
   */
  constructor(directory: DirectoryGrant, fileName = AUDIT_FILE_NAME) {
    assertGrant(directory, 'directory');
    const path = join(directory.path, fileName);
    this.path = path;
    if (existsSync(path)) {
      const result = verifyAuditLog(path);
      if (!result.ok) throw new AuditLogError(path, `will not append to a log that fails verification: ${result.reason}`);
      this.head = result.head;
    } else {
      this.head = { seq: -1, hash: GENESIS };
    }
    this.fd = openSync(path, 'a', 0o600);
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
