/**
 * `mavgate logs list` and `mavgate logs download`: the vehicle's onboard logs, either
 * through a running gateway (its API, as a client whose role may download logs: the
 * gateway downloads into its own approved directory) or straight on a link of their own
 * (`--link`, as `key setup` does: this process downloads into the approved directory).
 */
import { AuditLog } from '../residency/audit-log.js';
import { EgressGate } from '../residency/gate.js';
import { dataDirectory, type ResidencyPolicy } from '../residency/policy.js';
import type { TransportEndpoint } from '../links/create-link.js';
import { type DownloadProgress, OnboardLogDownload } from '../sinks/onboard-logs/log-download.js';
import { LogDownloadCancelled, type LogEntry, LogProtocolError, LogTransferClient } from '../sinks/onboard-logs/log-protocol.js';
import { type ListedLog, type LogSelection, LogRequestError, selectLogs } from '../sinks/onboard-logs/log-service.js';
import { type DownloadedLog, LogStore } from '../sinks/onboard-logs/log-store.js';
import { InputError } from './errors.js';
import { formatBytes, progress } from './progress.js';
import { labelsOf } from './run-services.js';
import { VehicleSession, VehicleTimeout } from './vehicle-link.js';

/** A download that did not complete (the vehicle stopped answering, or Ctrl-C): exit code 1, what arrived is kept. */
export class LogsFailed extends Error {
  readonly exitCode = 1;
}

export interface LogsOutput {
  /** Results (the list, the files): stdout. */
  out: (text: string) => void;
  /** Progress and notes: stderr. */
  err: NodeJS.WriteStream;
}

const MB = 1e6;
/** QGroundControl's system and component ids. */
const GROUND_STATION = { sysid: 255, compid: 190 };

function when(timeUtc: number): string {
  return timeUtc > 0 ? new Date(timeUtc * 1000).toISOString().replace('.000Z', 'Z') : 'unknown time';
}

export function formatList(sysid: number, logs: ListedLog[]): string {
  if (logs.length === 0) return `vehicle ${sysid}: no onboard logs\n`;
  const rows = logs.map((l) => {
    const state = l.downloaded ? `downloaded: ${l.downloaded}` : l.partial_bytes > 0 ? `partly downloaded (${((100 * l.partial_bytes) / Math.max(1, l.size)).toFixed(0)}%)` : '';
    return `${String(l.id).padStart(4)}  ${formatBytes(l.size).padStart(9)}  ${when(l.timeUtc).padEnd(20)}  ${state}`;
  });
  return `vehicle ${sysid}: ${logs.length} onboard log(s)\n  id       size  started               \n${rows.join('\n')}\n`;
}

/** What a progress line adds to the bar's own amounts, rate and ETA: where an interrupted download was continued from. */
function resumedDetail(p: Pick<DownloadProgress, 'resumed_bytes'>): string {
  return p.resumed_bytes > 0 ? `continued from ${formatBytes(p.resumed_bytes)}` : '';
}

/** The result line: the file, its size and SHA-256, and the download's own rate (first to last chunk). */
function finished(directory: string, file: { file: string; size: number; sha256: string; encrypted?: boolean }, rate: number | null): string {
  return `${directory}/${file.file}  ${file.size} bytes  sha256 ${file.sha256}${file.encrypted ? '  (encrypted)' : ''}${rate ? `  (${(rate / MB).toFixed(2)} MB/s)` : ''}\n`;
}

// ── Straight on a link ────────────────────────────────────────────────────────────────

export interface LinkOptions {
  endpoint: TransportEndpoint;
  policy: ResidencyPolicy;
  /** Audit every download in the policy's audit log (a policy file was given, as `run` does). */
  audit: boolean;
  /** Encrypt at rest with this key (the recordings' key). */
  key: Buffer | null;
  /** Where the logs go (default: `logs/` in the policy's data directory). */
  out?: string;
  sysid?: number;
  timeoutMs: number;
}

async function onLink<T>(options: LinkOptions, task: (client: LogTransferClient, store: () => LogStore, gate: EgressGate) => Promise<T>): Promise<T> {
  const gate = new EgressGate(options.policy);
  const audit = options.audit ? new AuditLog(gate.grantDirectory('audit.directory', options.policy.auditDirectory)) : null;
  if (audit) gate.attachAudit(audit);
  const directory = options.out ?? dataDirectory(options.policy, 'logs');
  const store = () => new LogStore(gate.grantDirectory(options.out ? '--out' : 'logs directory', directory), labelsOf(options.policy), options.key);
  let session: VehicleSession | null = null;
  try {
    // A ground station's usual ids: a token of another gateway's GCS port allows them by default.
    session = await VehicleSession.open(gate, 'logs', options.endpoint, GROUND_STATION);
    const heard = await session.vehicle(options.timeoutMs, options.sysid);
    if (heard.armed) throw new InputError(`vehicle ${heard.sysid} is armed: autopilots serve their logs only when disarmed`);
    const client = new LogTransferClient((m) => session!.send(m), heard);
    // What the other end says about a refusal (a gateway's ground-station port: "mavgate: …") makes the error clearer.
    let said: string | null = null;
    session.onFrame = (f) => {
      client.receive(f);
      if (f.name === 'STATUSTEXT') said = String(f.decode()!.text);
    };
    try {
      return await task(client, store, gate);
    } catch (err) {
      if (err instanceof LogProtocolError && said) throw new LogsFailed(`${err.message} (the last status text: "${said}")`);
      throw err;
    }
  } catch (err) {
    if (err instanceof VehicleTimeout || err instanceof LogProtocolError) throw new LogsFailed(err.message);
    if (err instanceof LogRequestError) throw new InputError(err.message);
    throw err;
  } finally {
    await session?.close();
    audit?.close();
  }
}

export async function listOnLink(options: LinkOptions, json: boolean, output: LogsOutput): Promise<void> {
  await onLink(options, async (client, store) => {
    const { entries, complete } = await client.list();
    const logs = marked(store(), client, entries);
    output.out(json ? `${JSON.stringify({ sysid: client.vehicle.sysid, logs, complete }, null, 2)}\n` : formatList(client.vehicle.sysid, logs));
    if (!complete) output.err.write('mavgate: some LOG_ENTRY never arrived: the list is incomplete\n');
  });
}

function marked(store: LogStore, client: LogTransferClient, entries: LogEntry[]): ListedLog[] {
  return entries.map((e) => ({ ...e, downloaded: store.downloaded(client.vehicle.sysid, e)?.file ?? null, partial_bytes: store.partialBytes(client.vehicle, e) }));
}

export async function downloadOnLink(options: LinkOptions, selection: LogSelection, output: LogsOutput): Promise<DownloadedLog[]> {
  return onLink(options, async (client, openStore, gate) => {
    const { entries } = await client.list();
    const chosen = selectLogs(entries, selection);
    if (chosen.length === 0) throw new InputError(`vehicle ${client.vehicle.sysid} has no onboard logs`);
    const store = openStore();
    const done: DownloadedLog[] = [];
    for (const entry of chosen) {
      const download = new OnboardLogDownload(client, store, entry, (event, details) => gate.record(event, details), 'mavgate logs download (command line)');
      done.push(await runWithProgress(download, output, store.directory));
    }
    return done;
  });
}

/** One download with a progress bar; Ctrl-C stops it, keeping what arrived. */
async function runWithProgress(download: OnboardLogDownload, output: LogsOutput, directory: string): Promise<DownloadedLog> {
  const label = `log ${download.entry.id}`;
  const bar = progress(label, download.entry.size, output.err);
  const timer = setInterval(() => {
    const p = download.progress();
    bar.update(p.bytes, resumedDetail(p));
  }, 200);
  const stop = () => download.cancel();
  process.once('SIGINT', stop);
  try {
    const file = await download.run();
    const p = download.progress();
    bar.update(p.bytes, resumedDetail(p));
    bar.stop();
    if (download.state === 'already downloaded') output.err.write(`${label}: downloaded before\n`);
    output.out(finished(directory, file, download.state === 'done' ? p.rate : null));
    return file;
  } catch (err) {
    bar.stop();
    if (err instanceof LogDownloadCancelled || err instanceof LogProtocolError) {
      const p = download.progress();
      throw new LogsFailed(`${label}: ${err instanceof LogDownloadCancelled ? 'stopped' : err.message}; ${p.bytes} of ${p.size} bytes kept in ${directory}: run the same command again to continue`);
    }
    throw err;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
  }
}

// ── Through a running gateway ─────────────────────────────────────────────────────────

export interface GatewayOptions {
  /** The gateway's client API, e.g. http://127.0.0.1:8088. */
  url: string;
  /** Approves the gateway's address: this command connects only where the policy allows (default: loopback). */
  policy: ResidencyPolicy;
  token?: string;
  sysid?: number;
}

/** The gate's word on the gateway's address before anything is sent there (a refusal: exit 3). */
async function approveGateway(options: GatewayOptions): Promise<void> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new InputError(`--gateway: "${options.url}" is not a URL (e.g. http://127.0.0.1:8088)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InputError(`--gateway: ${url.protocol} is not http: or https:`);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  await new EgressGate(options.policy).grantConnect('--gateway', 'tcp', url.hostname.replace(/^\[|\]$/g, ''), port);
}

const FINISHED = new Set(['done', 'already downloaded', 'failed', 'cancelled']);
const POLL_MS = 250;

type Job = DownloadProgress & { job: string };

async function call<T>(options: GatewayOptions, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(`/v1${path}`, options.url), {
      method,
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    throw new InputError(`no gateway at ${options.url} (${cause}): is mavgate run running there? (or download straight from the vehicle with --link ENDPOINT)`);
  }
  const reply = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (res.ok) return reply;
  const why = reply.error ?? `HTTP ${res.status}`;
  if (res.status === 401 || res.status === 403) throw new InputError(`the gateway refuses: ${why}${options.token ? '' : ' (give a token with --token or MAVGATE_TOKEN)'}`);
  if (res.status === 504) throw new LogsFailed(why);
  throw new InputError(`the gateway: ${why}`);
}

/** The vehicle asked for, or the only one the gateway hears. */
async function vehicleOf(options: GatewayOptions): Promise<number> {
  if (options.sysid !== undefined) return options.sysid;
  const stats = await call<{ vehicle_state: { sysid: number; lost: boolean }[] }>(options, 'GET', '/stats');
  const heard = [...new Set(stats.vehicle_state.filter((v) => !v.lost).map((v) => v.sysid))];
  if (heard.length === 1) return heard[0]!;
  throw new InputError(heard.length === 0 ? `the gateway at ${options.url} hears no vehicle` : `the gateway hears vehicles ${heard.join(', ')}: choose one with --sysid`);
}

export async function listThroughGateway(options: GatewayOptions, json: boolean, output: LogsOutput): Promise<void> {
  await approveGateway(options);
  const sysid = await vehicleOf(options);
  const reply = await call<{ sysid: number; logs: ListedLog[]; complete: boolean }>(options, 'GET', `/logs/vehicles/${sysid}`);
  output.out(json ? `${JSON.stringify(reply, null, 2)}\n` : formatList(sysid, reply.logs));
  if (!reply.complete) output.err.write('mavgate: some LOG_ENTRY never arrived: the list is incomplete\n');
}

/** Asks the gateway to download, and follows each download with a progress bar until all are over. */
export async function downloadThroughGateway(options: GatewayOptions, selection: LogSelection, output: LogsOutput): Promise<void> {
  await approveGateway(options);
  const sysid = await vehicleOf(options);
  const { directory } = await call<{ directory: string }>(options, 'GET', '/logs');
  const started = await call<{ downloads: Job[] }>(options, 'POST', '/logs/downloads', { sysid, logs: selection });
  const ids = new Set(started.downloads.map((j) => j.job));
  if (ids.size === 0) throw new InputError(`vehicle ${sysid} has no onboard logs`);
  let current = null as { job: string; bar: ReturnType<typeof progress> } | null;
  const stop = () => {
    output.err.write('stopping: what arrived stays in the gateway for next time\n');
    for (const id of ids) void call(options, 'DELETE', `/logs/downloads/${id}`).catch(() => {});
  };
  process.once('SIGINT', stop);
  const failures: string[] = [];
  const reported = new Set<string>();
  try {
    for (;;) {
      const jobs = (await call<{ downloads: Job[] }>(options, 'GET', '/logs/downloads')).downloads.filter((j) => ids.has(j.job));
      for (const job of jobs) {
        if (!FINISHED.has(job.state) && job.state !== 'queued' && current?.job !== job.job) {
          current?.bar.stop();
          current = { job: job.job, bar: progress(`log ${job.log_id}`, job.size, output.err) };
        }
        if (current?.job === job.job) current.bar.update(job.bytes, resumedDetail(job));
        if (FINISHED.has(job.state) && !reported.has(job.job)) {
          reported.add(job.job);
          if (current?.job === job.job) {
            current.bar.stop();
            current = null;
          }
          if (job.file && job.sha256 && (job.state === 'done' || job.state === 'already downloaded')) output.out(finished(directory, { file: job.file, size: job.size, sha256: job.sha256 }, job.state === 'done' ? job.rate : null));
          else failures.push(`log ${job.log_id}: ${job.state}${job.error ? `: ${job.error}` : ''} (${job.bytes} of ${job.size} bytes kept)`);
        }
      }
      if (jobs.length === 0 || jobs.every((j) => FINISHED.has(j.state))) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    current?.bar.stop();
    process.off('SIGINT', stop);
  }
  if (failures.length > 0) throw new LogsFailed(`${failures.join('; ')}: run the same command again to continue`);
}
