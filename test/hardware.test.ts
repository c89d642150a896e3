/** The hardware folder: udev rules from the one device table, link profiles, the systemd unit from the policy. */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedNetworks, systemdUnit } from '../src/hardware/systemd-unit.js';
import { udevRules } from '../src/hardware/udev-rules.js';
import { EndpointError, parseEndpoint } from '../src/links/endpoint.js';
import { loadDeviceTable } from '../src/links/ports.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { NODE_FLAGS, nodeEnvAssignments } from '../src/cli/node-flags.js';
import { MAVGATE, runMavgate } from './helpers/cli.js';
import { until } from './helpers/wait.js';

const ROOT = resolve(import.meta.dirname, '..');

describe('udev rules', () => {
  it('are generated from the table mavgate ports reads, and the committed file is current', () => {
    const devices = loadDeviceTable();
    const rules = udevRules(devices);
    expect(readFileSync(join(ROOT, 'hardware/99-mavgate.rules'), 'utf8')).toBe(rules);
    for (const d of devices) {
      expect(rules).toContain(`ATTRS{idVendor}=="${d.vendorId}", ATTRS{idProduct}=="${d.productId}", SYMLINK+="mavgate/${d.kind}-$env{ID_SERIAL_SHORT}", MODE="0660", GROUP="dialout"`);
    }
  });
});

describe('link profiles', () => {
  it('expand to the endpoint they stand for, named as the user wrote them', () => {
    expect(parseEndpoint('profile:sik:/dev/ttyUSB1')).toEqual({ kind: 'serial', text: 'profile:sik:/dev/ttyUSB1', path: '/dev/ttyUSB1', baudRate: 57600 });
    expect(parseEndpoint('profile:pixhawk-usb')).toMatchObject({ kind: 'serial', path: '/dev/ttyACM0', baudRate: 115200 });
    expect(parseEndpoint('profile:sitl')).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 5760 });
    expect(parseEndpoint('profile:companion-udp:192.168.10.5')).toMatchObject({ kind: 'udp-listen', host: '192.168.10.5', port: 14550 });
    expect(() => parseEndpoint('profile:walkie-talkie')).toThrow(EndpointError);
    expect(() => parseEndpoint('profile:walkie-talkie')).toThrow(/unknown profile "walkie-talkie"; profiles are sik, rfd900, pixhawk-usb, companion-udp, sitl/);
  });
});

describe('the systemd unit', () => {
  const policy = parsePolicy({
    site: 'field-3', jurisdiction: 'EU/FR',
    approved_sinks: { directories: ['/var/lib/mavgate', '/srv/exports'], networks: [{ cidr: '192.168.10.0/24', ports: [14550] }, { cidr: '10.20.0.7' }] },
    listen: ['127.0.0.1/32', '192.168.10.5', '0.0.0.0'],
    client_networks: [{ cidr: '127.0.0.1/32', roles: ['pilot'] }, { cidr: '192.168.20.0/24', roles: ['observer'] }],
  }, '/etc/mavgate/policy.yaml');

  it('allows exactly the policy\'s networks and writes only in its directories', () => {
    expect(allowedNetworks(policy)).toEqual(['localhost', '192.168.10.0/24', '10.20.0.7', '127.0.0.1/32', '192.168.20.0/24', '192.168.10.5']);
    const unit = systemdUnit(policy, { exec: ['/usr/bin/mavgate'], args: ['--policy', '/etc/mavgate/policy.yaml'], user: 'mavgate', environment: [] });
    const value = (key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
    expect(value('IPAddressDeny')).toEqual(['any']);
    expect(value('IPAddressAllow')).toEqual([allowedNetworks(policy).join(' ')]);
    expect(value('ReadWritePaths')).toEqual(['/var/lib/mavgate /srv/exports']);
    for (const hardening of ['ProtectSystem=strict', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectHome=yes']) expect(unit).toContain(`\n${hardening}\n`);
    expect(value('ExecStart')).toEqual(['/usr/bin/mavgate run --policy /etc/mavgate/policy.yaml']);
    const fromHome = systemdUnit(policy, { exec: ['/usr/bin/node', '/home/ops/mavgate/dist/cli/main.js'], args: [], user: 'mavgate', environment: [] });
    expect(fromHome).toContain('\nProtectHome=read-only\n');
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('names where mavgate really is and passes systemd-analyze verify without --exec (skipped where systemd-analyze is missing)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-unit-'));
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, `approved_sinks: { directories: [${dir}] }\n`);
    const run = await runMavgate(['hardware', 'systemd', '--policy', policyFile]);
    expect(run.code).toBe(0);
    const execStart = run.stdout.split('\n').find((l) => l.startsWith('ExecStart='))!;
    expect(execStart.startsWith(`ExecStart=${process.execPath} ${NODE_FLAGS.join(' ')} ${realpathSync(MAVGATE)} run `)).toBe(true);
    expect(run.stdout).toContain('\nEnvironment=MALLOC_TRIM_THRESHOLD_=131072\nExecStart=');
    const unitFile = join(dir, 'mavgate.service');
    writeFileSync(unitFile, run.stdout);
    expect(() => execFileSync('systemd-analyze', ['verify', unitFile], { stdio: 'pipe' })).not.toThrow();
  });
});

describe('the Node flags', () => {
  it('are the same on the executable\'s #! line as where mavgate starts node itself (the systemd unit)', () => {
    const firstLine = readFileSync(new URL('../src/cli/main.ts', import.meta.url), 'utf8').split('\n')[0];
    expect(firstLine).toBe(`#!/usr/bin/env -S ${nodeEnvAssignments().join(' ')} node ${NODE_FLAGS.join(' ')}`);
  });

  it('reach node when the executable is started as it is (its #! line)', async () => {
    const child = spawn(MAVGATE, ['run', '--no-server', '--no-record', '--status-interval', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      await until(() => stderr.includes('running:'), 'mavgate running');
      const environ = readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0');
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(environ).toEqual(expect.arrayContaining(nodeEnvAssignments()));
      expect(argv).toEqual(expect.arrayContaining([...NODE_FLAGS]));
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});

describe('the command line', () => {
  const COMMANDS = [
    ['run'], ['fleet'], ['replay'], ['sim'], ['decode'], ['export'], ['decrypt'], ['ports'], ['audit', 'verify'], ['residency', 'report'],
    ['token', 'add'], ['key', 'generate'], ['key', 'setup'], ['hardware', 'udev'], ['hardware', 'systemd'],
    // The groups too: README promises examples in every command's --help.
    ['audit'], ['residency'], ['token'], ['key'], ['logs'], ['tls'], ['hardware'],
  ];

  it('has --help with examples for every command, exit 0', async () => {
    const top = await runMavgate(['--help']);
    expect(top.code).toBe(0);
    for (const command of COMMANDS) {
      const help = await runMavgate([...command, '--help']);
      expect([command.join(' '), help.code]).toEqual([command.join(' '), 0]);
      expect(help.stdout).toMatch(/^Usage: mavgate /);
      expect([command.join(' '), /\nExamples?:\n  \$ mavgate /.test(help.stdout)]).toEqual([command.join(' '), true]);
    }
  });

  it('run --help puts the vehicle on 14560, as README does: 14550 is QGroundControl\'s, which --gcs sends to', async () => {
    const help = (await runMavgate(['run', '--help'])).stdout;
    expect(help).toMatch(/\$ mavgate run --link udp-listen:127\.0\.0\.1:14560 +# a vehicle or SITL sending to 14560/);
    expect(help).toMatch(/udp-listen:HOST:PORT +UDP server \(udp-listen:127\.0\.0\.1:14560;/);
    expect(help).toMatch(/--gcs udp:127\.0\.0\.1:14550,as=qgc/);
    expect(help).not.toMatch(/udp-listen:127\.0\.0\.1:14550/);
  });

  it('exits 2 for bad usage, naming what was wrong', async () => {
    expect(await runMavgate(['fly'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command 'fly'/) });
    expect(await runMavgate(['run', '--bogus'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown option '--bogus'/) });
    expect(await runMavgate(['export', 'x.tlog'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--format <format>' not specified/) });
  });
});
