/**
 * Progress of a long command: a bar (cli-progress) when stderr is a terminal, a plain
 * line every tenth of the way when it is not (a log file, CI, systemd's journal).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, detail?: string): void;
  stop(): void;
}

export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {percentage}% {detail}`, stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: '' });
    return {
      update: (done, detail = '') => bar.update(Math.min(done, total), { detail }),
      stop: () => bar.stop(),
    };
  }
  let nextTenth = 1;
  return {
    update(done, detail = '') {
      if (total <= 0) return;
      while (done / total >= nextTenth / 10 && nextTenth <= 10) {
        stream.write(`${label}: ${nextTenth * 10}%${detail ? ` ${detail}` : ''}\n`);
        nextTenth++;
      }
    },
    stop() {},
  };
}
