/**
 * Refusals a ground station understands: each refused message answered in its own
 * protocol, in the name of the vehicle it was for, with the reason as a (chunked) status
 * text, without disturbing the numbering of any source the ground station counts loss on.
 * Real UDP ground stations and WebSocket clients against the simulated vehicle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseGcsEndpoint } from '../src/cli/server-flags.js';
import { MAV_MISSION_RESULT, MAV_RESULT } from '../src/mavlink/index.js';
import { commandLong, Deck } from './helpers/clients.js';
import { GroundStation, type Received } from './helpers/gcs.js';
import { until, waitFor } from './helpers/wait.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function deckWithGcs(role: 'observer' | 'pilot'): Promise<{ d: Deck; gcs: GroundStation; texts: string[] }> {
  const d = await Deck.start({ tokens: [{ name: 'gcs', role }, { name: 'other', role: 'pilot' }], gcs: [{ endpoint: parseGcsEndpoint('udp-listen:127.0.0.1:0'), as: 'gcs' }] });
  cleanup.push(() => d.stop());
  const gcs = await GroundStation.open(d.services!.gcs[0]!.localPort);
  cleanup.push(() => gcs.close());
  const texts = statusTexts(gcs);
  gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
  await gcs.next('ATTITUDE');
  return { d, gcs, texts };
}

/** Every status text from mavgate `gcs` hears from now on, chunks joined by STATUSTEXT id (the vehicle's own left out). */
function statusTexts(gcs: GroundStation): string[] {
  const done: string[] = [];
  const push = (text: string) => void (text.startsWith('mavgate: ') && done.push(text));
  const open = new Map<number, string[]>();
  gcs.frames$.subscribe((f) => {
    if (f.name !== 'STATUSTEXT') return;
    const { text, id, chunk_seq: chunk } = f.fields as { text: string; id: number; chunk_seq: number };
    if (id === 0) return push(text);
    const parts = open.get(id) ?? [];
    parts[chunk] = text;
    open.set(id, parts);
    if (text.length < 50) {
      push(parts.join(''));
      open.delete(id);
    }
  });
  return done;
}

describe('a UDP ground station refused', () => {
  it('as an observer: a COMMAND_ACK, MISSION_ACK and SET_MODE ack denied in the vehicle\'s name, the reason chunked, and no source\'s numbering disturbed', async () => {
    const { d, gcs, texts } = await deckWithGcs('observer');
    const replies: Received[] = [];
    gcs.frames$.subscribe((f) => { if (['COMMAND_ACK', 'MISSION_ACK'].includes(f.name!)) replies.push(f); });

    gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    gcs.send({ name: 'MISSION_COUNT', fields: { target_system: 1, target_component: 1, count: 3, mission_type: 0 } });
    gcs.send({ name: 'SET_MODE', fields: { target_system: 1, base_mode: 1, custom_mode: 4 } });
    gcs.send({ name: 'MISSION_REQUEST_LIST', fields: { target_system: 1, target_component: 1, mission_type: 1 } });
    await until(() => replies.length === 4 && texts.length === 1, 'four protocol answers and one status text').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify({ replies: replies.map((r) => r.name), texts })}`);
    });

    expect(replies.map((r) => [r.name, r.sysid, r.compid])).toEqual([['COMMAND_ACK', 1, 1], ['MISSION_ACK', 1, 1], ['COMMAND_ACK', 1, 1], ['MISSION_ACK', 1, 1]]);
    expect(replies[0]!.fields).toMatchObject({ command: 400, result: MAV_RESULT.DENIED, target_system: 255, target_component: 190 });
    expect(replies[1]!.fields).toMatchObject({ type: MAV_MISSION_RESULT.DENIED, mission_type: 0, target_system: 255, target_component: 190 });
    // As ArduPilot acknowledges SET_MODE: a COMMAND_ACK whose command is the message id, 11.
    expect(replies[2]!.fields).toMatchObject({ command: 11, result: MAV_RESULT.DENIED });
    expect(replies[3]!.fields).toMatchObject({ type: MAV_MISSION_RESULT.DENIED, mission_type: 1 });
    // One status text per reason every 5 s (the heartbeat drew it), in 50-character chunks that MAVProxy and QGroundControl reassemble.
    expect(texts).toEqual(['mavgate: observers receive telemetry only; a pilot or admin token is needed to send']);

    // Every source the ground station hears, the vehicle included, numbered without a gap.
    const heard = gcs.loss.sources.get('1/1')!.received;
    await until(() => gcs.loss.sources.get('1/1')!.received > heard + 100, 'a hundred more frames from the vehicle');
    expect(gcs.loss.losses).toEqual({});
    expect(d.sim.armed).toBe(false);
    expect(d.sim.received.get('MISSION_COUNT') ?? 0).toBe(0);
  });

  it('as a pilot writing a parameter: PARAM_VALUE with the value that stays, and the reason', async () => {
    const { d, gcs, texts } = await deckWithGcs('pilot');
    // The parameter list first, as every ground station does on connect: mavgate learns the values from the vehicle's answers.
    const listed = waitFor(gcs.frames$, (f) => f.name === 'PARAM_VALUE' && f.fields!.param_id === 'RTL_ALT', 'RTL_ALT listed');
    gcs.send({ name: 'PARAM_REQUEST_LIST', fields: { target_system: 1, target_component: 1 } });
    await listed;
    const answer = gcs.next('PARAM_VALUE', (f) => f.param_id === 'RTL_ALT');
    gcs.send({ name: 'PARAM_SET', fields: { target_system: 1, target_component: 1, param_id: 'RTL_ALT', param_value: 3000, param_type: 6 } });
    const value = await answer;
    expect([value.sysid, value.compid, value.fields!.param_value]).toEqual([1, 1, 1500]);
    await until(() => texts.length === 1, 'the reason');
    expect(texts[0]).toBe('mavgate: a pilot may not send PARAM_SET (admin only)');
    expect(d.sim.params.find((p) => p.id === 'RTL_ALT')!.value).toBe(1500);
    expect(gcs.loss.losses).toEqual({});
  });

  it('replies made while the vehicle is silent come numbered on from its last frame', async () => {
    const { d, gcs } = await deckWithGcs('observer');
    d.sim.stop();
    const ack = gcs.next('COMMAND_ACK', (f) => f.command === 400, 3000);
    gcs.send({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } });
    const denied = await ack;
    expect(denied.seq).toBe((d.gateway.router.sequence.lastSeq(1, 1) + 1) & 0xff);
    expect(gcs.loss.losses).toEqual({});
  });
});

describe('a mavlink2rest client (Cockpit) refused', () => {
  it('gets mavlink2rest-shaped messages it can read, never an error without a header; SET_MODE acks (command 11) are not on the socket', async () => {
    const d = await Deck.start({ tokens: [{ name: 'eve', role: 'observer' }, { name: 'alice', role: 'pilot' }] });
    cleanup.push(() => d.stop());
    const eve = await d.connect('/v1/ws/mavlink', { token: d.tokens.eve! });
    const shapes: unknown[] = [];
    eve.messages$.subscribe((m) => { if ('json' in m && m.json !== null && !('header' in (m.json as object))) shapes.push(m.json); });
    const ack = eve.telemetry('COMMAND_ACK');
    const reason = eve.statusText();
    eve.ws.send(JSON.stringify(commandLong('MAV_CMD_NAV_TAKEOFF', { param7: 10 })));
    expect((await ack)).toMatchObject({ header: { system_id: 1, component_id: 1 }, message: { command: { type: 'MAV_CMD_NAV_TAKEOFF' }, result: { type: 'MAV_RESULT_DENIED' } } });
    expect((await reason)).toMatchObject({ text: 'observers receive telemetry only; a pilot or admin token is needed to send', header: { system_id: 1, component_id: 1 } });

    // The vehicle's own ack of a SET_MODE carries command 11, which MAV_CMD does not name: raw clients get it, JSON clients do not.
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const raw = await d.connect('/v1/ws/raw', { token: d.tokens.eve! });
    const rawAck = raw.frame('COMMAND_ACK', (f) => f.command === 11);
    const jsonAcks: unknown[] = [];
    alice.messages$.subscribe((m) => { if ('json' in m && (m.json as { message?: { type?: string } } | null)?.message?.type === 'COMMAND_ACK') jsonAcks.push(m.json); });
    expect(await alice.request({ header: { system_id: 255, component_id: 240, sequence: 0 }, message: { type: 'SET_MODE', target_system: 1, base_mode: { type: 1 }, custom_mode: 4 } })).toMatch(/^Ok/);
    expect((await rawAck).fields!.result).toBe(MAV_RESULT.ACCEPTED);
    await alice.telemetry('HEARTBEAT', (m) => m.custom_mode === 4);
    expect(jsonAcks).toEqual([]);
    expect(shapes).toEqual([]);
  });
});
