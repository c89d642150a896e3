/**
 * The gateway's recordings and their post-flight reports, for the dashboard: one click
 * per recording. A report is made on first request (streamed from the recording) and
 * kept in the approved reports directory; it is made again when the recording has grown
 * since (it is still being written). Reading one is reading the whole recording, so the
 * caller decides who may (`mayRead`).
 */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DirectoryGrant } from '../../residency/gate.js';
import { listFiles, readFileIn, replaceWholeFile } from '../files.js';
import { RECORDING_FILE } from '../recording-file.js';

export class RecordingAccessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordingAccessError';
  }
}

export class RecordingNotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecordingNotFound';
  }
}

export interface RecordingEntry {
  file: string;
  bytes: number;
  modified: string;
  started_at: string | null;
  closed_at: string | null;
  sha256: string | null;
  /** Where its report is served. */
  report: string;
}

export interface RecordingReportsParts {
  /** The recordings' directory, granted by the gate in force (asked for each request). */
  recordings: () => DirectoryGrant;
  /** Where reports are kept, likewise. */
  reports: () => DirectoryGrant;
  key: Buffer | null;
  generator: string;
  /** Why a reader may not read recordings (its residency rule), or null when it may. */
  mayRead: (reader: { name: string; role: string }) => string | null;
}

export class RecordingReports {
  private readonly making = new Map<string, Promise<Buffer>>();

  constructor(private readonly parts: RecordingReportsParts) {}

  get directory(): string {
    return this.parts.recordings().path;
  }

  private check(reader: { name: string; role: string }): void {
    const refusal = this.parts.mayRead(reader);
    if (refusal) throw new RecordingAccessError(refusal);
  }

  list(reader: { name: string; role: string }): RecordingEntry[] {
    this.check(reader);
    const grant = this.parts.recordings();
    return listFiles(grant, RECORDING_FILE)
      .sort((a, b) => b.mtimeMs - a.mtimeMs)
      .map((f) => {
        let sidecar: { started_at?: string; closed_at?: string; sha256?: string } = {};
        try {
          sidecar = JSON.parse(readFileIn(grant, `${f.name}.json`) || '{}');
        } catch {
          // A sidecar being rewritten: the next listing has it.
        }
        return {
          file: f.name, bytes: f.bytes, modified: new Date(f.mtimeMs).toISOString(),
          started_at: sidecar.started_at ?? null, closed_at: sidecar.closed_at ?? null, sha256: sidecar.sha256 ?? null,
          report: `/v1/recordings/${encodeURIComponent(f.name)}/report`,
        };
      });
  }

  /** The report's HTML: the kept one when the recording has not changed since, otherwise made now. */
  async report(name: string, reader: { name: string; role: string }): Promise<Buffer> {
    this.check(reader);
    const recordings = this.parts.recordings();
    if (name !== basename(name) || !RECORDING_FILE.test(name)) throw new RecordingNotFound(`"${name}" is not a recording's name`);
    const path = join(recordings.path, name);
    let recorded: number;
    try {
      recorded = statSync(path).mtimeMs;
    } catch {
      throw new RecordingNotFound(`no recording ${name} in ${recordings.path}`);
    }
    const reports = this.parts.reports();
    const file = `${name}.html`;
    try {
      if (statSync(join(reports.path, file)).mtimeMs >= recorded) return Buffer.from(readFileIn(reports, file));
    } catch {
      // Not made yet.
    }
    let making = this.making.get(name);
    if (!making) {
      making = (async () => {
        // Loaded on first use: a gateway whose dashboard never opens a report does not pay for it.
        const { flightReport } = await import('./flight-report.js');
        const { html } = await flightReport({ path, key: this.parts.key, generator: this.parts.generator });
        replaceWholeFile(reports, file, html);
        return Buffer.from(html);
      })().finally(() => this.making.delete(name));
      this.making.set(name, making);
    }
    return making;
  }
}
