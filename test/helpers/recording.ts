/** A gateway with two UDP links (vehicle side, ground-station side) and a recorder on its router, in a temporary directory. */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseEndpoint } from '../../src/links/endpoint.js';
import type { UdpLink } from '../../src/links/udp-link.js';
import { TlogDecoder } from '../../src/mavlink/index.js';
import { DEFAULT_RECORDER, Recorder, type RecorderSettings } from '../../src/sinks/recorder.js';
import { gateFor } from './gate.js';
import { GroundStation } from './gcs.js';
import { registry } from './frames.js';

export const LABELS = { site: 'test-site', jurisdiction: 'XX', policySha256: 'f'.repeat(64), gatewayVersion: 'test' };

export type AuditEntry = { event: string; details: Record<string, unknown> };

export class RecordingRig {
  private constructor(readonly audit: AuditEntry[], readonly dir: string, readonly gateway: Gateway, readonly recorder: Recorder, readonly vehicle: Socket, readonly gcs: GroundStation) {}

  /** `approved`: the directory the policy approves (default: the recording directory itself). */
  static async start(settings: Partial<RecorderSettings> = {}, directory?: string, approved?: string): Promise<RecordingRig> {
    const dir = directory ?? mkdtempSync(join(tmpdir(), 'mavgate-rec-'));
    const gate = gateFor({ approved_sinks: { directories: [approved ?? dir] } });
    const gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint('udp-listen:127.0.0.1:0')], gate });
    await gateway.start();
    const audit: AuditEntry[] = [];
    const record = gate.record.bind(gate);
    gate.record = (event, details) => {
      audit.push({ event, details });
      record(event, details);
    };
    const recorder = new Recorder(gate.grantDirectory('recording', dir), LABELS, gateway.registry, gateway.state,
      { ...DEFAULT_RECORDER, flushIntervalMs: 50, ...settings }, { audit: (event, details) => audit.push({ event, details }), log: () => {} });
    gateway.router.onFrame((frame, from) => recorder.observe(frame, from.endpoint.role === 'link'));
    const vehicle = createSocket('udp4');
    await new Promise<void>((r) => vehicle.bind(0, '127.0.0.1', r));
    const gcs = await GroundStation.open((gateway.links[1]!.link as UdpLink).localPort);
    return new RecordingRig(audit, dir, gateway, recorder, vehicle, gcs);
  }

  /** Sends frames from the vehicle's side, one datagram each. */
  send(...frames: Buffer[]): void {
    const port = (this.gateway.links[0]!.link as UdpLink).localPort;
    for (const f of frames) this.vehicle.send(f, port, '127.0.0.1');
  }

  get vehicleFramesIn(): number {
    return this.gateway.links[0]!.port.framesIn;
  }

  async stop(): Promise<void> {
    await this.gateway.stop();
    await this.recorder.close();
    await new Promise<void>((r) => this.vehicle.close(() => r()));
    await this.gcs.close();
  }
}

/** Every frame of a tlog file, as bytes, with its timestamp. */
export function tlogFrames(path: string): { bytes: Buffer; timeUs: number }[] {
  const out: { bytes: Buffer; timeUs: number }[] = [];
  const decoder = new TlogDecoder(registry, (f, timeUs) => out.push({ bytes: f.copy(), timeUs }));
  decoder.push(readFileSync(path));
  decoder.end();
  return out;
}
