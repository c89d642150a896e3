/**
 * The operator's dashboard: the page, its style sheet and its script modules (one per
 * panel) from the repository's `dashboard/` folder, and uPlot (the charts) from the
 * package's own dependencies, all served by mavgate itself. The Content-Security-Policy
 * lets the page load and connect only to its own origin: nothing leaves it, not even a
 * font or a tile.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const DIRECTORY = fileURLToPath(new URL('../../dashboard/', import.meta.url));
/** The page's own folders: the entry module, its shared helpers, one module per panel. */
const FOLDERS = ['', 'lib', 'panels'];

/** Every file the page may ask for, by URL path → file on disk. Built once. */
let files: Map<string, string> | null = null;

function assetFiles(): Map<string, string> {
  if (files) return files;
  files = new Map([['/', join(DIRECTORY, 'index.html')]]);
  for (const folder of FOLDERS) {
    for (const name of readdirSync(join(DIRECTORY, folder))) {
      if (/^[\w.-]+\.(html|js|css)$/.test(name)) files.set(`/${folder ? `${folder}/` : ''}${name}`, join(DIRECTORY, folder, name));
    }
  }
  // uPlot as npm installed it with mavgate: served from here, never from a CDN.
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  files.set('/vendor/uPlot.esm.js', join(uplot, 'uPlot.esm.js'));
  files.set('/vendor/uPlot.min.css', join(uplot, 'uPlot.min.css'));
  return files;
}

const cache = new Map<string, Buffer>();

/** The asset at `pathname` (as requested, before API prefixes are stripped), or null. */
export function dashboardAsset(pathname: string): { body: Buffer; type: string } | null {
  const file = assetFiles().get(pathname);
  if (!file) return null;
  let body = cache.get(file);
  if (!body) {
    body = readFileSync(file);
    cache.set(file, body);
  }
  return { body, type: TYPES[file.slice(file.lastIndexOf('.') + 1)]! };
}
