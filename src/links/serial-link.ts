/**
 * Serial links (telemetry radios, autopilots over USB). A device missing at start or
 * unplugged later is reported and retried with backoff; when it appears on the path the
 * link comes up by itself, with no restart of the gateway.
 */
import { statSync } from 'node:fs';
import type { SerialPort } from 'serialport';
import { assertGrant, type DeviceGrant } from '../residency/gate.js';
import { BaseLink } from './base-link.js';
import type { Endpoint } from './endpoint.js';
import { describeSystemError, LinkError } from './link.js';
import { joined } from './send-batch.js';

type SerialEndpoint = Extract<Endpoint, { kind: 'serial' }>;

/**
 * How often the device node is checked while the port is open. serialport notices most
 * unplugs by itself, but not one that happens before its first read is under way; a
 * device node that vanished or now belongs to another device settles it.
 */
const WATCH_MS = 1000;

function deviceId(path: string): number | null {
  try {
    return statSync(path).rdev;
  } catch {
    return null;
  }
}

export class SerialLink extends BaseLink {
  private port: SerialPort | null = null;
  private watch: NodeJS.Timeout | null = null;

  constructor(id: string, override readonly endpoint: SerialEndpoint, grant: DeviceGrant) {
    assertGrant(grant, 'device');
    if (grant.path !== endpoint.path) throw new Error(`grant for ${grant.path} does not cover ${endpoint.text}`);
    super(id, endpoint);
  }

  /**
   * A device that is not there yet is waited for, as after an unplug: a laptop or a box
   * boots before its radio is plugged in. A device that is there but cannot be opened
   * (permissions, another program holding it) is a configuration error.
   */
  async open(): Promise<void> {
    if (deviceId(this.endpoint.path) === null) {
      this.setState('down', this.waiting());
      this.reopen();
      return;
    }
    try {
      await this.openPort();
    } catch (err) {
      throw new LinkError(this.endpoint.text, `cannot open ${this.endpoint.path}: ${describeSystemError(err)}`);
    }
  }

  private waiting(): string {
    return `waiting for ${this.endpoint.path}: not present (radio not plugged in?)`;
  }

  private async openPort(): Promise<void> {
    const { path, baudRate } = this.endpoint;
    // Loaded on first use: its native binding costs memory that UDP-only gateways need not pay.
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    return new Promise((resolve, reject) => {
      port.open((err) => {
        if (err) return reject(err);
        if (this.closed) {
          port.close();
          return resolve();
        }
        this.port = port;
        const device = deviceId(path);
        port.on('data', (chunk: Buffer) => this.receive(chunk));
        port.on('error', () => {});
        port.on('close', () => this.disconnected(port));
        this.watch = setInterval(() => {
          if (deviceId(path) !== device) this.disconnected(port);
        }, WATCH_MS).unref();
        this.setState('up');
        resolve();
      });
    });
  }

  private disconnected(port: SerialPort): void {
    if (this.port !== port || this.closed) return;
    this.port = null;
    if (this.watch) clearInterval(this.watch);
    if (port.isOpen) port.close(() => {});
    this.setState('down', `${this.endpoint.path} disconnected`);
    this.reopen();
  }

  private reopen(): void {
    this.retry(() => {
      this.openPort().catch((err: unknown) => {
        this.setState('down', deviceId(this.endpoint.path) === null ? this.waiting() : `${this.endpoint.path}: ${describeSystemError(err)}; retrying`);
        this.reopen();
      });
    });
  }

  protected canSend(): boolean {
    return this.port !== null && this.port.isOpen;
  }

  protected transmit(data: Buffer | readonly Buffer[], bytes: number): void {
    this.port!.write(joined(data, bytes));
  }

  protected shutdown(): Promise<void> {
    if (this.watch) clearInterval(this.watch);
    const port = this.port;
    this.port = null;
    return new Promise((resolve) => (port?.isOpen ? port.close(() => resolve()) : resolve()));
  }
}
