/**
 * Token changes apply without a restart: `mavgate token add|remove|rotate` and `mavgate
 * pair` edit the config file, and a running gateway watching it puts the new tokens in
 * force within a second or two (the rest of the configuration waits for SIGHUP).
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { ClientServices } from '../server/client-services.js';
import type { TokenChanges } from '../server/tokens.js';
import type { Logger } from './log.js';
import type { RunConfig } from './run-config.js';

/** Polling, not inotify: editors and `token` commands replace the file, which a watch on its inode would miss. */
const POLL_MS = 1000;

export function describeTokenChanges(c: TokenChanges & { disconnected: number }): string | null {
  const parts = (['added', 'removed', 'rotated', 'changed'] as const).filter((k) => c[k].length > 0).map((k) => `${k} ${c[k].join(', ')}`);
  if (parts.length === 0) return null;
  return `tokens: ${parts.join('; ')}${c.disconnected > 0 ? `; ${c.disconnected} client(s) disconnected` : ''}`;
}

export function watchTokens(path: string, load: () => Promise<RunConfig>, clients: ClientServices, log: Logger): () => void {
  const onChange = (now: { mtimeMs: number }, before: { mtimeMs: number }) => {
    if (now.mtimeMs === before.mtimeMs) return;
    load().then((config) => {
      const summary = describeTokenChanges(clients.applyTokens(config.server.tokens));
      if (summary) log('info', `${path} changed: ${summary}`);
    }, (err: Error) => log('warn', `${path} changed but does not load (the tokens in force stay): ${err.message}`));
  };
  watchFile(path, { interval: POLL_MS, persistent: false }, onChange);
  return () => unwatchFile(path, onChange);
}
