/**
 * `mavgate decode`: a tlog or raw MAVLink stream in, JSON Lines out, streaming in
 * constant memory whatever the file size.
 */
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import {
  type Frame, FrameDecoder, TlogDecoder, frameRecord, loadRegistry, looksLikeRecord, TLOG_TIMESTAMP_LENGTH,
} from '../mavlink/index.js';
import { InputError } from './errors.js';
import { describeFsError, openInput } from './input.js';

export interface DecodeOptions {
  input: string;
  raw: boolean;
  dialects?: readonly string[];
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

  // A tlog is told apart from other files by its first record: a plausible timestamp, then a start marker.
  let head: Buffer | null = options.raw ? null : Buffer.alloc(0);
  const notTlog = () =>
    new InputError(
      `${options.input} is not a tlog: expected an 8-byte big-endian microsecond timestamp then a MAVLink frame ` +
        `at offset 0 (use --raw for a raw MAVLink byte stream)`,
    );

  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        if (head.length <= TLOG_TIMESTAMP_LENGTH) continue;
        if (!looksLikeRecord(head, 0)) throw notTlog();
        decoder.push(head);
        head = null;
      } else {
        decoder.push(chunk);
      }
      if (lines.length > 0) await write(io.stdout, lines);
      lines = [];
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${options.input}: ${describeFsError(err)}`);
  } finally {
    input.destroy();
  }
  if (head !== null && head.length > 0) throw notTlog();
  decoder.end();
  if (lines.length > 0) await write(io.stdout, lines);

  const summary = decoder.stats.toJSON();
  io.stderr.write(`${JSON.stringify(summary)}\n`);
  return summary;
}

async function write(out: Writable, lines: string[]): Promise<void> {
  if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
}
