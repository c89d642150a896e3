/**
 * Serial ports on this machine, marked when they look like an autopilot or a telemetry
 * radio (from hardware/devices.json, the table the udev rules share).
 *
 * On Linux the ports are read from sysfs: serialport's own listing shells out to
 * udevadm, which minimal images and containers do not have.
 */
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface KnownDevice {
  vendorId: string;
  productId: string;
  kind: 'autopilot' | 'radio';
  name: string;
}

export interface SerialPortInfo {
  path: string;
  manufacturer?: string;
  product?: string;
  vendorId?: string;
  productId?: string;
  serialNumber?: string;
  /** What the port looks like, from the device table. */
  match?: KnownDevice;
}

export function loadDeviceTable(path = new URL('../../hardware/devices.json', import.meta.url)): KnownDevice[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { devices: KnownDevice[] }).devices;
}

export function classify(port: SerialPortInfo, table: readonly KnownDevice[]): SerialPortInfo {
  const vid = port.vendorId?.toLowerCase();
  const pid = port.productId?.toLowerCase();
  const match = table.find((d) => d.vendorId === vid && d.productId === pid);
  return match ? { ...port, match } : port;
}

function readAttribute(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Linux: every tty backed by a USB device or an on-board UART, with its USB ids. */
export function listSysfsPorts(sysClassTty = '/sys/class/tty'): SerialPortInfo[] {
  let names: string[];
  try {
    names = readdirSync(sysClassTty);
  } catch {
    return [];
  }
  const ports: SerialPortInfo[] = [];
  for (const name of names.sort()) {
    let device: string;
    try {
      device = realpathSync(join(sysClassTty, name, 'device'));
    } catch {
      continue; // virtual terminals and pseudo-terminals have no device
    }
    const usb = device.includes('/usb');
    if (!usb && !/^tty(AMA|THS|S[0-9]+$)/.test(name)) continue;
    if (!usb && /^ttyS/.test(name) && readAttribute(join(sysClassTty, name), 'type') === '0') continue; // a UART slot with no port
    const info: SerialPortInfo = { path: `/dev/${name}` };
    for (let dir = device; usb && dir !== '/' && dir !== '.'; dir = dirname(dir)) {
      const vendorId = readAttribute(dir, 'idVendor');
      if (!vendorId) continue;
      Object.assign(info, {
        vendorId, productId: readAttribute(dir, 'idProduct'), manufacturer: readAttribute(dir, 'manufacturer'),
        product: readAttribute(dir, 'product'), serialNumber: readAttribute(dir, 'serial'),
      });
      break;
    }
    // Attributes the device does not have stay absent, not undefined.
    ports.push(Object.fromEntries(Object.entries(info).filter(([, v]) => v !== undefined)) as unknown as SerialPortInfo);
  }
  return ports;
}

export async function listSerialPorts(table: readonly KnownDevice[] = loadDeviceTable()): Promise<SerialPortInfo[]> {
  const ports = process.platform === 'linux'
    ? listSysfsPorts()
    : (await (await import('serialport')).SerialPort.list()).map((p) => ({
      path: p.path, manufacturer: p.manufacturer, vendorId: p.vendorId, productId: p.productId, serialNumber: p.serialNumber,
    }) as SerialPortInfo);
  return ports.map((p) => classify(p, table));
}
