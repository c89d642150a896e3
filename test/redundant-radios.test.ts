/**
 * Two radios to one vehicle, as real pseudo-terminal pairs (socat): the vehicle's own
 * telemetry must never be sent back to it over the other radio, where it would take
 * half-duplex airtime (mavlink-router's rule: never send a frame to an endpoint behind
 * which its source has been seen), duplicates dropped by deduplication included.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { VehicleLink } from '../src/links/link.js';
import { FrameDecoder } from '../src/mavlink/index.js';
import { SimVehicle } from '../src/sim/sim-vehicle.js';
import { registry } from './helpers/frames.js';
import { grantedLinkFor } from './helpers/gate.js';
import { GroundStation } from './helpers/gcs.js';
import { PtyPair } from './helpers/socat.js';
import { until } from './helpers/wait.js';
import type { UdpLink } from '../src/links/udp-link.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('two serial radios to one vehicle, with deduplication', () => {
  it('sends the vehicle none of its own frames back over either radio; commands from the ground still go out through both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-radios-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const ptys = [await PtyPair.start(dir, 'radio1'), await PtyPair.start(dir, 'radio2')];
    cleanup.push(async () => { for (const p of ptys) await p.stop(); });

    // The vehicle's side of both radios: it transmits every frame on both, and hears both.
    const vehicle = new SimVehicle({ rate: 2 });
    const air: VehicleLink[] = [];
    const echoed: string[] = [];
    for (const [i, pty] of ptys.entries()) {
      const link = await grantedLinkFor(`serial:${pty.b}:57600`, `air${i}`);
      await link.open();
      cleanup.push(() => link.close());
      air.push(link);
      // What reaches the vehicle from the ground: anything it sent itself is an echo.
      const heard = new FrameDecoder(registry, (f) => { if (f.sysid === vehicle.sysid) echoed.push(`radio${i + 1} ${f.name}`); });
      link.data$.subscribe((chunk) => {
        heard.push(chunk);
        vehicle.receive(chunk);
      });
    }
    vehicle.send = (frame) => { for (const l of air) l.write(frame); };

    const gateway = new Gateway({
      links: [parseEndpoint(`serial:${ptys[0]!.a}:57600`), parseEndpoint(`serial:${ptys[1]!.a}:57600`), parseEndpoint('udp-listen:127.0.0.1:0')],
      dedupWindowMs: 100,
    });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    vehicle.start();
    cleanup.push(async () => vehicle.stop());

    const [radio1, radio2] = gateway.links;
    await until(() => radio1!.port.framesIn + radio2!.port.framesIn >= 200, '200 frames from the vehicle', 15_000);
    // Not one, from the very first frame: before the second radio has heard the vehicle, its frames wait for the dedup window.
    expect(echoed).toEqual([]);
    expect(radio1!.port.framesOut + radio2!.port.framesOut).toBe(0);
    expect(radio1!.port.duplicates + radio2!.port.duplicates).toBeGreaterThan(50);

    // A ground station's command still reaches the vehicle through both radios.
    const gcs = await GroundStation.open((gateway.links[2]!.link as UdpLink).localPort);
    cleanup.push(() => gcs.close());
    const ack = gcs.next('COMMAND_ACK', (f) => f.command === 400);
    gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    await ack;
    await until(() => vehicle.received.get('COMMAND_LONG') === 2, 'the command through both radios');
  }, 30_000);
});
