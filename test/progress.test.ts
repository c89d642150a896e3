/** Progress of long commands when stderr is not a terminal: a plain line every tenth of the way. */
import { describe, expect, it } from 'vitest';
import { progress } from '../src/cli/progress.js';

describe('progress without a terminal', () => {
  it('writes one line per tenth reached, never the same tenth twice', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const p = progress('export x.tlog', 1000, stream);
    for (const done of [50, 100, 99, 350, 1000]) p.update(done, 'detail');
    p.stop();
    expect(lines).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((pc) => `export x.tlog: ${pc}% detail\n`));
  });
});
