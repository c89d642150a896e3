/** Opening what a command reads: a file path, or `-` for standard input. */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { looksLikeRecord, TLOG_TIMESTAMP_LENGTH } from '../mavlink/index.js';
import { DecryptError, RecordingReader } from '../sinks/recording-reader.js';
import { InputError } from './errors.js';

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && REASONS[code]) ?? (err as Error).message;
}

/** Opens `path` for streaming in 64 KiB chunks, or stdin for `-`; errors name the file. */
export async function openInput(path: string, stdin: Readable = process.stdin): Promise<Readable> {
  if (path === '-') return stdin;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${describeFsError(err)}`);
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new InputError(`cannot read ${path}: ${info.isDirectory() ? 'is a directory' : 'not a regular file'}`);
  }
  return handle.createReadStream({ highWaterMark: 64 * 1024 });
}

/**
 * A tlog is told apart from other files by its first record: a plausible timestamp, then a
 * start marker. `push` holds the first bytes until they can be judged (throwing InputError
 * for a file that is not a tlog) and returns what to decode; `end` judges a file shorter
 * than one record.
 */
export function tlogHead(input: string): { push(chunk: Buffer): Buffer | null; end(): void } {
  let head: Buffer | null = Buffer.alloc(0);
  const notTlog = () => new InputError(
    `${input} is not a tlog: expected an 8-byte big-endian microsecond timestamp then a MAVLink frame ` +
      'at offset 0 (use --raw for a raw MAVLink byte stream)',
  );
  return {
    push(chunk) {
      if (head === null) return chunk;
      head = Buffer.concat([head, chunk]);
      if (head.length <= TLOG_TIMESTAMP_LENGTH) return null;
      if (!looksLikeRecord(head, 0)) throw notTlog();
      const all = head;
      head = null;
      return all;
    },
    end() {
      if (head !== null && head.length > 0) throw notTlog();
    },
  };
}

/** A file with no bytes at all: no recording, whatever its name says. */
export function emptyRecording(input: string): InputError {
  return new InputError(`${input} is empty: not a recording`);
}

/**
 * Judges a recording (plain, or encrypted with its key) by its first record, as decode
 * does while it streams, but up front: for commands that would otherwise start, play
 * nothing and keep running (replay). Reads only as far as the judgement needs.
 */
export async function checkRecording(path: string, key: Buffer | null): Promise<void> {
  const input = await openInput(path);
  const reader = new RecordingReader(key);
  const head = tlogHead(path);
  let read = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      read += chunk.length;
      if (reader.push(chunk).some((plain) => head.push(plain) !== null)) return;
    }
    reader.end().rest.forEach((rest) => head.push(rest));
    head.end();
    if (read === 0) throw emptyRecording(path);
  } catch (err) {
    if (err instanceof DecryptError) throw new InputError(`${path}: ${err.message}`);
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${path}: ${describeFsError(err)}`);
  } finally {
    input.destroy();
  }
}
