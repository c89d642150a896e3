/**
 * `mavgate export`: a recording (plain or encrypted) to JSON Lines, CSV, GPX or KML, in a
 * directory the residency policy approves, streaming whatever the recording's size.
 */
import { existsSync, rmdirSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { loadRegistry, type MessageRegistry, TlogDecoder } from '../mavlink/index.js';
import { EgressGate } from '../residency/gate.js';
import { dataDirectory, type ResidencyPolicy } from '../residency/policy.js';
import { csvFormat, type ExportFormat, type ExportFormatName, gpxFormat, jsonlFormat, kmlFormat } from '../sinks/export-formats.js';
import { createFile, removeFile } from '../sinks/files.js';
import { DecryptError, RecordingReader } from '../sinks/recording-reader.js';
import { InputError } from './errors.js';
import { checkRecording, emptyRecording, openInput, tlogHead } from './input.js';
import { cannotWrite, refuseExistingOutput } from './output.js';
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

const TRACK_FORMATS: readonly ExportFormatName[] = ['gpx', 'kml'];

/** Options that do not fit the format, and message names no dialect knows: exit 2 before anything is read. */
function checkOptions(options: ExportOptions, registry: MessageRegistry): void {
  const track = TRACK_FORMATS.includes(options.format);
  if (options.messages && track) throw new InputError(`--messages applies to jsonl and csv; ${options.format} follows GLOBAL_POSITION_INT`);
  if (options.sysid !== undefined && !track) throw new InputError(`--sysid applies to gpx and kml; ${options.format} exports every vehicle`);
  const unknown = (options.messages ?? []).filter((name) => !registry.byName(name));
  if (unknown.length > 0) {
    const hints = unknown.map((name) => {
      const near = closestName(registry, name);
      return `"${name}"${near ? ` (did you mean ${near}?)` : ''}`;
    });
    throw new InputError(`--messages: no message named ${hints.join(', ')} in the dialects; names are as in the MAVLink XML, e.g. ATTITUDE,VFR_HUD`);
  }
}

/** The registry's name nearest to `name` by edit distance, when it is near enough to be a typo. */
function closestName(registry: MessageRegistry, name: string): string | null {
  const wanted = name.toUpperCase();
  let best: { name: string; distance: number } | null = null;
  for (const def of registry) {
    const d = editDistance(wanted, def.name);
    if (!best || d < best.distance) best = { name: def.name, distance: d };
  }
  return best && best.distance <= Math.max(2, Math.floor(wanted.length / 4)) ? best.name : null;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

export async function runExport(options: ExportOptions): Promise<{ out: string; summary: Record<string, unknown> }> {
  const registry = loadRegistry();
  checkOptions(options, registry);
  const stem = basename(options.input).replace(/\.tlog(\.enc)?$/, '');
  const defaultDir = dataDirectory(options.policy, 'exports');
  const csv = options.format === 'csv';
  const outPath = resolve(options.out ?? join(defaultDir, csv ? `${stem}-csv` : `${stem}.${options.format}`));
  const dir = csv ? outPath : dirname(outPath);
  const file = basename(outPath);
  const dirExisted = existsSync(dir);
  const grant = new EgressGate(options.policy).grantDirectory('export output', dir);
  // The recording's first record judged, then the output checked, before the whole recording is read for nothing.
  if (options.input !== '-') await checkRecording(options.input, options.key ?? null);
  // A CSV directory's files are named by the messages found: only a single output file can be checked up front.
  if (!csv) refuseExistingOutput(outPath);
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
          throw cannotWrite(join(dir, name), err);
        }
        handles.set(name, handle);
      }
      await handle.write(text);
    }
  };

  const size = options.input === '-' ? 0 : (await stat(options.input).catch(() => ({ size: 0 }))).size;
  const bar = options.progress === false ? { update() {}, stop() {} } : progress(`export ${basename(options.input)}`, size);
  const decoder = new TlogDecoder(registry, (frame, timeUs) => format.frame(frame, timeUs));
  const reader = new RecordingReader(options.key ?? null);
  const input = await openInput(options.input);
  const head = tlogHead(options.input);
  const feed = (plain: Buffer) => {
    const bytes = head.push(plain);
    if (bytes) decoder.push(bytes);
  };
  let read = 0;
  let failed = true;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      for (const plain of reader.push(chunk)) feed(plain);
      read += chunk.length;
      bar.update(read);
      await write(format.take());
    }
    for (const rest of reader.end().rest) feed(rest);
    head.end();
    if (read === 0) throw emptyRecording(options.input);
    decoder.end();
    const problem = format.problem();
    if (problem) throw new InputError(`${options.input}: ${problem}; nothing written`);
    await write(format.finish());
    failed = false;
  } catch (err) {
    if (err instanceof DecryptError) throw new InputError(`${options.input}: ${err.message}`);
    throw err;
  } finally {
    bar.stop();
    input.destroy();
    for (const h of handles.values()) await h.close();
    // A failed export leaves nothing behind: a half-written file would pass for the real thing.
    if (failed) {
      for (const name of handles.keys()) removeFile(grant, name);
      if (!dirExisted) rmdirSync(dir);
    }
  }
  return { out: outPath, summary: { ...format.summary(), frames_read: decoder.stats.frames, torn_record: decoder.stats.tornRecord } };
}
