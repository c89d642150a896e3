/** `mavgate replay`'s progress: a bar on a terminal, the status line's part otherwise. */
import { ReplayLink } from '../links/replay-link.js';
import type { Gateway } from '../gateway/gateway.js';
import { progress } from './progress.js';

function clock(us: number): string {
  const s = Math.floor(us / 1e6);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export function watchReplay(gateway: Gateway, speed: number | 'max', tty: boolean): { finished: Promise<void>; stop(): void } {
  const link = gateway.links.map((h) => h.link).find((l): l is ReplayLink => l instanceof ReplayLink)!;
  const { progress: p } = link;
  const total = p.totalUs ?? 0;
  const bar = tty ? progress(`replay ${speed === 'max' ? 'max' : `${speed}×`}`, total || 1) : null;
  const timer = bar
    ? setInterval(() => bar.update(total ? p.playedUs : 0, `${clock(p.playedUs)}${total ? ` / ${clock(total)}` : ''} ${p.frames} frames${p.loops ? ` loop ${p.loops + 1}` : ''}`), 200)
    : null;
  return {
    finished: link.finished,
    stop() {
      if (timer) clearInterval(timer);
      bar?.stop();
    },
  };
}
