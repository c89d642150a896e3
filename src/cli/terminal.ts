/**
 * The one place log lines meet a progress bar: while a bar is shown on a stream, lines for
 * that stream are handed to it to print above itself, so a line never lands inside the
 * bar. Kept apart from the bar itself so that logging does not load the bar library.
 */
let shown: { stream: NodeJS.WritableStream; above: (line: string) => void } | null = null;

/** Writes a whole line (ending in a newline) to `stream`, above the bar if one is shown there. */
export function writeLog(stream: NodeJS.WritableStream, line: string): void {
  if (shown && shown.stream === stream) shown.above(line);
  else stream.write(line);
}

/** A bar starts (`above` prints a line above it) or ends (null) on `stream`. */
export function barShown(stream: NodeJS.WritableStream, above: ((line: string) => void) | null): void {
  shown = above ? { stream, above } : shown?.stream === stream ? null : shown;
}
