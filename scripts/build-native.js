#!/usr/bin/env node
/**
 * Builds native/udp (mavgate's recvmmsg UDP path) with node-gyp, on Linux only. Run by
 * `npm ci`/`npm install` (the "install" script) and by `npm run build:native`.
 *
 * The native path is an optimisation: without it, mavgate uses Node's dgram and works the
 * same, slower. So a failed build warns, names why and how to retry, and does not fail the
 * install, unless MAVGATE_NATIVE=required (a test checks that Linux builds got it). It
 * builds in a copy of the sources, so a failed rebuild leaves a working addon in place.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const sources = join(root, 'native/udp');
const target = join(sources, 'build/Release/mavgate_udp.node');
const required = process.env.MAVGATE_NATIVE === 'required';

function skip(why) {
  const kept = existsSync(target) ? ` The addon built before stays in place (${relative(root, target)}).` : '';
  console.error(required
    ? `mavgate: the native UDP path is not built: ${why}. MAVGATE_NATIVE=required: failing.`
    : `mavgate: the native UDP path is not built: ${why}.${kept || " mavgate will use Node's dgram (slower at a few thousand datagrams/s)."}`);
  process.exit(required ? 1 : 0);
}

if (process.platform !== 'linux') skip(`recvmmsg is Linux-only (this is ${process.platform})`);

// node-gyp: the one npm runs its scripts with, else the one bundled with npm.
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  try {
    const npmCli = createRequire(import.meta.url).resolve('npm/package.json', { paths: [join(dirname(process.execPath), '../lib/node_modules')] });
    const bundled = join(dirname(npmCli), 'node_modules/node-gyp/bin/node-gyp.js');
    if (existsSync(bundled)) return bundled;
  } catch {
    // npm not beside node: fall through.
  }
  return null;
}

const gyp = nodeGyp();
if (!gyp) skip('node-gyp was not found (it comes with npm)');
const staging = mkdtempSync(join(tmpdir(), 'mavgate-native-'));
try {
  for (const file of ['binding.gyp', 'mavgate_udp.c']) copyFileSync(join(sources, file), join(staging, file));
  // Node's own headers, as npm is set to build against (npm_config_nodedir); outside npm, the ones installed beside node.
  const prefix = dirname(dirname(process.execPath));
  const headers = !process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/common.gypi')) ? [`--nodedir=${prefix}`] : [];
  const result = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', staging, ...headers], { encoding: 'utf8' });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n');
    const reason = output.filter((l) => /error/i.test(l)).slice(0, 3).join(' / ') || output.slice(-3).join(' / ') || String(result.error ?? `exit ${result.status}`);
    skip(`node-gyp failed (${reason}); it needs python3, make and a C compiler; retry with npm run build:native`);
  }
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(staging, 'build/Release/mavgate_udp.node'), target);
} finally {
  rmSync(staging, { recursive: true, force: true });
}
console.log(`mavgate: built the native UDP path (${relative(root, target)})`);
