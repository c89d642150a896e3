/**
 * `mavgate decode`: a tlog or raw MAVLink stream in, JSON Lines out, streaming in
 * constant memory whatever the file size.
 */
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { type Frame, FrameDecoder, TlogDecoder, frameRecord, loadRegistry } from '../mavlink/index.js';
import type { OpenedStatus } from '../sinks/encryption.js';
import { DecryptError, RecordingReader } from '../sinks/recording-reader.js';
import { InputError } from './errors.js';
import { describeFsError, openInput, tlogHead } from './input.js';
import { progress, showsProgress } from './progress.js';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

export interface DecodeOptions {
  input: string;
  raw: boolean;
  dialects?: readonly string[];
  /** The key of an encrypted recording. */
  key?: Buffer;
}

export interface DecodeIo {
  stdout: Writable;
  stderr: Writable;
  stdin?: Readable;
}

/** Runs the command; returns the summary it also printed on stderr. Throws InputError. */
export async function runDecode(options: DecodeOptions, io: DecodeIo): Promise<Record<string, unknown>> {
  const registry = loadRegistry(options.dialects);
  const input = await openInput(options.input, io.stdin);
  let lines: string[] = [];
  const onFrame = (frame: Frame, timeUs: number | null) => {
    lines.push(JSON.stringify(frameRecord(frame, timeUs)));
  };
  const decoder = options.raw
    ? new FrameDecoder(registry, (f) => onFrame(f, null))
    : new TlogDecoder(registry, onFrame);

  const head = options.raw ? null : tlogHead(options.input);
  const feed = (chunk: Buffer) => {
    const bytes = head ? head.push(chunk) : chunk;
    if (bytes) decoder.push(bytes);
  };
  const reader = new RecordingReader(options.key ?? null);
  let encrypted: OpenedStatus | null = null;
  // The file's size is looked up only when a bar will show it.
  const size = options.input !== '-' && showsProgress() ? (await stat(options.input)).size : 0;
  const bar = size > 0 ? progress(`decode ${basename(options.input)}`, size) : null;
  let read = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      read += chunk.length;
      bar?.update(read);
      for (const plain of options.raw ? [chunk] : reader.push(chunk)) feed(plain);
      if (lines.length > 0) await write(io.stdout, lines);
      lines = [];
    }
    if (!options.raw) {
      const end = reader.end();
      end.rest.forEach(feed);
      encrypted = end.encrypted;
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    if (err instanceof DecryptError) throw new InputError(`${options.input}: ${err.message}`);
    throw new InputError(`cannot read ${options.input}: ${describeFsError(err)}`);
  } finally {
    bar?.stop();
    input.destroy();
  }
  head?.end();
  decoder.end();
  if (lines.length > 0) await write(io.stdout, lines);

  const summary: Record<string, unknown> = decoder.stats.toJSON();
  if (encrypted) {
    summary.encrypted = { chunks: encrypted.chunks, closed_cleanly: encrypted.complete, torn_bytes: encrypted.tornBytes };
    if (!encrypted.complete) io.stderr.write(`${options.input}: the recording was not closed cleanly (a crash?): everything up to its last whole chunk is shown\n`);
  }
  io.stderr.write(`${JSON.stringify(summary)}\n`);
  return summary;
}

async function write(out: Writable, lines: string[]): Promise<void> {
  if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
}
