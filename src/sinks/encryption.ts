/**
 * Recordings encrypted at rest: AES-256-GCM in independently authenticated chunks, so a
 * crash loses at most the chunk being written, and a chunk modified, removed, reordered
 * or moved from another file fails authentication.
 *
 *   file   = MAGIC (8) | file id (16, random) | chunk*
 *   chunk  = plaintext length (u32 BE) | flags (u8; 1 = last chunk) | nonce (12) | ciphertext | tag (16)
 *   AAD    = MAGIC | file id | chunk index (u64 BE) | flags | length
 *
 * The last chunk of a recording closed cleanly carries the `last` flag: a file that ends
 * without it was cut short (a crash, a pulled disk), which the reader reports.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const ENCRYPTED_MAGIC = Buffer.from('MGTLENC1');
const FILE_ID = 16;
const NONCE = 12;
const TAG = 16;
const CHUNK_HEADER = 4 + 1 + NONCE;
const LAST = 1;
export const KEY_BYTES = 32;
/** Plaintext per chunk at most; a flush seals what it has, so most chunks are smaller. */
export const MAX_CHUNK = 64 * 1024;

export function isEncrypted(head: Buffer): boolean {
  return head.length >= ENCRYPTED_MAGIC.length && head.subarray(0, ENCRYPTED_MAGIC.length).equals(ENCRYPTED_MAGIC);
}

function aad(fileId: Buffer, index: number, flags: number, length: number): Buffer {
  const b = Buffer.alloc(ENCRYPTED_MAGIC.length + FILE_ID + 8 + 1 + 4);
  ENCRYPTED_MAGIC.copy(b, 0);
  fileId.copy(b, ENCRYPTED_MAGIC.length);
  b.writeBigUInt64BE(BigInt(index), ENCRYPTED_MAGIC.length + FILE_ID);
  b[ENCRYPTED_MAGIC.length + FILE_ID + 8] = flags;
  b.writeUInt32BE(length, ENCRYPTED_MAGIC.length + FILE_ID + 9);
  return b;
}

/** Seals a recording's bytes chunk by chunk. */
export class ChunkSealer {
  private readonly fileId = randomBytes(FILE_ID);
  private index = 0;

  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`an AES-256 key is ${KEY_BYTES} bytes, got ${key.length}`);
  }

  /** What the file starts with. */
  header(): Buffer {
    return Buffer.concat([ENCRYPTED_MAGIC, this.fileId]);
  }

  /** `plaintext` as one or more sealed chunks (at most MAX_CHUNK each); `last` marks the end of the recording. */
  seal(plaintext: Buffer, last = false): Buffer {
    const parts: Buffer[] = [];
    let offset = 0;
    do {
      const piece = plaintext.subarray(offset, offset + MAX_CHUNK);
      offset += piece.length;
      const flags = last && offset >= plaintext.length ? LAST : 0;
      const nonce = randomBytes(NONCE);
      const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
      cipher.setAAD(aad(this.fileId, this.index++, flags, piece.length));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(piece.length, 0);
      head[4] = flags;
      parts.push(head, nonce, cipher.update(piece), cipher.final(), cipher.getAuthTag());
    } while (offset < plaintext.length);
    return Buffer.concat(parts);
  }
}

export class DecryptError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'DecryptError';
  }
}

export interface OpenedStatus {
  chunks: number;
  /** The recording was closed cleanly (its last chunk says so). */
  complete: boolean;
  /** Bytes after the last whole chunk (a chunk being written when the writer died). */
  tornBytes: number;
}

/** Opens a sealed recording as it streams in; `push` returns the plaintext of every whole chunk. */
export class ChunkOpener {
  private pending: Buffer = Buffer.alloc(0);
  private fileId: Buffer | null = null;
  private index = 0;
  private complete = false;

  constructor(private readonly key: Buffer) {}

  push(bytes: Buffer): Buffer[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, bytes]) : bytes;
    if (!this.fileId) {
      if (this.pending.length < ENCRYPTED_MAGIC.length + FILE_ID) return [];
      if (!isEncrypted(this.pending)) throw new DecryptError('not an encrypted mavgate recording');
      this.fileId = Buffer.from(this.pending.subarray(ENCRYPTED_MAGIC.length, ENCRYPTED_MAGIC.length + FILE_ID));
      this.pending = this.pending.subarray(ENCRYPTED_MAGIC.length + FILE_ID);
    }
    const out: Buffer[] = [];
    while (this.pending.length >= CHUNK_HEADER) {
      const length = this.pending.readUInt32BE(0);
      if (length > MAX_CHUNK) throw new DecryptError(`chunk ${this.index}: impossible length ${length}: the file is damaged`);
      const total = CHUNK_HEADER + length + TAG;
      if (this.pending.length < total) break;
      if (this.complete) throw new DecryptError(`data after the last chunk (chunk ${this.index}): the file was modified`);
      const flags = this.pending[4]!;
      const decipher = createDecipheriv('aes-256-gcm', this.key, this.pending.subarray(5, CHUNK_HEADER));
      decipher.setAAD(aad(this.fileId, this.index, flags, length));
      decipher.setAuthTag(this.pending.subarray(CHUNK_HEADER + length, total));
      try {
        out.push(Buffer.concat([decipher.update(this.pending.subarray(CHUNK_HEADER, CHUNK_HEADER + length)), decipher.final()]));
      } catch {
        throw new DecryptError(
          this.index === 0
            ? 'the first chunk fails authentication: wrong key, or the file was modified'
            : `chunk ${this.index} fails authentication: the file was modified, or chunks were removed or reordered`,
        );
      }
      this.index++;
      if (flags & LAST) this.complete = true;
      this.pending = this.pending.subarray(total);
    }
    return out;
  }

  end(): OpenedStatus {
    if (!this.fileId) throw new DecryptError('too short to be an encrypted mavgate recording');
    return { chunks: this.index, complete: this.complete, tornBytes: this.pending.length };
  }
}
