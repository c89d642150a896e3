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
  /** Recorded time played so far (µs of the recording, never going back: a clock change in it counts as no time). */
  playedUs: number;
  /** The recording's length, when it can be read from the file's ends (plain tlogs; unknown once its clock jumped). */
  totalUs: number | null;
  /** How far into the file the frames played so far were (bytes): how far along, whatever its timestamps. */
  playedBytes: number;
  totalBytes: number;
  frames: number;
  loops: number;
}

/**
 * A recorded clock that goes back, or jumps forward by more than this, was changed while
 * recording (a laptop setting its clock from GPS or NTP): play on from the next frame at
 * once instead of waiting for, or racing through, time that never passed.
 */
export const CLOCK_JUMP_US = 5 * 60 * 1_000_000;

type ReplayEndpoint = Extract<Endpoint, { kind: 'replay' }>;

const HIGH_WATER = 5000;
const LOW_WATER = 1000;

/** The file's size, and the first and last record timestamps of a plain tlog from its first and last 64 KiB (read only). */
async function fileSpan(path: string): Promise<{ size: number; span: { firstUs: number; lastUs: number } | null }> {
  const file = await open(path, 'r');
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new Error('not a regular file');
    const size = info.size;
    const head = Buffer.alloc(Math.min(size, 1024));
    await file.read(head, 0, head.length, 0);
    if (!looksLikeRecord(head, 0)) return { size, span: null };
    const tail = Buffer.alloc(Math.min(size, 64 * 1024));
    await file.read(tail, 0, tail.length, size - tail.length);
    for (let p = tail.length - TLOG_TIMESTAMP_LENGTH - 8; p >= 0; p--) {
      if (looksLikeRecord(tail, p)) return { size, span: { firstUs: Number(head.readBigUInt64BE(0)), lastUs: Number(tail.readBigUInt64BE(p)) } };
    }
    return { size, span: null };
  } finally {
    await file.close();
  }
}

export class ReplayLink extends BaseLink {
  /** Recorded frames are played whole. */
  override readonly wholeFrames = true;
  readonly progress: ReplayProgress = { playedUs: 0, totalUs: null, playedBytes: 0, totalBytes: 0, frames: 0, loops: 0 };
  private queue: { timeUs: number; bytes: Buffer; offset: number }[] = [];
  /** The recorded time of the last frame played, for the forward-only clock. */
  private lastUs: number | null = null;
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
    let file: Awaited<ReturnType<typeof fileSpan>>;
    try {
      file = await fileSpan(this.endpoint.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new LinkError(this.endpoint.text, `cannot read ${this.endpoint.path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const { span } = file;
    if (span && span.lastUs >= span.firstUs) this.progress.totalUs = span.lastUs - span.firstUs;
    this.progress.totalBytes = file.size;
    this.play();
    this.setState('up');
  }

  private play(): void {
    this.ended = false;
    this.firstUs = null;
    this.lastUs = null;
    this.progress.playedUs = 0;
    this.progress.playedBytes = 0;
    this.queue = [];
    this.head = 0;
    // Where each record ends in the file, as far as playing goes (an encrypted file's chunk headers aside).
    let offset = 0;
    const reader = new RecordingReader(this.options.key);
    const decoder = new TlogDecoder(this.registry, (frame, timeUs) => {
      offset += TLOG_TIMESTAMP_LENGTH + frame.length;
      this.queue.push({ timeUs, bytes: frame.copy(), offset });
    });
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
    this.startClockAt(next.timeUs, performance.now());
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
    while (this.head < this.queue.length && due.length < 1000) {
      const { timeUs, bytes, offset } = this.queue[this.head]!;
      this.startClockAt(timeUs, now);
      if (this.dueAt(timeUs) > now) break;
      this.head++;
      due.push(bytes);
      if (this.lastUs !== null && this.clockJumped(timeUs)) this.progress.totalUs = null;
      else if (this.lastUs !== null) this.progress.playedUs += timeUs - this.lastUs;
      this.lastUs = timeUs;
      this.progress.playedBytes = offset;
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

  /** Recorded time starts at the first frame, and again after a clock change in the recording: that frame is due `atMs`. */
  private startClockAt(timeUs: number, atMs: number): void {
    if (this.firstUs !== null && !this.clockJumped(timeUs)) return;
    this.firstUs = timeUs;
    this.startMs = atMs;
  }

  private clockJumped(timeUs: number): boolean {
    return this.lastUs !== null && (timeUs < this.lastUs || timeUs - this.lastUs > CLOCK_JUMP_US);
  }

  private atEnd(): void {
    if (this.options.loop) {
      this.progress.loops++;
      this.restart('the recording started again');
      this.play();
      return;
    }
    this.setState('down', 'end of the recording');
    this.resolveFinished();
  }

  /** Frames sent towards a recording go nowhere (a recording cannot answer). */
  protected canSend(): boolean {
    return false;
  }

  protected transmit(): void {}

  protected async shutdown(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
    }
    this.stream?.destroy();
    this.resolveFinished();
  }
}
