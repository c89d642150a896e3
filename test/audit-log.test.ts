import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, AuditLogError } from '../src/residency/audit-log.js';
import { readHead } from '../src/residency/audit-record.js';
import { verifyAuditLog } from '../src/residency/audit-verify.js';
import { runMavgate } from './helpers/cli.js';
import { gateFor } from './helpers/gate.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const grant = gateFor({ approved_sinks: { directories: [dir] } }).grantDirectory('test', dir);
let n = 0;

/** A log of five records, closed. */
function fiveRecords(): string {
  const name = `audit-${n++}.jsonl`;
  const path = join(dir, name);
  const log = new AuditLog(grant, { fileName: name });
  log.append('policy_loaded', { policy_sha256: 'ab'.repeat(32) });
  log.append('link_up', { link: 'serial:/dev/ttyUSB0:57600' });
  log.append('client_refused', { address: '127.0.0.2', reason: 'network not approved' });
  log.append('control', { client: 'pilot-1', message: 'COMMAND_LONG', command: 400 });
  log.append('link_down', { link: 'serial:/dev/ttyUSB0:57600', reason: 'disconnected' });
  log.close();
  return path;
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);
const rewrite = (path: string, edit: (l: string[]) => string[]) => writeFileSync(path, `${edit(lines(path)).join('\n')}\n`);

describe('audit log', () => {
  it('writes hash-chained JSON lines with a head beside them, and verifies', () => {
    const path = fiveRecords();
    const records = lines(path).map((l) => JSON.parse(l));
    expect(records.map((r) => [r.seq, r.event])).toEqual([[0, 'policy_loaded'], [1, 'link_up'], [2, 'client_refused'], [3, 'control'], [4, 'link_down']]);
    expect(records[0].prev).toBe('0'.repeat(64));
    expect(new Set(records.map((r) => r.run)).size).toBe(1);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 5, head: { seq: 4 } });
    expect(readHead(path)).toEqual((verifyAuditLog(path) as { head: unknown }).head);
  });

  it('detects an edited record, naming it', () => {
    const path = fiveRecords();
    rewrite(path, (l) => l.map((line, i) => (i === 2 ? line.replace('127.0.0.2', '127.0.0.9') : line)));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 3, reason: expect.stringMatching(/line 3 \(seq 2\) was edited/) });
  });

  it('detects an edited record even when the editor recomputed its hash', async () => {
    const { sealRecord } = await import('../src/residency/audit-record.js');
    const path = fiveRecords();
    rewrite(path, (l) => l.map((line, i) => {
      if (i !== 2) return line;
      const { hash: _old, ...record } = JSON.parse(line);
      return sealRecord({ ...record, details: { address: '127.0.0.9' } }).line;
    }));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 4, reason: expect.stringMatching(/does not follow the record before it/) });
  });

  it('detects a removed record', () => {
    const path = fiveRecords();
    rewrite(path, (l) => l.filter((_, i) => i !== 1));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2 });
  });

  it('detects an inserted record, even one with a plausible seq and prev', () => {
    const path = fiveRecords();
    rewrite(path, (l) => {
      const fake = { ...JSON.parse(l[1]!), event: 'link_up', details: { link: 'udp:203.0.113.5:14550' } };
      return [l[0]!, l[1]!, JSON.stringify({ ...fake, seq: 2 }), ...l.slice(2)];
    });
    const result = verifyAuditLog(path);
    expect(result.ok).toBe(false);
    expect((result as { line: number }).line).toBeLessThanOrEqual(4);
  });

  it('detects reordered records', () => {
    const path = fiveRecords();
    rewrite(path, (l) => [l[0]!, l[2]!, l[1]!, l[3]!, l[4]!]);
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, line: 2 });
  });

  it('detects the newest records removed, against the head', () => {
    const path = fiveRecords();
    rewrite(path, (l) => l.slice(0, 3));
    expect(verifyAuditLog(path)).toMatchObject({ ok: false, reason: expect.stringMatching(/newest 2 record\(s\) were removed/) });
    // Without the head the chain itself is intact: the head is what catches truncation.
    expect(verifyAuditLog(path, null)).toMatchObject({ ok: true, records: 3 });
  });

  it('continues the chain across a restart, and refuses to append to a tampered log', () => {
    const path = fiveRecords();
    const again = new AuditLog(grant, { fileName: path.slice(dir.length + 1) });
    const record = again.append('gateway_started');
    again.close();
    expect(record.seq).toBe(5);
    expect(verifyAuditLog(path)).toMatchObject({ ok: true, records: 6 });
    expect(new Set(lines(path).map((l) => JSON.parse(l).run)).size).toBe(2);

    rewrite(path, (l) => l.map((line, i) => (i === 0 ? line.replace('policy_loaded', 'policy_loadeD') : line)));
    expect(() => new AuditLog(grant, { fileName: path.slice(dir.length + 1) })).toThrow(AuditLogError);
  });

  it('`mavgate audit verify` exits 0 on a good log and 1 naming the first bad record', async () => {
    const path = fiveRecords();
    const good = await runMavgate(['audit', 'verify', path]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/ok: 5 records, chain head seq 4 [0-9a-f]{64}/);
    rewrite(path, (l) => l.map((line, i) => (i === 3 ? line.replace('400', '401') : line)));
    const bad = await runMavgate(['audit', 'verify', path]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/line 4 \(seq 3\) was edited/);
    const missing = await runMavgate(['audit', 'verify', join(dir, 'none.jsonl')]);
    expect(missing.code).toBe(2);
  });
});
