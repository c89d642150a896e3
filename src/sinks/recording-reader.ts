/**
 * Reading a recording whether or not it is encrypted: the first bytes tell; an encrypted
 * one needs the key and comes out as the plain tlog it was.
 */
import { readFileSync } from 'node:fs';
import { ChunkOpener, DecryptError, ENCRYPTED_MAGIC, isEncrypted, type OpenedStatus } from './encryption.js';

export class RecordingReader {
  private opener: ChunkOpener | null = null;
  private head: Buffer | null = Buffer.alloc(0);

  constructor(private readonly key: Buffer | null) {}

  /** The plain tlog bytes in `chunk` (none while the first bytes are still undecided). */
  push(chunk: Buffer): Buffer[] {
    if (this.head !== null) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < ENCRYPTED_MAGIC.length) return [];
      chunk = this.head;
      this.head = null;
      if (isEncrypted(chunk)) {
        // The path is not repeated here: every caller puts it before the message.
        if (!this.key) throw new DecryptError('the recording is encrypted: give its key (--key FILE)');
        this.opener = new ChunkOpener(this.key);
      }
    }
    return this.opener ? this.opener.push(chunk) : [chunk];
  }

  /** Whatever was held back (a file shorter than the magic), and for an encrypted file how it ended. */
  end(): { rest: Buffer[]; encrypted: OpenedStatus | null } {
    const rest = this.head && this.head.length > 0 ? [this.head] : [];
    this.head = null;
    return { rest, encrypted: this.opener ? this.opener.end() : null };
  }
}

export { DecryptError } from './encryption.js';

/**
 * Whether a recording's sidecar (`FILE.json`, written by the recorder) says its frames came
 * from mavgate's built-in simulated vehicle. The label is the sidecar's, not the file
 * name's: a renamed file keeps it. No sidecar, or one that does not parse: false.
 */
export function sidecarSaysSimulated(recordingPath: string): boolean {
  try {
    return (JSON.parse(readFileSync(`${recordingPath}.json`, 'utf8')) as { simulated?: unknown }).simulated === true;
  } catch {
    return false;
  }
}
