/**
 * A recording played back as a vehicle link: every frame delivered at its recorded time
 * (scaled by `speed`, or as fast as the gateway takes them with `max`), so clients and
 * ground stations see the flight again. Reads the file as it plays: constant memory
 * whatever its size. Encrypted recordings play with their key.
 */
import { createReadStream, type ReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { looksLikeRecord, type MessageRegistry, TLOG_TIMESTAMP_LENGTH, TlogDecoder } from '../mavlink/index.js';
import { assertGrant, type InProcessGrant } from '../residency/gate.js';
import { RecordingReader } from '../sinks/recording-reader.js';
import { BaseLink } from './base-link.js';
import type { Endpoint } from './endpoint.js';
import { LinkError } from './link.js';

export interface ReplayOptions {
  /** 1 = as recorded; 4 = four times faster; 'max' = as fast as the gateway takes it. */
  speed: number | 'max';
  loop: boolean;
  key: Buffer | null;
}

export const DEFAULT_REPLAY: ReplayOptions = { speed: 1, loop: false, key: null };

export interface ReplayProgress {
  /** Recorded time played so far (µs since the first record). */
  playedUs: number;
  /** The recording's length, when it can be read from the file's end (plain tlogs). */
  totalUs: number | null;
  frames: number;
  loops: number;
}

type ReplayEndpoint = Extract<Endpoint, { kind: 'replay' }>;

const HIGH_WATER = 5000;
const LOW_WATER = 1000;

/** First and last record timestamps of a plain tlog, from its first and last 64 KiB (read only). */
async function timeSpan(path: string): Promise<{ firstUs: number; lastUs: number } | null> {
  const file = await open(path, 'r');
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new Error('not a regular file');
    const size = info.size;
    const head = Buffer.alloc(Math.min(size, 1024));
    await file.read(head, 0, head.length, 0);
    if (!looksLikeRecord(head, 0)) return null;
    const tail = Buffer.alloc(Math.min(size, 64 * 1024));
    await file.read(tail, 0, tail.length, size - tail.length);
    for (let p = tail.length - TLOG_TIMESTAMP_LENGTH - 8; p >= 0; p--) {
      if (looksLikeRecord(tail, p)) return { firstUs: Number(head.readBigUInt64BE(0)), lastUs: Number(tail.readBigUInt64BE(p)) };
    }
    return null;
  } finally {
    await file.close();
  }
}

export class ReplayLink extends BaseLink {
  readonly progress: ReplayProgress = { playedUs: 0, totalUs: null, frames: 0, loops: 0 };
  private queue: { timeUs: number; bytes: Buffer }[] = [];
  private head = 0;
  private stream: ReadStream | null = null;
  private ended = false;
  private firstUs: number | null = null;
  private startMs = 0;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private resolveFinished!: () => void;
  /** Resolves when the recording has been played to its end (never, with `loop`). */
  readonly finished = new Promise<void>((resolve) => (this.resolveFinished = resolve));

  constructor(id: string, override readonly endpoint: ReplayEndpoint, grant: InProcessGrant, private readonly registry: MessageRegistry, private readonly options: ReplayOptions = DEFAULT_REPLAY) {
    assertGrant(grant, 'in-process');
    super(id, endpoint);
  }

  async open(): Promise<void> {
    let span: Awaited<ReturnType<typeof timeSpan>>;
    try {
      span = await timeSpan(this.endpoint.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new LinkError(this.endpoint.text, `cannot read ${this.endpoint.path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    if (span) this.progress.totalUs = span.lastUs - span.firstUs;
    this.play();
    this.setState('up');
  }

  private play(): void {
    this.ended = false;
    this.firstUs = null;
    this.queue = [];
    this.head = 0;
    const reader = new RecordingReader(this.options.key, this.endpoint.path);
    const decoder = new TlogDecoder(this.registry, (frame, timeUs) => this.queue.push({ timeUs, bytes: frame.copy() }));
    const stream = createReadStream(this.endpoint.path, { highWaterMark: 64 * 1024 });
    this.stream = stream;
    stream.on('data', (chunk) => {
      try {
        for (const plain of reader.push(chunk as Buffer)) decoder.push(plain);
      } catch (err) {
        stream.destroy();
        this.setState('error', (err as Error).message);
        return;
      }
      if (this.queue.length - this.head > HIGH_WATER) stream.pause();
      this.schedule();
    });
    stream.on('end', () => {
      for (const rest of reader.end().rest) decoder.push(rest);
      decoder.end();
      this.ended = true;
      this.schedule();
    });
    stream.on('error', (err) => this.setState('error', err.message));
  }

  /** When the frame recorded at `timeUs` is due, in performance.now() milliseconds. */
  private dueAt(timeUs: number): number {
    if (this.options.speed === 'max') return 0;
    return this.startMs + (timeUs - this.firstUs!) / 1000 / this.options.speed;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const next = this.queue[this.head];
    if (!next) {
      if (this.ended) this.atEnd();
      return;
    }
    if (this.firstUs === null) {
      this.firstUs = next.timeUs;
      this.startMs = performance.now();
    }
    const wait = this.dueAt(next.timeUs) - performance.now();
    const run = () => {
      this.timer = null;
      this.emitDue();
      this.schedule();
    };
    this.timer = wait > 1 ? setTimeout(run, wait) : setImmediate(run);
  }

  /** Delivers every frame that is due, as one chunk. */
  private emitDue(): void {
    const now = performance.now();
    const due: Buffer[] = [];
    while (this.head < this.queue.length && due.length < 1000 && this.dueAt(this.queue[this.head]!.timeUs) <= now) {
      const { timeUs, bytes } = this.queue[this.head++]!;
      due.push(bytes);
      this.progress.playedUs = timeUs - this.firstUs!;
    }
    if (due.length > 0) {
      this.progress.frames += due.length;
      this.receive(due.length === 1 ? due[0]! : Buffer.concat(due));
    }
    if (this.head > LOW_WATER && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.stream?.isPaused() && this.queue.length - this.head < LOW_WATER) this.stream.resume();
  }

  private atEnd(): void {
    if (this.options.loop) {
      this.progress.loops++;
      this.play();
      return;
    }
    this.setState('down', 'end of the recording');
    this.resolveFinished();
  }

  /** Frames sent towards a recording go nowhere (a recording cannot answer). */
  write(): boolean {
    return this.dropped();
  }

  protected async shutdown(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
    }
    this.stream?.destroy();
    this.resolveFinished();
  }
}
