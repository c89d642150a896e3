/**
 * The only place sinks touch the file system for writing, always inside a directory the
 * residency gate granted: a name is joined to the granted path and must stay in it, and
 * the directory is judged again first (`checkGrant`): one that was replaced by a symlink
 * since, or that the policy in force no longer approves, is refused, not followed.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { type FileHandle, link, open, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assertGrant, checkGrant, type DirectoryGrant } from '../residency/gate.js';

/** A file name (no directory part) inside the granted directory. */
function inside(grant: DirectoryGrant, name: string): string {
  assertGrant(grant, 'directory');
  checkGrant(grant);
  if (name !== basename(name) || name === '' || name === '.' || name === '..') throw new Error(`"${name}" is not a plain file name`);
  return join(grant.path, name);
}

/** Creates a new file for appending; never overwrites (`wx`). */
export function createFile(grant: DirectoryGrant, name: string): Promise<FileHandle> {
  return open(inside(grant, name), 'wx', 0o640);
}

/** Writes a small whole file (a sidecar), replacing it. */
export function writeWholeFile(grant: DirectoryGrant, name: string, data: string | Buffer): void {
  writeFileSync(inside(grant, name), data, { mode: 0o640 });
}

/** Opens a file that is there: `r` to read it, `r+` to write into it at chosen offsets (a partial download). */
export function openFileIn(grant: DirectoryGrant, name: string, flags: 'r' | 'r+'): Promise<FileHandle> {
  return open(inside(grant, name), flags);
}

/**
 * Writes all of `bytes` (at `position`, or where the file is): a write may take less than
 * asked (a disk filling up), so it goes on from where it stopped.
 */
export async function writeAll(handle: FileHandle, bytes: Buffer, position: number | null = null): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position === null ? null : position + done);
    if (bytesWritten === 0) throw new Error('the disk took nothing (full?)');
    done += bytesWritten;
  }
}

/** Replaces a small file whole, so that a crash leaves the old version or the new one (write, then rename). */
export function replaceWholeFile(grant: DirectoryGrant, name: string, data: string): void {
  const path = inside(grant, name);
  writeFileSync(`${path}.tmp`, data, { mode: 0o640 });
  renameSync(`${path}.tmp`, path);
}

/** Appends to a file (created if missing), synchronously: the spool must be on disk before it is counted as kept. */
export function appendToFile(grant: DirectoryGrant, name: string, data: string): void {
  appendFileSync(inside(grant, name), data, { mode: 0o640 });
}

/** A file's text, or '' when it does not exist. */
export function readFileIn(grant: DirectoryGrant, name: string): string {
  const path = inside(grant, name);
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

export function removeFile(grant: DirectoryGrant, name: string): void {
  unlinkSync(inside(grant, name));
}

/**
 * Gives a finished file its final name, never replacing one that exists (EEXIST): a link
 * under the new name, then the old name removed, so the final name holds the whole file
 * or nothing.
 */
export async function publishFile(grant: DirectoryGrant, from: string, to: string): Promise<void> {
  await link(inside(grant, from), inside(grant, to));
  await unlink(inside(grant, from));
}

/** Removes a file if it is there (an unfinished one being abandoned). */
export async function discardFile(grant: DirectoryGrant, name: string): Promise<void> {
  await unlink(inside(grant, name)).catch(() => {});
}

/** Recreates the granted directory if it vanished (a USB disk pulled and put back, a cleanup script). */
export function ensureDirectory(grant: DirectoryGrant): void {
  assertGrant(grant, 'directory');
  // Judged before (a parent replaced by a symlink would lead mkdir elsewhere) and after (a race with whoever recreates it).
  checkGrant(grant);
  mkdirSync(grant.path, { recursive: true, mode: 0o700 });
  checkGrant(grant);
}

export interface FileEntry {
  name: string;
  bytes: number;
  mtimeMs: number;
}

/** The directory's files whose names match `pattern`. */
export function listFiles(grant: DirectoryGrant, pattern: RegExp): FileEntry[] {
  assertGrant(grant, 'directory');
  checkGrant(grant);
  return readdirSync(grant.path)
    .filter((name) => pattern.test(name))
    .flatMap((name) => {
      try {
        const s = statSync(join(grant.path, name));
        return s.isFile() ? [{ name, bytes: s.size, mtimeMs: s.mtimeMs }] : [];
      } catch {
        return [];
      }
    });
}
