/** `mavgate replay`'s progress: a bar on a terminal, the status line's part otherwise. */
import { ReplayLink } from '../links/replay-link.js';
import type { Gateway } from '../gateway/gateway.js';
import { formatDuration, progress } from './progress.js';

/** "02:20 / 22:58 recorded, 10025 frames": where in the flight the replay is. */
export function replayDetail(p: ReplayLink['progress']): string {
  return `${formatDuration(p.playedUs / 1e6)}${p.totalUs !== null ? ` / ${formatDuration(p.totalUs / 1e6)}` : ''} recorded, ${p.frames} frames${p.loops ? `, loop ${p.loops + 1}` : ''}`;
}

export function watchReplay(gateway: Gateway, speed: number | 'max', tty: boolean): { finished: Promise<void>; stop(): void } {
  const link = gateway.links.map((h) => h.link).find((l): l is ReplayLink => l instanceof ReplayLink)!;
  const { progress: p } = link;
  // How far along is read from the file's bytes: a recording's clock may jump, its bytes only go forward.
  const bar = tty ? progress(`replay ${speed === 'max' ? 'max' : `${speed}×`}`, p.totalBytes) : null;
  const timer = bar ? setInterval(() => bar.update(p.playedBytes, replayDetail(p)), 200) : null;
  return {
    finished: link.finished,
    stop() {
      if (timer) clearInterval(timer);
      if (bar) {
        bar.update(p.playedBytes, replayDetail(p));
        bar.stop();
      }
    },
  };
}
