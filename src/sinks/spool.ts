/**
 * Store-and-forward for messages that must arrive (QoS 1 to the fleet broker): a FIFO kept
 * in memory and mirrored to a JSON Lines file in a granted directory, so that a broker
 * out of reach, or a restart of mavgate, loses nothing up to the limit. Past the limit the
 * oldest are dropped, counted and reported.
 */
import type { DirectoryGrant } from '../residency/gate.js';
import { appendToFile, readFileIn, writeWholeFile } from './files.js';

export interface SpooledMessage {
  topic: string;
  payload: string;
  retain: boolean;
}

const FILE = 'mqtt-spool.jsonl';

/** What a message counts against the limit: its topic, its payload and a little for the record around them. */
function sizeOf(m: SpooledMessage): number {
  return Buffer.byteLength(m.topic) + Buffer.byteLength(m.payload) + 32;
}

export class Spool {
  private queue: SpooledMessage[] = [];
  private bytes = 0;
  /** Messages dropped because the spool was full. */
  dropped = 0;
  /** Messages taken off the spool since the file was last rewritten. */
  private taken = 0;

  constructor(private readonly grant: DirectoryGrant, private readonly maxBytes: number, private readonly onDrop: (count: number) => void) {
    // What a previous run could not deliver comes first.
    for (const line of readFileIn(grant, FILE).split('\n')) {
      if (!line) continue;
      try {
        this.push(JSON.parse(line) as SpooledMessage, false);
      } catch {
        // A line cut short by a crash: the messages before it are whole.
      }
    }
    this.rewrite();
  }

  get length(): number {
    return this.queue.length;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  peek(): SpooledMessage | undefined {
    return this.queue[0];
  }

  /** Keeps a message (on disk before this returns); drops the oldest past the limit. */
  push(message: SpooledMessage, persist = true): void {
    this.queue.push(message);
    this.bytes += sizeOf(message);
    let dropped = 0;
    while (this.bytes > this.maxBytes && this.queue.length > 1) {
      this.bytes -= sizeOf(this.queue.shift()!);
      dropped++;
    }
    if (dropped > 0) {
      this.dropped += dropped;
      this.onDrop(dropped);
      this.rewrite();
    } else if (persist) {
      appendToFile(this.grant, FILE, `${JSON.stringify(message)}\n`);
    }
  }

  /** The head was delivered. */
  shift(): void {
    const head = this.queue.shift();
    if (!head) return;
    this.bytes -= sizeOf(head);
    // The file is rewritten when the queue empties, and every 1,000 deliveries on a long drain.
    if (this.queue.length === 0 || ++this.taken >= 1000) this.rewrite();
  }

  private rewrite(): void {
    this.taken = 0;
    writeWholeFile(this.grant, FILE, this.queue.map((m) => `${JSON.stringify(m)}\n`).join(''));
  }
}
