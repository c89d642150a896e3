/** Human-readable log lines on stderr: time, level, message; above a progress bar when one is shown; repeated events summarised. */
import { writeLog } from './terminal.js';

export type Level = 'info' | 'warn' | 'error';

/**
 * Writes one log line. `key` names the kind of event when its words change from one
 * occurrence to the next (a vehicle's mode, say); by default the message itself is the key.
 */
export interface Logger {
  (level: Level, message: string, key?: string): void;
}

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return (level, message) => {
    const time = new Date().toISOString().slice(11, 23);
    writeLog(stream, `${time} ${level.padEnd(5)} ${message}\n`);
  };
}

/** How long repeats of an event are counted before the count is told. */
export const SUMMARY_WINDOW_MS = 10_000;
/** Lines without a key written alike in one window before they are counted instead (a flood nobody foresaw). */
export const UNKEYED_LINES_PER_WINDOW = 20;
/** Kinds of event counted at once at most; past that, lines are written as they come. */
const MAX_KINDS = 1000;

/** A line, or how to make it: an event counted rather than written costs no string. */
type Message = string | (() => string);

interface Repeats {
  level: Level;
  /** Lines written in this window. */
  written: number;
  /** How many may be written before the rest are counted. */
  limit: number;
  /** Counted, not written. */
  count: number;
  last: Message;
}

export interface SummarisingLogger {
  /** `key`: the kind of event (a number is a key too, one no line makes by accident). */
  (level: Level, message: Message, key?: string | number): void;
  /** Tells the counts now (at shutdown). */
  flush(): void;
}

const text = (message: Message) => (typeof message === 'string' ? message : message());

/**
 * A logger that summarises repeated events. An event logged with a key (one that can
 * happen on every frame: a vehicle's mode changing, a command refused, an internal error)
 * is written the first time in a window of `windowMs`; the ones after it are counted,
 * and at the end of the window one line tells how many there were and shows the last. A
 * flood that goes on gets one such line per window. Lines without a key are written as
 * they come until the same line has been written 20 times in a window. A vehicle whose
 * heartbeat changed mode on every frame wrote ~4,300 lines a second before this.
 */
export function summarisingLogger(out: Logger, windowMs = SUMMARY_WINDOW_MS): SummarisingLogger {
  let window = new Map<string | number, Repeats>();
  let timer: NodeJS.Timeout | null = null;

  const tell = (counts: Map<string | number, Repeats>) => {
    for (const { level, count, last } of counts.values()) {
      if (count > 0) out(level, `${text(last)} (and ${count} more like it in the last ${Math.round(windowMs / 1000)} s)`);
    }
  };
  const endWindow = () => {
    const ended = window;
    window = new Map();
    timer = null;
    tell(ended);
    // A flood still going on is counted in the next window too, never written line by line.
    for (const [key, r] of ended) if (r.count > 0) window.set(key, { ...r, written: r.limit, count: 0 });
    if (window.size > 0) startWindow();
  };
  const startWindow = () => {
    timer = setTimeout(endWindow, windowMs);
    timer.unref();
  };

  const log = ((level: Level, message: Message, key?: string | number) => {
    const k = key ?? `${level} ${text(message)}`;
    let r = window.get(k);
    if (r && r.written >= r.limit) {
      r.count++;
      r.last = message;
      return;
    }
    if (!r && window.size < MAX_KINDS) {
      r = { level, written: 0, limit: key === undefined ? UNKEYED_LINES_PER_WINDOW : 1, count: 0, last: message };
      window.set(k, r);
      if (!timer) startWindow();
    }
    if (r) r.written++;
    out(level, text(message));
  }) as SummarisingLogger;
  log.flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    const counts = window;
    window = new Map();
    tell(counts);
  };
  return log;
}
