#!/usr/bin/env node
/**
 * Builds native/udp (mavgate's recvmmsg UDP path) with node-gyp, on Linux only. Run by
 * `npm ci`/`npm install` (the "install" script) and by `npm run build:native`.
 *
 * The native path is an optimisation: without it, mavgate uses Node's dgram and works the
 * same, slower. So a failed build warns, names why and how to retry, and does not fail the
 * install, unless MAVGATE_NATIVE=required (a test checks that Linux builds got it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, 'native/udp');
const required = process.env.MAVGATE_NATIVE === 'required';

function skip(why) {
  console.error(`mavgate: the native UDP path is not built: ${why}. mavgate will use Node's dgram (slower at a few thousand datagrams/s).`);
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
const result = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', dir], { encoding: 'utf8' });
if (result.status !== 0) {
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n');
  const reason = output.filter((l) => /error/i.test(l)).slice(0, 3).join(' / ') || output.slice(-3).join(' / ') || String(result.error ?? `exit ${result.status}`);
  skip(`node-gyp failed (${reason}); needs python3, make and a C compiler; retry with npm run build:native`);
}
console.log(`mavgate: built the native UDP path (${join('native/udp/build/Release/mavgate_udp.node')})`);
