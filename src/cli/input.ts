/** Opening what a command reads: a file path, or `-` for standard input. */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
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
