/**
 * One onboard log downloaded into the approved directory: continued from its partial
 * download when there is one, finished into the log and its sidecar, every start, stop
 * and completion audited. Its progress (bytes, rate, ETA) is readable at any time.
 */
import type { DownloadedLog, LogStore } from './log-store.js';
import { LogDownloadCancelled, type LogEntry, type LogTransferClient } from './log-protocol.js';
import type { PartialLog } from './partial-log.js';

export type DownloadState = 'queued' | 'downloading' | 'done' | 'already downloaded' | 'failed' | 'cancelled';

export interface DownloadProgress {
  sysid: number;
  log_id: number;
  size: number;
  state: DownloadState;
  /** Bytes on disk (or in the finished file). */
  bytes: number;
  /** Bytes that were there from an earlier, interrupted download. */
  resumed_bytes: number;
  /** Bytes per second this session, and seconds left at that rate (null until measured). */
  rate: number | null;
  eta_s: number | null;
  file?: string;
  sha256?: string;
  error?: string;
}

export type AuditHook = (event: string, details: Record<string, unknown>) => void;

export class OnboardLogDownload {
  private partial: PartialLog | null = null;
  private result: DownloadedLog | null = null;
  private error: string | null = null;
  private readonly abort = new AbortController();
  state: DownloadState = 'queued';

  constructor(
    private readonly client: LogTransferClient,
    private readonly store: LogStore,
    readonly entry: LogEntry,
    private readonly audit: AuditHook,
    /** Who asked for it, for the audit log (a client's name, or the command line). */
    private readonly by: string,
  ) {}

  get sysid(): number {
    return this.client.vehicle.sysid;
  }

  /** Stops the download; what arrived stays for the next attempt. */
  cancel(): void {
    this.abort.abort(new LogDownloadCancelled());
  }

  progress(): DownloadProgress {
    const map = this.partial?.map;
    const bytes = this.result ? this.result.size : map?.receivedBytes ?? 0;
    const resumed = this.partial?.resumedBytes ?? 0;
    const measured = this.client.counters.chunks > 1;
    const rate = measured ? this.client.rate() : null;
    return {
      sysid: this.sysid,
      log_id: this.entry.id,
      size: this.result?.size ?? map?.size ?? this.entry.size,
      state: this.state,
      bytes,
      resumed_bytes: resumed,
      rate,
      eta_s: rate && this.state === 'downloading' ? Math.max(0, ((map?.size ?? this.entry.size) - bytes) / rate) : null,
      ...(this.result ? { file: this.result.file, sha256: this.result.sha256 } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }

  async run(): Promise<DownloadedLog> {
    const { entry, store } = this;
    const vehicle = this.client.vehicle;
    const where = { sysid: vehicle.sysid, log_id: entry.id, directory: store.directory, by: this.by };
    // Whatever fails from here, the job ends 'failed' with the reason: a job left 'queued' is followed forever.
    try {
      const done = store.downloaded(vehicle.sysid, entry);
      if (done) {
        this.result = done;
        this.state = 'already downloaded';
        return done;
      }
      this.state = 'downloading';
      this.partial = await store.openPartial(vehicle, entry, (err) => this.abort.abort(err));
      this.audit('onboard_log_download_started', { ...where, size: entry.size, resumed_bytes: this.partial.resumedBytes, encrypted: store.key !== null });
      await this.client.download(entry, this.partial, this.abort.signal);
      if (this.abort.signal.aborted) throw this.abort.signal.reason;
      this.result = await store.finish(this.partial);
    } catch (err) {
      const reason = this.abort.signal.aborted ? this.abort.signal.reason : err;
      await this.partial?.close().catch(() => {});
      this.state = reason instanceof LogDownloadCancelled ? 'cancelled' : 'failed';
      this.error = reason instanceof Error ? reason.message : String(reason);
      this.audit('onboard_log_download_stopped', { ...where, why: this.error, kept_bytes: this.partial?.map.receivedBytes ?? 0 });
      throw reason;
    }
    this.state = 'done';
    const { file, size, sha256, encrypted } = this.result;
    this.audit('onboard_log_downloaded', { ...where, file, size, sha256, encrypted, requests: this.client.counters.requests, chunks_received_twice: this.client.counters.duplicates });
    return this.result;
  }
}
