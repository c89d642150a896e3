/**
 * The residency report: where telemetry went, from the audit log alone — the policies in
 * force, every destination granted and what it received by data class, every refusal.
 * The document an operator hands to an auditor; it says first whether the log verifies.
 */
import { readFileSync } from 'node:fs';
import { type AuditRecord, readHead } from './audit-record.js';
import { verifyAuditText } from './audit-verify.js';

interface Sent { frames: number; bytes: number }

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The report as text; `since` keeps the records from then on. The log is read once. */
export function residencyReport(auditPath: string, since?: Date): string {
  const text = readFileSync(auditPath, 'utf8');
  const verdict = verifyAuditText(text, readHead(auditPath));
  const sinceMs = since ? since.getTime() : Number.NEGATIVE_INFINITY;
  const records = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord)
    .filter((r) => Date.parse(r.time) >= sinceMs);

  const out: string[] = [];
  out.push(`Residency report: ${auditPath}`);
  out.push(verdict.ok
    ? `Audit log verified: ${verdict.records} records, chain head seq ${verdict.head.seq} ${verdict.head.hash}`
    : `WARNING: the audit log FAILS verification (${verdict.reason}); what follows may not be what happened`);
  if (records.length === 0) {
    out.push('No records in the period.');
    return `${out.join('\n')}\n`;
  }
  out.push(`Period: ${records[0]!.time} to ${records[records.length - 1]!.time}`);

  out.push('', 'Policies in force:');
  for (const r of records.filter((x) => x.event === 'policy_loaded')) {
    const d = r.details as { source: string; policy_sha256: string; site: string; jurisdiction: string };
    out.push(`  ${r.time}  ${d.source}  site ${d.site}, jurisdiction ${d.jurisdiction}, sha256 ${d.policy_sha256}`);
  }

  const granted = new Map<string, { destination: string; rule: string }>();
  for (const r of records.filter((x) => x.event === 'granted')) {
    const d = r.details as { entry: string; destination: string; rule: string };
    granted.set(d.entry, { destination: d.destination, rule: d.rule });
  }
  const sent = new Map<string, { withheld: number; classes: Map<string, Sent> }>();
  for (const r of records.filter((x) => x.event === 'egress')) {
    const d = r.details as { entry: string; withheld: number; sent: Record<string, Sent> };
    const total = sent.get(d.entry) ?? { withheld: 0, classes: new Map<string, Sent>() };
    total.withheld += d.withheld;
    for (const [cls, c] of Object.entries(d.sent)) {
      const t = total.classes.get(cls) ?? { frames: 0, bytes: 0 };
      t.frames += c.frames;
      t.bytes += c.bytes;
      total.classes.set(cls, t);
    }
    sent.set(d.entry, total);
  }
  out.push('', 'Destinations granted, and what they received:');
  for (const [entry, g] of granted) {
    out.push(`  ${entry} → ${g.destination} (approved by ${g.rule})`);
    const s = sent.get(entry);
    if (!s || s.classes.size === 0) out.push('      nothing sent');
    for (const [cls, c] of [...(s?.classes ?? new Map<string, Sent>())].sort()) out.push(`      ${cls.padEnd(10)} ${String(c.frames).padStart(9)} frames  ${kib(c.bytes)}`);
    if (s?.withheld) out.push(`      withheld by its rule: ${s.withheld} frames`);
  }

  const refusals = records.filter((x) => x.event === 'refused');
  out.push('', `Refusals: ${refusals.length}`);
  for (const r of refusals) {
    const d = r.details as { entry: string; destination: string; rule: string; reason: string };
    out.push(`  ${r.time}  ${d.entry} → ${d.destination}: ${d.reason} (rule: ${d.rule})`);
  }
  return `${out.join('\n')}\n`;
}
