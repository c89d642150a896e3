/**
 * mavgate driven as a MAVLink ground station drives a vehicle, over real sockets: the
 * simulated vehicle (`mavgate sim`'s UDP link) behind a gateway, and three ground stations
 * on UDP ground-station endpoints, bound to an admin, a pilot and an observer token. The
 * admin reads and writes parameters, uploads and downloads a mission, changes mode, arms
 * and takes off; the pilot and the observer are refused what their roles may not do.
 * Every answer is checked in its protocol, with the ids ground stations match it by, and
 * every source each ground station hears is checked for an unbroken numbering, as
 * pymavlink, QGroundControl and Mission Planner count loss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type RunningSim } from '../src/cli/sim.js';
import { parseGcsFlag } from '../src/cli/server-flags.js';
import { Gateway } from '../src/gateway/gateway.js';
import type { TransportEndpoint } from '../src/links/create-link.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { encodeFrame, type Fields, MAV_CMD, MAV_MISSION_RESULT, MAV_RESULT } from '../src/mavlink/index.js';
import { defaultPolicy } from '../src/residency/policy.js';
import { ClientServices } from '../src/server/client-services.js';
import { DEFAULT_SERVER } from '../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken } from '../src/server/tokens.js';
import { registry } from './helpers/frames.js';
import { gateFor } from './helpers/gate.js';
import { GroundStation, type Received } from './helpers/gcs.js';
import { until, waitFor } from './helpers/wait.js';

const target = { target_system: 1, target_component: 1 };

/** Sends `message` and resolves with the first frame named `answer` matching `match` (set up before sending). */
async function ask(gcs: GroundStation, message: { name: string; fields: Fields }, answer: string, match: (f: Fields) => boolean = () => true): Promise<Received> {
  const reply = gcs.next(answer, match);
  gcs.send(message);
  return reply;
}

const command = (cmd: number, params: Record<string, number> = {}) => ({ name: 'COMMAND_LONG', fields: { ...target, command: cmd, ...params } });

/** Every STATUSTEXT from mavgate the ground station hears, chunks joined by id. */
function mavgateTexts(gcs: GroundStation): string[] {
  const texts: string[] = [];
  const open = new Map<number, string[]>();
  gcs.frames$.subscribe((f) => {
    if (f.name !== 'STATUSTEXT') return;
    const { text, id, chunk_seq: seq } = f.fields as { text: string; id: number; chunk_seq: number };
    const parts = id === 0 ? [text] : (open.get(id) ?? []);
    if (id !== 0) parts[seq] = text;
    if (id === 0 || text.length < 50) {
      open.delete(id);
      const whole = parts.join('');
      if (whole.startsWith('mavgate: ')) texts.push(whole.slice('mavgate: '.length));
    } else open.set(id, parts);
  });
  return texts;
}

describe('mavgate as a ground station sees it', () => {
  let gateway: Gateway;
  let services: ClientServices;
  let sim: RunningSim;
  let admin: GroundStation;
  let pilot: GroundStation;
  let watcher: GroundStation;
  const texts: Record<string, string[]> = {};

  beforeAll(async () => {
    gateway = new Gateway({ links: [parseEndpoint('udp-listen:127.0.0.1:0')], gate: gateFor({}) });
    await gateway.start();
    const tokens = [['admin', 'admin'], ['pilot', 'pilot'], ['watcher', 'observer']] as const;
    services = await ClientServices.start(gateway, {
      ...DEFAULT_SERVER, listen: null,
      tokens: tokens.map(([name, role]) => ({ name, role, sha256: hashToken(generateToken()), sources: DEFAULT_SOURCES })),
      gcs: tokens.map(([name]) => parseGcsFlag(`udp-listen:127.0.0.1:0,as=${name}`)),
    }, 'test', () => {});
    sim = await startSim(parseEndpoint(`udp:127.0.0.1:${(gateway.links[0]!.link as UdpLink).localPort}`) as TransportEndpoint, { rate: 5 }, defaultPolicy());
    // Each with a component id of its own, so that the others hear it as a source of its own.
    [admin, pilot, watcher] = await Promise.all(services.gcs.map((e, i) => GroundStation.open(e.localPort, '127.0.0.1', { sysid: 255, compid: 190 + i })));
    for (const [name, gcs] of [['admin', admin], ['pilot', pilot], ['watcher', watcher]] as const) {
      texts[name] = mavgateTexts(gcs);
      gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
      await gcs.next('HEARTBEAT', (f) => f.autopilot === 3);
    }
  }, 30_000);

  afterAll(async () => {
    for (const gcs of [admin, pilot, watcher]) await gcs?.close();
    await sim?.stop();
    await services?.stop();
    await gateway?.stop();
  });

  it('reads the whole parameter list, one by name, and writes one (admin)', async () => {
    const values = new Map<number, Received>();
    const sub = admin.frames$.subscribe((f) => { if (f.name === 'PARAM_VALUE') values.set(f.fields!.param_index as number, f); });
    admin.send({ name: 'PARAM_REQUEST_LIST', fields: target });
    await until(() => values.size > 0 && values.size === values.values().next().value!.fields!.param_count, 'every parameter');
    sub.unsubscribe();
    expect([...values.values()].every((v) => v.sysid === 1 && v.compid === 1)).toBe(true);
    const read = await ask(admin, { name: 'PARAM_REQUEST_READ', fields: { ...target, param_id: 'WPNAV_SPEED', param_index: -1 } }, 'PARAM_VALUE', (f) => f.param_id === 'WPNAV_SPEED');
    expect(read.fields!.param_value).toBe(500);
    const written = await ask(admin, { name: 'PARAM_SET', fields: { ...target, param_id: 'WPNAV_SPEED', param_value: 750, param_type: 9 } }, 'PARAM_VALUE', (f) => f.param_id === 'WPNAV_SPEED');
    expect(written.fields!.param_value).toBe(750);
  });

  it('uploads a mission and downloads it back (admin)', async () => {
    const item = (seq: number): Fields => ({
      ...target, seq, frame: 3, command: 16, current: seq === 0 ? 1 : 0, autocontinue: 1, param1: 0, param2: 2, param3: 0, param4: 0,
      x: -353632620 + seq * 1000, y: 1491652370 + seq * 1000, z: 20 + seq, mission_type: 0,
    });
    let request = await ask(admin, { name: 'MISSION_COUNT', fields: { ...target, count: 3, mission_type: 0 } }, 'MISSION_REQUEST_INT');
    for (let seq = 0; seq < 3; seq++) {
      expect([request.sysid, request.compid, request.fields!.seq, request.fields!.target_component]).toEqual([1, 1, seq, 190]);
      const next = seq < 2 ? admin.next('MISSION_REQUEST_INT', (f) => f.seq === seq + 1) : admin.next('MISSION_ACK');
      admin.send({ name: 'MISSION_ITEM_INT', fields: item(seq) });
      request = await next;
    }
    expect(request.fields).toMatchObject({ type: MAV_MISSION_RESULT.ACCEPTED, target_system: 255, target_component: 190 });

    const count = await ask(admin, { name: 'MISSION_REQUEST_LIST', fields: { ...target, mission_type: 0 } }, 'MISSION_COUNT');
    expect(count.fields!.count).toBe(3);
    for (let seq = 0; seq < 3; seq++) {
      const got = await ask(admin, { name: 'MISSION_REQUEST_INT', fields: { ...target, seq, mission_type: 0 } }, 'MISSION_ITEM_INT', (f) => f.seq === seq);
      expect(got.fields).toMatchObject({ x: item(seq).x, y: item(seq).y, z: item(seq).z, command: 16 });
    }
    admin.send({ name: 'MISSION_ACK', fields: { ...target, type: MAV_MISSION_RESULT.ACCEPTED, mission_type: 0 } });
  });

  it('changes mode, arms and takes off, each acknowledged by the vehicle (admin)', async () => {
    const ack = (cmd: number) => (f: Fields) => f.command === cmd;
    expect((await ask(admin, command(MAV_CMD.DO_SET_MODE, { param1: 1, param2: 4 }), 'COMMAND_ACK', ack(MAV_CMD.DO_SET_MODE))).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    await admin.next('HEARTBEAT', (f) => f.custom_mode === 4);
    const armed = await ask(admin, command(MAV_CMD.COMPONENT_ARM_DISARM, { param1: 1 }), 'COMMAND_ACK', ack(MAV_CMD.COMPONENT_ARM_DISARM));
    expect([armed.sysid, armed.compid, armed.fields!.result, armed.fields!.target_component]).toEqual([1, 1, MAV_RESULT.ACCEPTED, 190]);
    expect((await ask(admin, command(MAV_CMD.NAV_TAKEOFF, { param7: 10 }), 'COMMAND_ACK', ack(MAV_CMD.NAV_TAKEOFF))).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    await admin.next('GLOBAL_POSITION_INT', (f) => (f.relative_alt as number) > 2000, 10_000);
  });

  it('refuses a pilot while the admin flies, in each protocol, in the vehicle\'s name', async () => {
    const denied = await ask(pilot, command(MAV_CMD.NAV_LAND), 'COMMAND_ACK', (f) => f.command === MAV_CMD.NAV_LAND);
    expect([denied.sysid, denied.compid, denied.fields!.result, denied.fields!.target_component]).toEqual([1, 1, MAV_RESULT.DENIED, 191]);
    // A parameter write is the admin's: the value that stays comes back, as ArduPilot answers a denied write.
    const kept = await ask(pilot, { name: 'PARAM_SET', fields: { ...target, param_id: 'WPNAV_SPEED', param_value: 100, param_type: 9 } }, 'PARAM_VALUE', (f) => f.param_id === 'WPNAV_SPEED');
    expect([kept.sysid, kept.compid, kept.fields!.param_value]).toEqual([1, 1, 750]);
    const mission = await ask(pilot, { name: 'MISSION_COUNT', fields: { ...target, count: 1, mission_type: 0 } }, 'MISSION_ACK');
    expect([mission.sysid, mission.compid, mission.fields!.type]).toEqual([1, 1, MAV_MISSION_RESULT.DENIED]);
    // Two frames in one datagram, as MAVProxy and mavlink-router send them: both read.
    const both = Promise.all([pilot.next('PARAM_VALUE', (f) => f.param_id === 'RTL_ALT'), pilot.next('COMMAND_ACK', (f) => f.command === MAV_CMD.REQUEST_MESSAGE)]);
    pilot.sendBytes(Buffer.concat([
      encodeFrame(registry, { name: 'PARAM_REQUEST_READ', fields: { ...target, param_id: 'RTL_ALT', param_index: -1 } }, { sysid: 255, compid: 191, seq: 200 }),
      encodeFrame(registry, command(MAV_CMD.REQUEST_MESSAGE, { param1: registry.byName('HOME_POSITION')!.id }), { sysid: 255, compid: 191, seq: 201 }),
    ]));
    await both;
    await until(() => texts.pilot!.some((t) => t.startsWith('control is held by admin')) && texts.pilot!.includes('a pilot may not send PARAM_SET (admin only)'), 'the reasons at the pilot');
    expect(sim.vehicle.mode).toBe('GUIDED');
  });

  it('refuses an observer everything it sends, in each protocol, and keeps it informed', async () => {
    const ack = await ask(watcher, command(MAV_CMD.COMPONENT_ARM_DISARM, { param1: 0 }), 'COMMAND_ACK', (f) => f.command === MAV_CMD.COMPONENT_ARM_DISARM);
    expect([ack.sysid, ack.compid, ack.fields!.result, ack.fields!.target_component]).toEqual([1, 1, MAV_RESULT.DENIED, 192]);
    const mode = await ask(watcher, { name: 'SET_MODE', fields: { target_system: 1, base_mode: 1, custom_mode: 6 } }, 'COMMAND_ACK', (f) => f.command === 11);
    expect(mode.fields!.result).toBe(MAV_RESULT.DENIED);
    const download = await ask(watcher, { name: 'MISSION_REQUEST_LIST', fields: { ...target, mission_type: 0 } }, 'MISSION_ACK');
    expect(download.fields!.type).toBe(MAV_MISSION_RESULT.DENIED);
    expect(texts.watcher).toContain('observers receive telemetry only; a pilot or admin token is needed to send');
    expect(sim.vehicle.armed).toBe(true);
  });

  it('leaves every source each ground station hears numbered without a gap', async () => {
    // A while longer, so that every reply made in the vehicle's name has been followed by its telemetry.
    for (const gcs of [admin, pilot, watcher]) {
      const heard = gcs.loss.sources.get('1/1')!.received;
      await waitFor(gcs.frames$, () => gcs.loss.sources.get('1/1')!.received > heard + 50, 'fifty more frames from the vehicle');
    }
    // The vehicle, and the other ground stations the admin and the pilot hear (renumbered per source by mavgate).
    expect([...admin.loss.sources.keys()].sort()).toEqual(['1/1', '255/191']);
    expect([...pilot.loss.sources.keys()].sort()).toEqual(['1/1', '255/190']);
    for (const gcs of [admin, pilot, watcher]) expect(gcs.loss.losses).toEqual({});
  });
});
