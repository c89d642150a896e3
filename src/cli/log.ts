/** Human-readable log lines on stderr: time, level, message; above a progress bar when one is shown. */
import { writeLog } from './terminal.js';

export type Level = 'info' | 'warn' | 'error';

export interface Logger {
  (level: Level, message: string): void;
}

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return (level, message) => {
    const time = new Date().toISOString().slice(11, 23);
    writeLog(stream, `${time} ${level.padEnd(5)} ${message}\n`);
  };
}
