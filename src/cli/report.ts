/**
 * `mavgate report FLIGHT.tlog[.enc]`: the post-flight report, one self-contained HTML
 * file, written into a directory the policy approves (`reports/` of its data directory by
 * default). The recording is streamed, so its size does not matter.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EgressGate } from '../residency/gate.js';
import { dataDirectory, type ResidencyPolicy } from '../residency/policy.js';
import { createFile, writeAll } from '../sinks/files.js';
import { flightReport, ReportInputError } from '../sinks/flight-report/flight-report.js';
import { InputError } from './errors.js';
import { openInput } from './input.js';
import { cannotWrite, refuseExistingOutput } from './output.js';
import { progress } from './progress.js';
import { version } from './version.js';

export interface ReportOptions {
  input: string;
  key: Buffer | null;
  /** The HTML file to write; default `reports/STEM.html` in the policy's data directory. */
  out?: string;
  policy: ResidencyPolicy;
  /** Show progress on stderr (default true). */
  progress?: boolean;
}

export async function runReport(options: ReportOptions): Promise<{ out: string; flights: number; records: number; bytes: number }> {
  const stem = basename(options.input).replace(/\.tlog(\.enc)?$/, '');
  const out = resolve(options.out ?? join(dataDirectory(options.policy, 'reports'), `${stem}.html`));
  // Refused before anything is read: the report would hold everything the recording does.
  const grant = new EgressGate(options.policy).grantDirectory('report output', dirname(out));
  // A missing recording named as such first; then the output checked, before the whole recording is read for nothing.
  (await openInput(options.input)).destroy();
  refuseExistingOutput(out);
  const size = (await stat(options.input).catch(() => ({ size: 0 }))).size;
  const bar = options.progress === false ? { update() {}, stop() {} } : progress(`report ${basename(options.input)}`, size);
  let report;
  try {
    report = await flightReport({ path: options.input, key: options.key, generator: `mavgate ${version}`, onProgress: (done) => bar.update(done) });
  } catch (err) {
    if (err instanceof ReportInputError) throw new InputError(err.message);
    throw err;
  } finally {
    bar.stop();
  }
  let handle;
  try {
    handle = await createFile(grant, basename(out));
  } catch (err) {
    throw cannotWrite(out, err);
  }
  const html = Buffer.from(report.html);
  try {
    await writeAll(handle, html);
  } finally {
    await handle.close();
  }
  return { out, flights: report.flights, records: report.records, bytes: html.length };
}
