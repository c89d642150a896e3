import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

describe('audit continuity: a lost log is never papered over', () => {
  const fresh = () => {
    const path = fiveRecords();
    return { path, fileName: path.slice(dir.length + 1), head: readHead(path)! };
  };

  it('refuses to start when the head is there but the log is gone, naming both files', () => {
    const { path, fileName } = fresh();
    rmSync(path);
    const error = (() => {
      try {
        new AuditLog(grant, { fileName });
      } catch (e) {
        return e as AuditLogError;
      }
      throw new Error('expected a refusal');
    })();
    expect(error).toBeInstanceOf(AuditLogError);
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain(`${path}.head`);
    expect(error.message).toMatch(/says seq 4, but the log itself is missing.*--new-audit-chain/);
  });

  it('refuses a log shorter than its head, and a log whose head is gone', () => {
    const short = fresh();
    rewrite(short.path, (l) => l.slice(0, 3));
    expect(() => new AuditLog(grant, { fileName: short.fileName })).toThrow(/the newest 2 record\(s\) were removed/);
    const headless = fresh();
    rmSync(`${headless.path}.head`);
    expect(() => new AuditLog(grant, { fileName: headless.fileName })).toThrow(/head .* is missing, so nothing vouches for the end of the log/);
  });

  it('--new-audit-chain begins a new chain whose first record names the lost head; a damaged log is kept beside it', () => {
    const lost = fresh();
    rmSync(lost.path);
    const restarted = new AuditLog(grant, { fileName: lost.fileName, newChain: true });
    restarted.close();
    const first = JSON.parse(lines(lost.path)[0]!);
    expect(first).toMatchObject({ seq: 0, event: 'audit_chain_restarted', details: { lost_head: lost.head, previous_log: null, reason: expect.stringMatching(/log itself is missing/) } });
    expect(verifyAuditLog(lost.path)).toMatchObject({ ok: true, records: 1, endVerified: true });

    const damaged = fresh();
    rewrite(damaged.path, (l) => l.map((line, i) => (i === 1 ? line.replace('link_up', 'link_UP') : line)));
    const before = readFileSync(damaged.path, 'utf8');
    new AuditLog(grant, { fileName: damaged.fileName, newChain: true }).close();
    const kept = readdirSync(dir).filter((n) => n.startsWith(`${damaged.fileName}.broken-`));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(dir, kept[0]!), 'utf8')).toBe(before);
    expect(JSON.parse(lines(damaged.path)[0]!)).toMatchObject({ event: 'audit_chain_restarted', details: { previous_log: join(dir, kept[0]!), lost_head: damaged.head } });
  });

  it('--new-audit-chain over an intact log is refused (exit 2): there is nothing to start over from', () => {
    const { fileName } = fresh();
    expect(() => new AuditLog(grant, { fileName, newChain: true })).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/verify, there is nothing to start over from/) }));
  });

  it('mavgate run: a deleted log stops the next run (exit 3) until --new-audit-chain; the new chain verifies', async () => {
    const home = mkdtempSync(join(dir, 'run-'));
    const policy = join(home, 'policy.yaml');
    writeFileSync(policy, 'approved_sinks:\n  directories: [data]\n');
    const { MavgateProcess } = await import('./helpers/process.js');
    const first = MavgateProcess.start(['run', '--policy', policy, '--status-interval', '0']);
    await first.waitFor(/running: 1 link/);
    expect(await first.stop()).toBe(0);
    const log = join(home, 'data', 'audit', 'audit.jsonl');
    const head = readHead(log)!;
    rmSync(log);
    const refused = await runMavgate(['run', '--policy', policy]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/audit log .*audit\.jsonl: will not start: its head .*audit\.jsonl\.head\) says seq \d+, but the log itself is missing/);
    const second = MavgateProcess.start(['run', '--policy', policy, '--new-audit-chain', '--status-interval', '0']);
    await second.waitFor(/running: 1 link/);
    expect(await second.stop()).toBe(0);
    expect(JSON.parse(lines(log)[0]!)).toMatchObject({ event: 'audit_chain_restarted', details: { lost_head: head } });
    expect((await runMavgate(['audit', 'verify', log])).code).toBe(0);
  });
});

describe('mavgate audit verify: the end of the log', () => {
  it('exits 4, loudly, when no head vouches for the end (a cut log would pass otherwise)', async () => {
    const path = fiveRecords();
    rmSync(`${path}.head`);
    rewrite(path, (l) => l.slice(0, 3));
    const run = await runMavgate(['audit', 'verify', path]);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/WARNING: .*the chain of 3 records is intact, but ITS END IS UNVERIFIED/);
  });

  it('--witness: passes while the log still holds the record the witness saw; fails when it was cut or rewritten', async () => {
    const path = fiveRecords();
    const witness = join(dir, `witness-${n}.json`);
    const head = readHead(path)!;
    writeFileSync(witness, JSON.stringify({ seq: 2, hash: head.hash }));
    expect((await runMavgate(['audit', 'verify', path, '--witness', witness])).stderr).toMatch(/line 3 \(seq 2\) is not the record the witness saw/);
    writeFileSync(witness, JSON.stringify(head));
    const good = await runMavgate(['audit', 'verify', path, '--witness', witness]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/holds the witness's seq 4/);
    // Cut, and a head forged to match what is left: the witness, kept off the machine, still tells.
    rewrite(path, (l) => l.slice(0, 3));
    writeFileSync(`${path}.head`, JSON.stringify((verifyAuditLog(path, null) as { head: object }).head));
    expect((await runMavgate(['audit', 'verify', path])).code).toBe(0);
    const cut = await runMavgate(['audit', 'verify', path, '--witness', witness]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/the log ends at seq 2 but the witness saw seq 4: the newest 2 record\(s\) were removed/);
  });
});
