/**
 * The residency report: where telemetry went, from the audit log alone — the policies in
 * force, every destination that was granted or connected and what it received (network
 * destinations and clients by data class, recordings by file), what a new policy revoked,
 * and every refusal. The document an operator hands to an auditor; it says first whether
 * the log verifies, and it counts only what the log records.
 */
import { readFileSync } from 'node:fs';
import { type AuditRecord, readHead } from './audit-record.js';
import { verifyAuditText } from './audit-verify.js';

export interface Sent { frames: number; bytes: number }

export interface DestinationSummary {
  entry: string;
  /** Where it was (address, directory), and the rule that approved it; clients: who and from where. */
  destination: string;
  approvedBy: string | null;
  /** By data class, summed over the log's egress records; null when no record says what it was sent. */
  classes: Map<string, Sent> | null;
  withheld: number;
  /** Recording files written through this destination (a recording directory). */
  recordings: { file: string; frames: number; bytes: number; unwritten: number }[];
  /** A ground-control client: its entry says who and from where; `destination` is empty. */
  client: boolean;
  /** Clients that came through this grant (the client server, a ground-station endpoint). */
  clients: string[];
}

/**
 * The grants the client services hold: the client server and ground-station endpoints.
 * They send nothing themselves; their clients are the destinations, each with its own
 * egress record. (A `links[…]` listener is one destination, metered by the gateway.)
 */
const CLIENT_ENDPOINT = /^(server\.listen|gcs\[\d+\])$/;

export interface ResidencySummary {
  records: AuditRecord[];
  policies: { time: string; source: string; sha256: string; site: string; jurisdiction: string }[];
  destinations: DestinationSummary[];
  revoked: { time: string; entry: string; destination: string; rule: string; reason: string }[];
  refusals: { time: string; entry: string; destination: string; rule: string; reason: string }[];
  /** Frames the recorder could not keep: dropped while the disk lagged, unwritten at close, files lost. */
  recordingLosses: { time: string; event: string; frames: number }[];
}

type Details = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : String(v ?? ''));
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

/** What the records say went where. Pure: the text report and the tests read it. */
export function summarize(records: AuditRecord[]): ResidencySummary {
  const destinations = new Map<string, DestinationSummary>();
  const at = (entry: string, destination: string): DestinationSummary => {
    let d = destinations.get(entry);
    if (!d) destinations.set(entry, d = { entry, destination, approvedBy: null, classes: null, withheld: 0, recordings: [], client: false, clients: [] });
    return d;
  };
  const summary: ResidencySummary = { records, policies: [], destinations: [], revoked: [], refusals: [], recordingLosses: [] };
  for (const r of records) {
    const d = r.details as Details;
    switch (r.event) {
      case 'policy_loaded':
        summary.policies.push({ time: r.time, source: str(d.source), sha256: str(d.policy_sha256), site: str(d.site), jurisdiction: str(d.jurisdiction) });
        break;
      case 'granted':
        at(str(d.entry), str(d.destination)).approvedBy = str(d.rule);
        break;
      case 'client_connected': {
        // The client's entry already says its kind, principal, role and address: said once.
        const client = at(str(d.client), '');
        client.client = true;
        if (typeof d.via === 'string') at(d.via, d.via).clients.push(client.entry);
        break;
      }
      case 'egress': {
        const dest = at(str(d.entry), str(d.entry));
        dest.classes ??= new Map();
        dest.withheld += num(d.withheld);
        for (const [cls, c] of Object.entries((d.sent ?? {}) as Record<string, Sent>)) {
          const t = dest.classes.get(cls) ?? { frames: 0, bytes: 0 };
          t.frames += c.frames;
          t.bytes += c.bytes;
          dest.classes.set(cls, t);
        }
        break;
      }
      case 'recording_closed':
        at(str(d.entry), str(d.directory)).recordings.push({ file: str(d.file), frames: num(d.frames), bytes: num(d.bytes), unwritten: num(d.unwritten) });
        break;
      case 'recording_lost_file':
      case 'recording_dropped':
      case 'recording_unwritten':
        summary.recordingLosses.push({ time: r.time, event: r.event, frames: num(d.frames) });
        break;
      case 'revoked':
        summary.revoked.push({ time: r.time, entry: str(d.entry), destination: str(d.destination), rule: str(d.rule), reason: str(d.reason) });
        break;
      case 'refused':
        summary.refusals.push({ time: r.time, entry: str(d.entry), destination: str(d.destination), rule: str(d.rule), reason: str(d.reason) });
        break;
      case 'peer_refused':
        summary.refusals.push({ time: r.time, entry: str(d.entry), destination: `peer ${str(d.peer)} of ${str(d.listener)}`, rule: str(d.rule), reason: str(d.reason) });
        break;
      case 'policy_refused':
        summary.refusals.push({ time: r.time, entry: 'policy', destination: str(d.source), rule: 'audit.directory', reason: str(d.reason) });
        break;
    }
  }
  summary.destinations = [...destinations.values()];
  return summary;
}

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** What a client endpoint (which sends nothing itself) served: its clients, each listed with what it received. */
function servedLine(d: DestinationSummary): string {
  const n = d.clients.length;
  return n === 0
    ? '      sends nothing itself; no client is recorded as coming through it'
    : `      sends nothing itself; ${n} client(s) came through it, each listed with what it received: ${d.clients.map((c) => c.split(' ')[0]).join(', ')}`;
}

function destinationLines(d: DestinationSummary): string[] {
  const where = d.client ? '' : ` → ${d.destination}`;
  const out = [`  ${d.entry}${where}${d.approvedBy ? ` (approved by ${d.approvedBy})` : ''}`];
  const clientEndpoint = CLIENT_ENDPOINT.test(d.entry) || d.clients.length > 0;
  if (d.recordings.length > 0) {
    const frames = d.recordings.reduce((n, f) => n + f.frames, 0);
    const bytes = d.recordings.reduce((n, f) => n + f.bytes, 0);
    out.push(`      recordings ${String(d.recordings.length).padStart(4)} file(s) ${String(frames).padStart(9)} frames  ${kib(bytes)}`);
    for (const f of d.recordings) out.push(`        ${f.file}  ${f.frames} frames  ${kib(f.bytes)}${f.unwritten ? `  (${f.unwritten} could not be written)` : ''}`);
  }
  if (d.classes) {
    if (d.classes.size === 0) out.push('      nothing sent');
    for (const [cls, c] of [...d.classes].sort()) out.push(`      ${cls.padEnd(10)} ${String(c.frames).padStart(9)} frames  ${kib(c.bytes)}`);
  } else if (clientEndpoint) {
    out.push(servedLine(d));
  } else if (d.recordings.length === 0) {
    out.push('      no record of what it was sent (the run was still going, or ended without a clean stop)');
  }
  if (d.withheld) out.push(`      withheld by its rule: ${d.withheld} frames`);
  return out;
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
  out.push(!verdict.ok
    ? `WARNING: the audit log FAILS verification (${verdict.reason}); what follows may not be what happened`
    : verdict.endVerified
      ? `Audit log verified: ${verdict.records} records, chain head seq ${verdict.head.seq} ${verdict.head.hash}`
      : `WARNING: the audit log's chain is intact (${verdict.records} records) but its end is unverified: no head file beside it`);
  if (records.length === 0) {
    out.push('No records in the period.');
    return `${out.join('\n')}\n`;
  }
  const s = summarize(records);
  out.push(`Period: ${records[0]!.time} to ${records[records.length - 1]!.time}`);
  out.push('', 'Policies in force:');
  for (const p of s.policies) out.push(`  ${p.time}  ${p.source}  site ${p.site}, jurisdiction ${p.jurisdiction}, sha256 ${p.sha256}`);
  out.push('', 'Destinations, and what they received:');
  for (const d of s.destinations) out.push(...destinationLines(d));
  if (s.recordingLosses.length > 0) {
    out.push('', 'Frames the recorder could not keep:');
    for (const l of s.recordingLosses) out.push(`  ${l.time}  ${l.event}: ${l.frames} frames`);
  }
  out.push('', `Revoked by a new policy: ${s.revoked.length}`);
  for (const r of s.revoked) out.push(`  ${r.time}  ${r.entry} → ${r.destination}: ${r.reason} (rule: ${r.rule})`);
  out.push('', `Refusals: ${s.refusals.length}`);
  for (const r of s.refusals) out.push(`  ${r.time}  ${r.entry} → ${r.destination}: ${r.reason} (rule: ${r.rule})`);
  return `${out.join('\n')}\n`;
}
