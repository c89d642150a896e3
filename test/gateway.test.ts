/**
 * The gateway end to end, in process: the simulated vehicle on one link, a ground station
 * on a real loopback UDP socket on another, every frame through the router.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { MAV_CMD, MAV_RESULT } from '../src/mavlink/index.js';
import type { SimLink } from '../src/sim/sim-link.js';
import { GroundStation } from './helpers/gcs.js';
import { until, waitFor } from './helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function flightDeck(options: ConstructorParameters<typeof Gateway>[0]['sim'] = {}, node = {}) {
  const gateway = new Gateway({ links: [parseEndpoint('sim'), parseEndpoint('udp-listen:127.0.0.1:0')], sim: options, node });
  await gateway.start();
  cleanup.push(() => gateway.stop());
  const gcs = await GroundStation.open((gateway.links[1]!.link as UdpLink).localPort);
  cleanup.push(() => gcs.close());
  gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } }); // tells the udp-listen link where the GCS is
  const sim = (gateway.links[0]!.link as SimLink).vehicle;
  return { gateway, gcs, sim };
}

const target = { target_system: 1, target_component: 1 };
const commandLong = (command: number, params: Record<string, number> = {}) => ({ name: 'COMMAND_LONG', fields: { ...target, command, ...params } });

describe('gateway with the simulated vehicle', () => {
  it('relays telemetry to the ground station and tracks the vehicle', async () => {
    const { gateway, gcs } = await flightDeck();
    const hb = await gcs.next('HEARTBEAT', (f) => f.autopilot === 3);
    expect([hb.sysid, hb.compid]).toEqual([1, 1]);
    await gcs.next('GLOBAL_POSITION_INT');
    await gcs.next('ATTITUDE');
    const vehicle = gateway.state.get(1, 1)!;
    expect(vehicle.heartbeat).toMatchObject({ type: 2, autopilot: 3, mode: 'STABILIZE', armed: false });
    expect(vehicle.message('ATTITUDE')!.fields()).toHaveProperty('roll');
    expect(gateway.links[0]!.port.framesIn).toBeGreaterThan(0);
    expect(gateway.links[1]!.port.framesOut).toBeGreaterThan(0);
  });

  it('flies: arm, takeoff refused outside GUIDED, mode change, takeoff, climb, land — each with its COMMAND_ACK', async () => {
    const { gateway, gcs, sim } = await flightDeck({ rate: 4 });
    const ack = (command: number) => gcs.next('COMMAND_ACK', (f) => f.command === command);

    let reply = ack(MAV_CMD.NAV_TAKEOFF);
    gcs.send(commandLong(MAV_CMD.NAV_TAKEOFF, { param7: 10 }));
    expect((await reply).fields).toMatchObject({ result: MAV_RESULT.DENIED, target_system: 255, target_component: 190 });

    reply = ack(MAV_CMD.COMPONENT_ARM_DISARM);
    gcs.send(commandLong(MAV_CMD.COMPONENT_ARM_DISARM, { param1: 1 }));
    expect((await reply).fields!.result).toBe(MAV_RESULT.ACCEPTED);

    reply = ack(MAV_CMD.NAV_TAKEOFF);
    gcs.send(commandLong(MAV_CMD.NAV_TAKEOFF, { param7: 10 }));
    expect((await reply).fields!.result).toBe(MAV_RESULT.TEMPORARILY_REJECTED);

    reply = ack(MAV_CMD.DO_SET_MODE);
    gcs.send(commandLong(MAV_CMD.DO_SET_MODE, { param1: 1, param2: 4 }));
    expect((await reply).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    await waitFor(gateway.events$, (e) => e.type === 'vehicle' && e.event.type === 'mode' && e.event.component.heartbeat!.mode === 'GUIDED', 'GUIDED in the heartbeat');
    expect(gateway.state.get(1, 1)!.heartbeat!.armed).toBe(true);

    reply = ack(MAV_CMD.NAV_TAKEOFF);
    gcs.send(commandLong(MAV_CMD.NAV_TAKEOFF, { param7: 10 }));
    expect((await reply).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    await gcs.next('GLOBAL_POSITION_INT', (f) => (f.relative_alt as number) > 1000);

    reply = ack(MAV_CMD.NAV_LAND);
    gcs.send(commandLong(MAV_CMD.NAV_LAND));
    expect((await reply).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    expect(sim.mode).toBe('LAND');

    reply = ack(12345);
    gcs.send(commandLong(12345));
    expect((await reply).fields!.result).toBe(MAV_RESULT.UNSUPPORTED);
  });

  it('changes mode with SET_MODE, and refuses an unknown mode', async () => {
    const { gcs, sim } = await flightDeck();
    let reply = gcs.next('COMMAND_ACK', (f) => f.command === 11);
    gcs.send({ name: 'SET_MODE', fields: { target_system: 1, base_mode: 1, custom_mode: 6 } });
    expect((await reply).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    expect(sim.mode).toBe('RTL');
    reply = gcs.next('COMMAND_ACK', (f) => f.command === MAV_CMD.DO_SET_MODE);
    gcs.send(commandLong(MAV_CMD.DO_SET_MODE, { param1: 1, param2: 99 }));
    expect((await reply).fields!.result).toBe(MAV_RESULT.DENIED);
  });

  it('serves the parameter protocol: list, read by name, set', async () => {
    const { gcs } = await flightDeck();
    gcs.send({ name: 'PARAM_REQUEST_LIST', fields: target });
    const last = await gcs.next('PARAM_VALUE', (f) => f.param_index === 7);
    expect(last.fields).toMatchObject({ param_count: 8, param_id: 'WPNAV_SPEED', param_value: 500 });

    let reply = gcs.next('PARAM_VALUE', (f) => f.param_id === 'RTL_ALT');
    gcs.send({ name: 'PARAM_REQUEST_READ', fields: { ...target, param_id: 'RTL_ALT', param_index: -1 } });
    expect((await reply).fields!.param_value).toBe(1500);

    reply = gcs.next('PARAM_VALUE', (f) => f.param_id === 'RTL_ALT' && f.param_value === 2500);
    gcs.send({ name: 'PARAM_SET', fields: { ...target, param_id: 'RTL_ALT', param_value: 2500, param_type: 6 } });
    expect((await reply).fields!.param_index).toBe(5);

    const warning = gcs.next('STATUSTEXT');
    gcs.send({ name: 'PARAM_SET', fields: { ...target, param_id: 'NO_SUCH', param_value: 1, param_type: 9 } });
    expect((await warning).fields!.text).toBe('Unknown parameter NO_SUCH');
  });

  it('serves the mission protocol: upload three waypoints, download them back', async () => {
    const { gcs } = await flightDeck();
    const items = [0, 1, 2].map((seq) => ({ ...target, seq, frame: 6, command: 16, x: -353632620 + seq * 1000, y: 1491652370, z: 20, autocontinue: 1 }));
    let request = gcs.next('MISSION_REQUEST_INT', (f) => f.seq === 0);
    gcs.send({ name: 'MISSION_COUNT', fields: { ...target, count: 3 } });
    for (const item of items) {
      await request;
      request = item.seq < 2 ? gcs.next('MISSION_REQUEST_INT', (f) => f.seq === item.seq + 1) : request;
      const ack = item.seq === 2 ? gcs.next('MISSION_ACK') : null;
      gcs.send({ name: 'MISSION_ITEM_INT', fields: item });
      if (ack) expect((await ack).fields!.type).toBe(0);
    }
    const count = gcs.next('MISSION_COUNT');
    gcs.send({ name: 'MISSION_REQUEST_LIST', fields: target });
    expect((await count).fields!.count).toBe(3);
    const second = gcs.next('MISSION_ITEM_INT', (f) => f.seq === 1);
    gcs.send({ name: 'MISSION_REQUEST_INT', fields: { ...target, seq: 1 } });
    expect((await second).fields).toMatchObject({ seq: 1, x: -353631620, y: 1491652370, z: 20, command: 16 });
  });

  it('counts loss and CRC errors when the vehicle drops and damages frames', async () => {
    const { gateway } = await flightDeck({ rate: 10, loss: 0.1, damage: 0.1, seed: 7 });
    const decoder = gateway.links[0]!.decoder;
    await until(() => decoder.stats.crcErrors >= 3 && decoder.stats.frames >= 200, 'damaged and received frames', 10_000);
    const sources = decoder.stats.sequence.sources();
    const loss = sources.find((s) => s.sysid === 1)!.lossRate;
    expect(loss).toBeGreaterThan(0.05);
    expect(loss).toBeLessThan(0.5);
  });

  it('as a MAVLink node: sends its own heartbeat and asks the autopilot for telemetry, when configured', async () => {
    const { gcs, sim } = await flightDeck({}, { heartbeat: true, requestStreams: true });
    const own = await gcs.next('HEARTBEAT', (f) => f.type === 6 && f.autopilot === 8);
    expect([own.sysid, own.compid]).toEqual([245, 191]);
    // Asked as soon as the vehicle's first heartbeat made it known, with no ground station involved.
    await until(() => sim.received.get('REQUEST_DATA_STREAM') === 1, 'REQUEST_DATA_STREAM at the vehicle');
    expect(sim.received.get('HEARTBEAT')).toBeGreaterThanOrEqual(1);
  });

  it('reports link and vehicle statistics', async () => {
    const { gateway, gcs } = await flightDeck({ rate: 10, loss: 0.2, seed: 3 });
    await until(() => gateway.router.sequence.sources().some((s) => s.received > 100), 'telemetry');
    await gcs.next('HEARTBEAT', (f) => f.autopilot === 3);
    const { links, vehicles } = gateway.stats();
    expect(links.map((l) => [l.id, l.endpoint, l.state.status])).toEqual([['link1', 'sim', 'up'], ['link2', expect.stringMatching(/^udp-listen:127\.0\.0\.1:0$/), 'up']]);
    expect(links[0]!.framesIn).toBeGreaterThan(100);
    expect(links[0]!.bytesIn).toBeGreaterThan(links[0]!.framesIn * 12);
    expect(links[1]!.framesOut).toBeGreaterThan(0);
    expect(links[0]!.lossRate).toBeGreaterThan(0.05);
    const vehicle = vehicles.find((v) => v.sysid === 1 && v.compid === 1)!;
    expect(vehicle.lossRate).toBeCloseTo(links[0]!.lossRate, 5);
  });

  it('is silent as a MAVLink node by default', async () => {
    const { gateway, gcs, sim } = await flightDeck();
    await gcs.next('HEARTBEAT', (f) => f.autopilot === 3);
    expect(gateway.state.get(245, 191)).toBeUndefined();
    expect(sim.received.get('REQUEST_DATA_STREAM')).toBeUndefined();
  });
});

describe('gateway with redundant links', () => {
  it('forwards a frame arriving through two links once, and sends commands out through both', async () => {
    const gateway = new Gateway({
      links: [parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint('udp-listen:127.0.0.1:0'), parseEndpoint('udp-listen:127.0.0.1:0')],
      dedupWindowMs: 100,
    });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const [radio1, radio2, gcsPort] = gateway.links.map((h) => (h.link as UdpLink).localPort);
    const gcs = await GroundStation.open(gcsPort!);
    cleanup.push(() => gcs.close());
    gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
    await until(() => gateway.links[2]!.port.framesIn === 1, 'the GCS link learning its peer');
    // One vehicle behind two radios: every frame it sends arrives through both.
    const vehicle = await GroundStation.open(radio1!);
    cleanup.push(() => vehicle.close());
    const seen: number[] = [];
    gcs.frames$.subscribe((f) => { if (f.name === 'ATTITUDE') seen.push(f.seq); });
    const { encodeFrame } = await import('../src/mavlink/index.js');
    const { registry } = await import('./helpers/frames.js');
    for (let seq = 0; seq < 20; seq++) {
      const bytes = encodeFrame(registry, { name: seq === 0 ? 'HEARTBEAT' : 'ATTITUDE', fields: seq === 0 ? { type: 2, autopilot: 3 } : { time_boot_ms: seq } }, { sysid: 1, compid: 1, seq });
      vehicle.sendBytes(bytes);
      vehicle.socket.send(bytes, radio2!, '127.0.0.1');
    }
    await until(() => seen.length >= 19 && gateway.links[1]!.port.duplicates + gateway.links[0]!.port.duplicates >= 20, 'all frames, each once');
    expect(seen).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
    expect(gateway.links[0]!.port.duplicates + gateway.links[1]!.port.duplicates).toBe(20);

    const atVehicle: string[] = [];
    vehicle.frames$.subscribe((f) => { if (f.name) atVehicle.push(f.name); });
    gcs.send(commandLong(MAV_CMD.COMPONENT_ARM_DISARM, { param1: 1 }));
    // The vehicle's socket gets the command through both radios' links (it is one socket behind both).
    await until(() => atVehicle.filter((n) => n === 'COMMAND_LONG').length === 2, 'the command through both radios');
  });
});

describe('a vehicle link that drops what it cannot check (drop_unknown)', () => {
  it('keeps frames of unknown message ids from the vehicle side; a link without the setting forwards them', async () => {
    const { LoopbackPeer } = await import('./helpers/loopback.js');
    const { freeUdpPort } = await import('./helpers/ports.js');
    const { heartbeat, unknownFrame } = await import('./helpers/frames.js');
    const [guarded, open] = [await freeUdpPort(), await freeUdpPort()];
    const gateway = new Gateway({ links: [{ ...parseEndpoint(`udp-listen:127.0.0.1:${guarded}`), dropUnknown: true } as never, parseEndpoint(`udp-listen:127.0.0.1:${open}`)] });
    await gateway.start();
    const a = await LoopbackPeer.open('127.0.0.1');
    const b = await LoopbackPeer.open('127.0.0.1');
    cleanup.push(async () => {
      await gateway.stop();
      await a.close();
      await b.close();
    });
    b.send(heartbeat(0, 2), open);
    await until(() => gateway.links[1]!.port.framesIn === 1, 'b learned by its link');
    // Garbage with an unknown id, then a real heartbeat, in one datagram.
    a.send(Buffer.concat([unknownFrame(0xabcdef, [9, 9, 9, 9], 1), heartbeat(2, 1)]), guarded);
    await until(() => b.frames.some((f) => f.name === 'HEARTBEAT' && f.sysid === 1), 'the real heartbeat at b');
    await b.sync();
    expect(b.frames.filter((f) => !f.verified)).toEqual([]);
    expect(gateway.stats().links[0]!.unknownDropped).toBe(1);
    // The other way, through a link without the setting, the unknown frame goes through (the router's default).
    b.send(Buffer.concat([unknownFrame(0xabcdef, [9, 9, 9, 9], 1), heartbeat(2, 2)]), open);
    await until(() => a.frames.some((f) => f.name === 'HEARTBEAT' && f.sysid === 2), 'the heartbeat at a');
    await a.sync();
    expect(a.frames.filter((f) => !f.verified)).toHaveLength(1);
    expect(gateway.stats().links[1]!.unknownDropped).toBe(0);
  });

  it('is set per link in the config (drop_unknown: true), naming the key when it makes no sense', async () => {
    const { parseConfig } = await import('../src/cli/config.js');
    const config = parseConfig({ links: [{ endpoint: 'udp-listen:127.0.0.1:14551', drop_unknown: true }, 'serial:/dev/ttyUSB0:57600'] }, 'g.yaml');
    expect(config.links.map((l) => 'dropUnknown' in l && l.dropUnknown === true)).toEqual([true, false]);
    expect(() => parseConfig({ links: [{ endpoint: 'sim', drop_unknown: true }] }, 'g.yaml')).toThrow(/g\.yaml: links\[0\]\.drop_unknown: sim links take no frames from a peer/);
  });
});
