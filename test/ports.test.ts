import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classify, listSysfsPorts, loadDeviceTable } from '../src/links/ports.js';
import { runMavgate } from './helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'mavgate-sysfs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A sysfs tree as Linux lays it out for a CP210x radio, a CubeOrange over USB CDC, a UART and a pty. */
function fakeSysfs(): string {
  const usb = (name: string, attrs: Record<string, string>) => {
    const dev = join(root, 'devices', 'pci0000:00', 'usb1', name);
    mkdirSync(join(dev, '1-1:1.0', 'tty'), { recursive: true });
    for (const [k, v] of Object.entries(attrs)) writeFileSync(join(dev, k), `${v}\n`);
    return join(dev, '1-1:1.0');
  };
  const classTty = join(root, 'class', 'tty');
  mkdirSync(classTty, { recursive: true });
  const link = (tty: string, device: string | null) => {
    mkdirSync(join(classTty, tty));
    if (device) symlinkSync(device, join(classTty, tty, 'device'));
  };
  link('ttyUSB0', usb('1-1', { idVendor: '10c4', idProduct: 'ea60', manufacturer: 'Silicon Labs', serial: '0001', product: 'CP2102' }));
  link('ttyACM0', usb('1-2', { idVendor: '2dae', idProduct: '1016', manufacturer: 'CubePilot', serial: '3A0021', product: 'CubeOrange' }));
  const uart = join(root, 'devices', 'platform', 'serial8250');
  mkdirSync(uart, { recursive: true });
  link('ttyS0', uart);
  writeFileSync(join(classTty, 'ttyS0', 'type'), '4\n');
  link('ttyS1', uart);
  writeFileSync(join(classTty, 'ttyS1', 'type'), '0\n');
  link('pts', null);
  return classTty;
}

describe('serial port listing', () => {
  it('reads ports and their USB ids from sysfs, and marks autopilots and radios from hardware/devices.json', () => {
    const table = loadDeviceTable();
    const ports = listSysfsPorts(fakeSysfs()).map((p) => classify(p, table));
    expect(ports).toEqual([
      { path: '/dev/ttyACM0', vendorId: '2dae', productId: '1016', manufacturer: 'CubePilot', product: 'CubeOrange', serialNumber: '3A0021',
        match: { vendorId: '2dae', productId: '1016', kind: 'autopilot', name: 'CubePilot Cube Orange' } },
      { path: '/dev/ttyS0' },
      { path: '/dev/ttyUSB0', vendorId: '10c4', productId: 'ea60', manufacturer: 'Silicon Labs', product: 'CP2102', serialNumber: '0001',
        match: { vendorId: '10c4', productId: 'ea60', kind: 'radio', name: 'SiK / Holybro telemetry radio (Silicon Labs CP210x)' } },
    ]);
  });

  it('has one entry per vendor/product id in the device table', () => {
    const table = loadDeviceTable();
    const ids = table.map((d) => `${d.vendorId}:${d.productId}`);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of table) expect(d.vendorId).toMatch(/^[0-9a-f]{4}$/);
  });

  it('`mavgate ports --json` lists this machine\'s ports and exits 0', async () => {
    const run = await runMavgate(['ports', '--json']);
    expect(run.code).toBe(0);
    expect(Array.isArray(JSON.parse(run.stdout))).toBe(true);
    const table = await runMavgate(['ports']);
    expect(table.code).toBe(0);
  });
});
