/**
 * STATUSTEXT carries at most 50 characters. A longer text goes as chunks sharing a
 * non-zero `id`, numbered by `chunk_seq` from 0; a chunk shorter than 50 characters (a
 * NUL inside it) ends the text, so a text whose last chunk is exactly 50 long is followed
 * by an empty chunk. A text that fits in one frame has id 0 and is shown at once.
 * (MAVLink's common.xml; MAVProxy and QGroundControl reassemble chunks this way.)
 */
export const STATUSTEXT_LENGTH = 50;

export interface StatusTextChunk {
  text: string;
  id: number;
  chunk_seq: number;
}

/** The chunks of `text`; `id` (1..65535) is used only when it needs more than one. */
export function statusTextChunks(text: string, id: number): StatusTextChunk[] {
  if (text.length <= STATUSTEXT_LENGTH) return [{ text, id: 0, chunk_seq: 0 }];
  const chunks: StatusTextChunk[] = [];
  for (let at = 0; at < text.length; at += STATUSTEXT_LENGTH) {
    chunks.push({ text: text.slice(at, at + STATUSTEXT_LENGTH), id, chunk_seq: chunks.length });
  }
  if (chunks.at(-1)!.text.length === STATUSTEXT_LENGTH) chunks.push({ text: '', id, chunk_seq: chunks.length });
  return chunks;
}

/** Ids for chunked texts from one sender: 1..65535, never 0 (which means "one chunk"). */
export class StatusTextIds {
  private last = 0;

  next(): number {
    this.last = (this.last % 65535) + 1;
    return this.last;
  }
}
