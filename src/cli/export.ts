/**
 * `mavgate export`: a recording (plain or encrypted) to JSON Lines, CSV, GPX or KML, in a
 * directory the residency policy approves, streaming whatever the recording's size.
 */
import type { FileHandle } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { loadRegistry, TlogDecoder } from '../mavlink/index.js';
import { EgressGate } from '../residency/gate.js';
import { dataDirectory, type ResidencyPolicy } from '../residency/policy.js';
import { csvFormat, type ExportFormat, type ExportFormatName, gpxFormat, jsonlFormat, kmlFormat } from '../sinks/export-formats.js';
import { createFile } from '../sinks/files.js';
import { DecryptError, RecordingReader } from '../sinks/recording-reader.js';
import { InputError } from './errors.js';
import { openInput } from './input.js';
import { progress } from './progress.js';

export interface ExportOptions {
  input: string;
  format: ExportFormatName;
  /** A file (jsonl, gpx, kml) or a directory (csv); default: `exports/` in the policy's first approved directory. */
  out?: string;
  messages?: string[];
  sysid?: number;
  key?: Buffer;
  policy: ResidencyPolicy;
  /** Show progress on stderr (default true). */
  progress?: boolean;
}

export async function runExport(options: ExportOptions): Promise<{ out: string; summary: Record<string, unknown> }> {
  const stem = basename(options.input).replace(/\.tlog(\.enc)?$/, '');
  const defaultDir = dataDirectory(options.policy, 'exports');
  const csv = options.format === 'csv';
  const outPath = resolve(options.out ?? join(defaultDir, csv ? `${stem}-csv` : `${stem}.${options.format}`));
  const dir = csv ? outPath : dirname(outPath);
  const file = basename(outPath);
  const grant = new EgressGate(options.policy).grantDirectory('export output', dir);
  const messages = options.messages ? new Set(options.messages) : null;
  const format: ExportFormat =
    options.format === 'jsonl' ? jsonlFormat(file, messages)
      : options.format === 'csv' ? csvFormat(messages)
        : options.format === 'gpx' ? gpxFormat(file, stem, options.sysid ?? null)
          : kmlFormat(file, stem, options.sysid ?? null);

  const handles = new Map<string, FileHandle>();
  const write = async (texts: Map<string, string>) => {
    for (const [name, text] of texts) {
      let handle = handles.get(name);
      if (!handle) {
        try {
          handle = await createFile(grant, name);
        } catch (err) {
          throw new InputError(`cannot write ${join(dir, name)}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? 'the file exists; choose another --out' : (err as Error).message}`);
        }
        handles.set(name, handle);
      }
      await handle.write(text);
    }
  };

  const size = options.input === '-' ? 0 : (await stat(options.input).catch(() => ({ size: 0 }))).size;
  const bar = options.progress === false ? { update() {}, stop() {} } : progress(`export ${basename(options.input)}`, size);
  const registry = loadRegistry();
  const decoder = new TlogDecoder(registry, (frame, timeUs) => format.frame(frame, timeUs));
  const reader = new RecordingReader(options.key ?? null, options.input);
  const input = await openInput(options.input);
  let read = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      for (const plain of reader.push(chunk)) decoder.push(plain);
      read += chunk.length;
      bar.update(read);
      await write(format.take());
    }
    for (const rest of reader.end().rest) decoder.push(rest);
    decoder.end();
    await write(format.finish());
  } catch (err) {
    if (err instanceof DecryptError) throw new InputError(`${options.input}: ${err.message}`);
    throw err;
  } finally {
    bar.stop();
    input.destroy();
    for (const h of handles.values()) await h.close();
  }
  return { out: outPath, summary: { ...format.summary(), frames_read: decoder.stats.frames, torn_record: decoder.stats.tornRecord } };
}
