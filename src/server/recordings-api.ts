/**
 * The recordings' routes: the flight recordings in the gateway's recording directory,
 * and each one's post-flight report (made on first request, then kept beside it in the
 * approved reports directory). A report shows positions and everything else unredacted,
 * so only a role whose residency rule lets every class through may read one.
 *
 *   GET /v1/recordings              the recordings, newest first, each with its report's URL
 *   GET /v1/recordings/NAME/report  the report (HTML, self-contained: nothing else is loaded)
 */
import type { Reply } from './rest-api.js';
import type { Principal } from './tokens.js';

export interface RecordingsApi {
  readonly directory: string;
  /** Throws an error named RecordingAccessError when the role may not read recordings. */
  list(principal: Principal): unknown[];
  report(name: string, principal: Principal): Promise<Buffer>;
}

/** What a report page may do: run its own inline script and style, load nothing at all. */
export const REPORT_CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

function statusOf(err: unknown): number | null {
  const name = (err as Error).name;
  return name === 'RecordingAccessError' ? 403 : name === 'RecordingNotFound' ? 404 : name === 'ResidencyRefusal' ? 409 : name === 'ReportInputError' ? 422 : null;
}

export async function handleRecordings(method: string, path: string, principal: Principal, recordings: RecordingsApi | undefined): Promise<Reply | { html: Buffer }> {
  if (!recordings) return { status: 404, body: { error: 'no recordings here (mavgate run records unless --no-record)' } };
  if (method !== 'GET') return { status: 405, body: { error: `no route ${method} /v1${path}` } };
  try {
    if (path === '/recordings') return { status: 200, body: { directory: recordings.directory, recordings: recordings.list(principal) } };
    const report = /^\/recordings\/([^/]+)\/report$/.exec(path);
    if (report) return { html: await recordings.report(decodeURIComponent(report[1]!), principal) };
  } catch (err) {
    const status = statusOf(err);
    if (status === null) throw err;
    return { status, body: { error: (err as Error).message } };
  }
  return { status: 404, body: { error: `no route ${method} /v1${path}` } };
}
