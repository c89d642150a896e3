/**
 * A post-flight report from a recording (plain or encrypted), streamed: the file is read
 * once in 1 MiB pieces, hashed as it goes (to check it against its sidecar), decoded and
 * analysed, and only the decimated result is kept, so a multi-gigabyte recording costs
 * the memory of a small one and makes a report of the same size.
 */
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadRegistry, TlogDecoder } from '../../mavlink/index.js';
import { DecryptError, RecordingReader } from '../recording-reader.js';
import { FlightAnalysis } from './flight-analysis.js';
import { type RecordingFacts, reportHtml } from './report-html.js';

const READ_BLOCK = 1 << 20;

export class ReportInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportInputError';
  }
}

export interface ReportSource {
  path: string;
  key: Buffer | null;
  /** Told of the bytes read so far (a progress bar). */
  onProgress?: (bytes: number, total: number) => void;
  generator: string;
}

async function readSidecar(path: string): Promise<RecordingFacts['sidecar']> {
  try {
    return JSON.parse(await readFile(`${path}.json`, 'utf8')) as RecordingFacts['sidecar'];
  } catch {
    return null;
  }
}

/** The report's HTML, and what it found (for the command's summary line). */
export async function flightReport(source: ReportSource): Promise<{ html: string; flights: number; records: number }> {
  const { path } = source;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new ReportInputError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const registry = loadRegistry();
  const analysis = new FlightAnalysis(registry);
  const decoder = new TlogDecoder(registry, (frame, timeUs) => analysis.observe(frame, timeUs));
  const reader = new RecordingReader(source.key);
  const hash = createHash('sha256');
  let bytes = 0;
  let encrypted = false;
  try {
    const total = (await handle.stat()).size;
    for (;;) {
      // A fresh buffer each time: the decryptor may keep the tail of a chunk it could not open yet.
      const block = Buffer.allocUnsafe(READ_BLOCK);
      const { bytesRead } = await handle.read(block, 0, READ_BLOCK, null);
      if (bytesRead === 0) break;
      const chunk = block.subarray(0, bytesRead);
      hash.update(chunk);
      bytes += bytesRead;
      for (const plain of reader.push(chunk)) decoder.push(plain);
      source.onProgress?.(bytes, total);
    }
    const end = reader.end();
    for (const rest of end.rest) decoder.push(rest);
    decoder.end();
    encrypted = end.encrypted !== null;
  } catch (err) {
    if (err instanceof DecryptError) throw new ReportInputError(`${path}: ${err.message}`);
    throw err;
  } finally {
    await handle.close();
  }
  if (decoder.stats.frames === 0) throw new ReportInputError(`${path}: no MAVLink frame in it: is it a .tlog recording?`);
  const result = analysis.finish();
  const facts: RecordingFacts = {
    file: basename(path), bytes, sha256: hash.digest('hex'), encrypted, sidecar: await readSidecar(path), generatedAt: new Date().toISOString(), generator: source.generator,
  };
  return { html: reportHtml(result, facts), flights: result.flights.length, records: result.records };
}
