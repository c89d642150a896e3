/**
 * The operator's dashboard: a page, a script and a style sheet from the repository's
 * `dashboard/` folder, served by mavgate itself. The Content-Security-Policy lets the page
 * load and connect only to its own origin: nothing leaves it, not even a font or a tile.
 */
import { readFileSync } from 'node:fs';

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/pair.js': { file: 'pair.js', type: 'text/javascript; charset=utf-8' },
};

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const DIRECTORY = new URL('../../dashboard/', import.meta.url);
const cache = new Map<string, Buffer>();

/** The asset at `pathname` (as requested, before API prefixes are stripped), or null. */
export function dashboardAsset(pathname: string): { body: Buffer; type: string } | null {
  const asset = ASSETS[pathname];
  if (!asset) return null;
  let body = cache.get(asset.file);
  if (!body) {
    body = readFileSync(new URL(asset.file, DIRECTORY));
    cache.set(asset.file, body);
  }
  return { body, type: asset.type };
}
