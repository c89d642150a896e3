/**
 * The onboard-log routes of the API: the vehicle's list, downloads the gateway does
 * itself into its approved logs directory, their progress, and the files downloaded.
 * Asking the vehicle (a list, a download) needs a role that may send LOG_REQUEST_LIST or
 * LOG_REQUEST_DATA (admin by default); reading progress and the files needs none.
 *
 *   GET    /v1/logs                          files downloaded and this run's downloads
 *   GET    /v1/logs/vehicles/SYSID           the vehicle's logs (asks it: LOG_REQUEST_LIST)
 *   POST   /v1/logs/downloads                {"sysid":1,"logs":[3,4] | "latest" | "all"}
 *   GET    /v1/logs/downloads                progress of each download
 *   DELETE /v1/logs/downloads/JOB            stop one (what arrived stays for next time)
 */
import type { IncomingMessage } from 'node:http';
import type { ClientHub } from './client-hub.js';
import { bodyOf, type Reply } from './rest-api.js';
import type { Principal } from './tokens.js';

/** What the gateway's log service offers (implemented in sinks/onboard-logs, wired by the command). */
export interface LogsApi {
  readonly directory: string;
  list(sysid: number): Promise<unknown>;
  download(sysid: number, selection: number[] | 'latest' | 'all', by: string): Promise<unknown[]>;
  jobs(): unknown[];
  cancel(job: string): unknown;
  files(): unknown[];
}

/** The service's refusals carry these names: the caller's to fix (409) or the vehicle's silence (504). */
function statusOf(err: unknown): number | null {
  const name = (err as Error).name;
  return name === 'LogRequestError' || name === 'ResidencyRefusal' ? 409 : name === 'LogProtocolError' ? 504 : null;
}

function parseSelection(body: unknown): { sysid: number; selection: number[] | 'latest' | 'all' } | string {
  const { sysid, logs } = (body ?? {}) as { sysid?: unknown; logs?: unknown };
  if (typeof sysid !== 'number' || !Number.isInteger(sysid) || sysid < 1 || sysid > 255) return '"sysid": the vehicle\'s system id, 1..255';
  if (logs === 'latest' || logs === 'all') return { sysid, selection: logs };
  if (Array.isArray(logs) && logs.length > 0 && logs.every((id) => Number.isInteger(id) && id >= 0 && id <= 0xffff)) return { sysid, selection: logs as number[] };
  return '"logs": a list of log ids, "latest" or "all"';
}

export async function handleLogs(method: string, path: string, req: IncomingMessage, principal: Principal, hub: ClientHub, logs: LogsApi | undefined): Promise<Reply> {
  if (!logs) return { status: 404, body: { error: 'onboard logs are not available here (mavgate run serves them)' } };
  const asks = (message: string): Reply | null => {
    const result = hub.judgeRequest(hub.restSession(principal, `${req.socket.remoteAddress}:${req.socket.remotePort}`), message);
    return result.ok ? null : { status: 403, body: { error: result.reason } };
  };
  try {
    if (method === 'GET' && path === '/logs') return { status: 200, body: { directory: logs.directory, files: logs.files(), downloads: logs.jobs() } };
    if (method === 'GET' && path === '/logs/downloads') return { status: 200, body: { downloads: logs.jobs() } };
    const vehicle = /^\/logs\/vehicles\/(\d+)$/.exec(path);
    if (method === 'GET' && vehicle) return asks('LOG_REQUEST_LIST') ?? { status: 200, body: await logs.list(Number(vehicle[1])) };
    if (method === 'POST' && path === '/logs/downloads') {
      const read = await bodyOf(req);
      if ('reply' in read) return read.reply;
      const refused = asks('LOG_REQUEST_DATA');
      if (refused) return refused;
      const request = parseSelection(read.body);
      if (typeof request === 'string') return { status: 400, body: { error: request } };
      return { status: 202, body: { downloads: await logs.download(request.sysid, request.selection, principal.name) } };
    }
    const job = /^\/logs\/downloads\/([\w-]+)$/.exec(path);
    if (method === 'DELETE' && job) {
      const refused = asks('LOG_REQUEST_DATA');
      if (refused) return refused;
      const cancelled = logs.cancel(job[1]!);
      return cancelled ? { status: 200, body: cancelled } : { status: 404, body: { error: `no download ${job[1]}` } };
    }
  } catch (err) {
    const status = statusOf(err);
    if (status === null) throw err;
    return { status, body: { error: (err as Error).message } };
  }
  return { status: 404, body: { error: `no route ${method} /v1${path}` } };
}
