/**
 * The simulated vehicle answers like ArduPilot: it streams any message it can send when a
 * ground station asks (SET_MESSAGE_INTERVAL, REQUEST_DATA_STREAM groups), tells boot and
 * mode and arming changes in STATUSTEXT, and its compass wanders on the ground. Over real
 * sockets: `mavgate sim`'s UDP link to a gateway, a ground station on another UDP link.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSim } from '../src/cli/sim.js';
import { Gateway } from '../src/gateway/gateway.js';
import type { TransportEndpoint } from '../src/links/create-link.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { MAV_CMD, MAV_RESULT } from '../src/mavlink/index.js';
import { defaultPolicy } from '../src/residency/policy.js';
import type { SimOptions } from '../src/sim/sim-vehicle.js';
import { registry } from './helpers/frames.js';
import { GroundStation, type Received } from './helpers/gcs.js';
import { until } from './helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A gateway with a UDP link for the vehicle and one for the ground station; the vehicle started after the ground station listens. */
async function field(options: SimOptions = {}) {
  const gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint('udp-listen:127.0.0.1:0')] });
  await gateway.start();
  cleanup.push(() => gateway.stop());
  const gcs = await GroundStation.open((gateway.links[1]!.link as UdpLink).localPort);
  cleanup.push(() => gcs.close());
  const seen: Received[] = [];
  gcs.frames$.subscribe((f) => seen.push(f));
  gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
  await until(() => gateway.links[1]!.port.framesIn > 0, 'the ground station heard');
  const sim = await startSim(parseEndpoint(`udp:127.0.0.1:${(gateway.links[0]!.link as UdpLink).localPort}`) as TransportEndpoint, { rate: 5, ...options }, defaultPolicy());
  cleanup.push(() => sim.stop());
  // Commands go only where their target has been heard.
  await until(() => seen.some((f) => f.name === 'HEARTBEAT' && f.sysid === 1), 'the vehicle at the ground station');
  return { gateway, gcs, sim: sim.vehicle, seen };
}

const command = (cmd: number, params: Record<string, number>) => ({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: cmd, ...params } });
const idOf = (name: string) => registry.byName(name)!.id;

describe('the simulated vehicle', () => {
  it('streams every message a ground station asks for that ArduPilot sends, and denies one it cannot send', async () => {
    const { gcs, seen } = await field();
    const asked = ['HOME_POSITION', 'MISSION_CURRENT', 'EXTENDED_SYS_STATE', 'RC_CHANNELS', 'SERVO_OUTPUT_RAW', 'RAW_IMU', 'SCALED_PRESSURE', 'RADIO_STATUS', 'SYSTEM_TIME', 'VIBRATION'];
    for (const name of asked) {
      const ack = gcs.next('COMMAND_ACK', (f) => f.command === MAV_CMD.SET_MESSAGE_INTERVAL);
      gcs.send(command(MAV_CMD.SET_MESSAGE_INTERVAL, { param1: idOf(name), param2: 100_000 }));
      expect([name, (await ack).fields!.result]).toEqual([name, MAV_RESULT.ACCEPTED]);
    }
    await until(() => asked.every((n) => seen.some((f) => f.name === n)), `every one of ${asked.join(', ')}`);
    const denied = gcs.next('COMMAND_ACK', (f) => f.command === MAV_CMD.SET_MESSAGE_INTERVAL);
    gcs.send(command(MAV_CMD.SET_MESSAGE_INTERVAL, { param1: idOf('SCALED_IMU3'), param2: 100_000 }));
    expect((await denied).fields!.result).toBe(MAV_RESULT.DENIED);

    // The radio's status comes from the radio (its '3'/'D' ids), with a plausible signal.
    const radio = seen.find((f) => f.name === 'RADIO_STATUS')!;
    expect([radio.sysid, radio.compid]).toEqual([51, 68]);
    expect(radio.fields!.rssi).toBeGreaterThan(150);
    expect(radio.fields!.rssi).toBeLessThan(230);
    const landed = seen.find((f) => f.name === 'EXTENDED_SYS_STATE')!;
    expect(landed.fields!.landed_state).toBe(1);
    const home = seen.find((f) => f.name === 'HOME_POSITION')!;
    expect(home.fields!.latitude).toBe(-353632620);
  });

  it('tells its boot, arming and mode changes in STATUSTEXT', async () => {
    const { gcs, seen } = await field();
    const texts = () => seen.filter((f) => f.name === 'STATUSTEXT').map((f) => f.fields!.text);
    await until(() => texts().some((t) => String(t).startsWith('ArduCopter')), 'the boot banner');
    gcs.send(command(MAV_CMD.DO_SET_MODE, { param1: 1, param2: 4 }));
    gcs.send(command(MAV_CMD.COMPONENT_ARM_DISARM, { param1: 1 }));
    await until(() => texts().includes('Mode GUIDED') && texts().includes('Arming motors'), 'the mode and arming texts');
    expect(texts()).toEqual(expect.arrayContaining(['Frame: QUAD/X']));
  });

  it('follows ArduPilot\'s stream groups with REQUEST_DATA_STREAM', async () => {
    const { gcs, seen } = await field();
    gcs.send({ name: 'REQUEST_DATA_STREAM', fields: { target_system: 1, target_component: 1, req_stream_id: 3, req_message_rate: 10, start_stop: 1 } });
    await until(() => seen.some((f) => f.name === 'SERVO_OUTPUT_RAW') && seen.some((f) => f.name === 'RC_CHANNELS'), 'the RC_CHANNELS group');
  });

  it('has a compass that wanders a little on the ground', async () => {
    const { seen } = await field({ rate: 10 });
    await until(() => seen.filter((f) => f.name === 'ATTITUDE').length >= 60, 'sixty ATTITUDE frames', 10_000);
    const yaws = seen.filter((f) => f.name === 'ATTITUDE').map((f) => ((f.fields!.yaw as number) * 180) / Math.PI);
    const spread = Math.max(...yaws) - Math.min(...yaws);
    expect(spread).toBeGreaterThan(0.05);
    expect(spread).toBeLessThan(5);
  });
});
