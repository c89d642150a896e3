/**
 * Onboard logs inside a running gateway: the vehicle's list and downloads, asked for by
 * clients through the API and done by the gateway itself, into its approved logs
 * directory. It is a node on the router like the gateway's own (a port of its own to
 * send from, a listener for what comes back), so its requests reach the vehicle through
 * the same link and checks as anything else, and its LOG_DATA goes to no client.
 * Downloads run one at a time per vehicle (an autopilot serves one transfer at a time).
 */
import { existsSync } from 'node:fs';
import { FrameDecoder, FrameEncoder, type MessageRegistry, type OutgoingMessage } from '../../mavlink/index.js';
import type { RoutePort, Router } from '../../router/router.js';
import type { VehicleStateStore } from '../../router/vehicle-state.js';
import { type AuditHook, type DownloadProgress, OnboardLogDownload } from './log-download.js';
import { DEFAULT_TIMEOUTS, type LogEntry, LogTransferClient, type LogVehicle, type ProtocolTimeouts } from './log-protocol.js';
import type { DownloadedLog, LogStore } from './log-store.js';

/** Which logs: ids, the newest one, or every one. */
export type LogSelection = number[] | 'latest' | 'all';

/** A refusal the caller can act on (no such vehicle, armed, unknown log id). */
export class LogRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogRequestError';
  }
}

export interface LogJob extends DownloadProgress {
  job: string;
  by: string;
}

export interface ListedLog extends LogEntry {
  /** The file it was downloaded to, if it was. */
  downloaded: string | null;
  /** Bytes of it waiting in a partial download. */
  partial_bytes: number;
}

const KEEP_JOBS = 50;

export interface LogServiceParts {
  registry: MessageRegistry;
  router: Router;
  state: VehicleStateStore;
  /** Where logs go, and the store there: opened (with a grant from the gate in force) for each request. */
  directory: string;
  openStore: () => LogStore;
  /** The ids its requests go out with: the gateway's system, a component of its own (sequence numbers of its own). */
  source: { sysid: number; compid: number };
  audit: AuditHook;
  timeouts?: ProtocolTimeouts;
}

/** Which logs of a list a selection means; an id the vehicle does not have is an error. */
export function selectLogs(entries: readonly LogEntry[], selection: LogSelection): LogEntry[] {
  if (selection === 'all') return [...entries];
  if (selection === 'latest') {
    const latest = entries.reduce<LogEntry | null>((best, e) => (!best || e.timeUtc > best.timeUtc || (e.timeUtc === best.timeUtc && e.id > best.id) ? e : best), null);
    return latest ? [latest] : [];
  }
  return selection.map((id) => {
    const entry = entries.find((e) => e.id === id);
    if (!entry) throw new LogRequestError(`the vehicle has no log ${id} (it has ${entries.map((e) => e.id).join(', ') || 'none'})`);
    return entry;
  });
}

export class OnboardLogService {
  private readonly port: RoutePort;
  private readonly encoder: FrameEncoder;
  private readonly outlet: FrameDecoder;
  private readonly clients = new Map<number, LogTransferClient>();
  private readonly queues = new Map<number, Promise<unknown>>();
  private readonly jobList: { id: string; by: string; download: OnboardLogDownload }[] = [];
  private nextJob = 1;
  private readonly logEntryId: number;
  private readonly logDataId: number;
  private readonly unsubscribe: () => void;

  constructor(private readonly parts: LogServiceParts) {
    const { registry, router } = parts;
    this.encoder = new FrameEncoder(registry);
    this.port = router.attach({ id: 'onboard-logs', role: 'gateway', send: () => true });
    this.outlet = new FrameDecoder(registry, (frame) => router.route(frame, this.port));
    this.logEntryId = registry.byName('LOG_ENTRY')!.id;
    this.logDataId = registry.byName('LOG_DATA')!.id;
    this.unsubscribe = router.onFrame((frame) => {
      if (frame.msgid === this.logDataId || frame.msgid === this.logEntryId) this.clients.get(frame.sysid)?.receive(frame);
    });
  }

  get directory(): string {
    return this.parts.directory;
  }

  private send(message: OutgoingMessage): void {
    this.outlet.push(this.encoder.encode(message, this.parts.source));
  }

  /** The vehicle's autopilot component; refused when none is heard or it is armed. */
  private vehicle(sysid: number): LogVehicle {
    const component = this.parts.state.vehicles().find((c) => c.sysid === sysid && !c.lost);
    if (!component) throw new LogRequestError(`no vehicle with system id ${sysid} is heard`);
    if (component.heartbeat!.armed) throw new LogRequestError(`vehicle ${sysid} is armed: autopilots serve their logs only when disarmed`);
    return { sysid, compid: component.compid, autopilot: component.heartbeat!.autopilot };
  }

  private client(vehicle: LogVehicle): LogTransferClient {
    let client = this.clients.get(vehicle.sysid);
    if (!client || client.vehicle.compid !== vehicle.compid) {
      client = new LogTransferClient((m) => this.send(m), vehicle, this.parts.timeouts ?? DEFAULT_TIMEOUTS);
      this.clients.set(vehicle.sysid, client);
    }
    return client;
  }

  /** Runs `task` after whatever this vehicle is doing: one transfer at a time per vehicle. */
  private queued<T>(sysid: number, task: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(sysid) ?? Promise.resolve()).then(task, task);
    this.queues.set(sysid, next.catch(() => {}));
    return next;
  }

  /** The vehicle's logs, each marked with what is already downloaded. */
  async list(sysid: number): Promise<{ sysid: number; logs: ListedLog[]; complete: boolean }> {
    const vehicle = this.vehicle(sysid);
    const { entries, complete } = await this.queued(sysid, () => this.client(vehicle).list());
    const store = this.parts.openStore();
    return {
      sysid,
      complete,
      logs: entries.map((e) => ({ ...e, downloaded: store.downloaded(sysid, e)?.file ?? null, partial_bytes: store.partialBytes(vehicle, e) })),
    };
  }

  /** Queues downloads of the selected logs; resolves with their jobs once the list is known. */
  async download(sysid: number, selection: LogSelection, by: string): Promise<LogJob[]> {
    const vehicle = this.vehicle(sysid);
    const client = this.client(vehicle);
    const store = this.parts.openStore();
    const { entries } = await this.queued(sysid, () => client.list());
    const jobs = selectLogs(entries, selection).map((entry) => {
      const download = new OnboardLogDownload(client, store, entry, this.parts.audit, by);
      const job = { id: `job${this.nextJob++}`, by, download };
      this.jobList.push(job);
      const finished = this.jobList.findIndex((j) => j.download.state !== 'queued' && j.download.state !== 'downloading');
      if (this.jobList.length > KEEP_JOBS && finished >= 0) this.jobList.splice(finished, 1);
      void this.queued<unknown>(sysid, () => (download.state === 'queued' ? download.run() : Promise.resolve())).catch(() => {});
      return job;
    });
    return jobs.map((j) => this.snapshot(j));
  }

  private snapshot(job: { id: string; by: string; download: OnboardLogDownload }): LogJob {
    return { job: job.id, by: job.by, ...job.download.progress() };
  }

  /** Every download of this run, oldest first. */
  jobs(): LogJob[] {
    return this.jobList.map((j) => this.snapshot(j));
  }

  /** Stops a queued or running download; what arrived stays for the next attempt. */
  cancel(id: string): LogJob | null {
    const job = this.jobList.find((j) => j.id === id);
    if (!job) return null;
    if (job.download.state === 'queued') job.download.state = 'cancelled';
    else job.download.cancel();
    return this.snapshot(job);
  }

  /** The logs downloaded so far (none while the directory was never made). */
  files(): DownloadedLog[] {
    return existsSync(this.parts.directory) ? this.parts.openStore().list() : [];
  }

  /** Running downloads stop (their partial downloads stay for the next run). */
  async stop(): Promise<void> {
    for (const job of this.jobList) if (job.download.state === 'downloading' || job.download.state === 'queued') this.cancel(job.id);
    await Promise.all([...this.queues.values()]);
    this.unsubscribe();
    this.parts.router.detach(this.port);
  }
}
