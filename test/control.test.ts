/**
 * Who may fly: roles, the single control lease, source ids, rate limits and bad input,
 * with real WebSocket clients against the simulated vehicle; and a whole flight.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandLong, decksPerTest, heartbeat } from './helpers/clients.js';
import { until } from './helpers/wait.js';

const deck = decksPerTest();

const pilots = { tokens: [{ name: 'alice', role: 'pilot' as const }, { name: 'bob', role: 'pilot' as const }, { name: 'root', role: 'admin' as const }, { name: 'eve', role: 'observer' as const }] };
const errorOf = (reply: string) => (JSON.parse(reply) as { error: string }).error;
const paramSet = (id: string, value: number) => ({
  header: { system_id: 255, component_id: 240, sequence: 0 },
  message: { type: 'PARAM_SET', target_system: 1, target_component: 1, param_id: id.padEnd(16, '\u0000').split(''), param_value: value, param_type: { type: 'MAV_PARAM_TYPE_REAL32' } },
});

describe('roles', () => {
  it('an observer is refused politely, in mavlink2rest messages Cockpit reads (no error without a header), and keeps receiving telemetry', async () => {
    const d = await deck(pilots);
    const eve = await d.connect('/v1/ws/mavlink', { token: d.tokens.eve! });
    const texts: string[] = [];
    eve.messages$.subscribe((m) => 'text' in m && !m.text.startsWith('{"header"') && texts.push(m.text));
    // What Cockpit sends at start: a GCS heartbeat, stream requests, an arm command.
    expect(await eve.refusal(heartbeat())).toMatch(/^observers receive telemetry only/);
    for (const command of ['MAV_CMD_SET_MESSAGE_INTERVAL', 'MAV_CMD_COMPONENT_ARM_DISARM']) {
      const ack = eve.telemetry('COMMAND_ACK', (m) => (m.command as { type: string }).type === command);
      eve.ws.send(JSON.stringify(commandLong(command, { param1: 1 })));
      // Denied, in the name of the vehicle the command was for, so that Cockpit matches it to its command.
      expect(await ack).toMatchObject({ header: { system_id: 1, component_id: 1 }, message: { result: { type: 'MAV_RESULT_DENIED' }, target_system: 255, target_component: 240 } });
    }
    await eve.telemetry('ATTITUDE');
    expect(texts).toEqual([]);
    expect(d.sim.received.get('HEARTBEAT') ?? 0).toBe(0);
    expect(d.sim.armed).toBe(false);
  });

  it('a pilot sends heartbeats and stream requests without control, and no admin messages', async () => {
    const d = await deck(pilots);
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    expect(await alice.request(heartbeat())).toMatch(/^Ok\(\d+\)$/);
    const interval = d.sim.received.get('COMMAND_LONG') ?? 0;
    const ack = alice.telemetry('COMMAND_ACK', (m) => (m.command as { type: string }).type === 'MAV_CMD_SET_MESSAGE_INTERVAL');
    expect(await alice.request(commandLong('MAV_CMD_SET_MESSAGE_INTERVAL', { param1: 30, param2: 100_000 }))).toMatch(/^Ok/);
    await ack;
    expect(d.sim.received.get('COMMAND_LONG')).toBe(interval + 1);
    expect(await alice.refusal(paramSet('SYSID_THISMAV', 7))).toBe('a pilot may not send PARAM_SET (admin only)');
    expect(await alice.refusal(commandLong('MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN', { param1: 1 }))).toBe('a pilot may not send MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN (admin only)');
    expect(d.sim.received.get('PARAM_SET') ?? 0).toBe(0);
    // Listing the onboard logs is harmless; downloading them is the admin's.
    const header = { system_id: 255, component_id: 240, sequence: 0 };
    expect(await alice.request({ header, message: { type: 'LOG_REQUEST_LIST', target_system: 1, target_component: 1, start: 0, end: 65535 } })).toMatch(/^Ok/);
    await until(() => d.sim.received.get('LOG_REQUEST_LIST') === 1, 'the log list request at the vehicle');
    expect(await alice.refusal({ header, message: { type: 'LOG_REQUEST_DATA', target_system: 1, target_component: 1, id: 1, ofs: 0, count: 90 } })).toBe('a pilot may not send LOG_REQUEST_DATA (admin only)');
  });

  it('an admin writes parameters once in control, and sees the PARAM_VALUE', async () => {
    const d = await deck({ ...pilots, hub: { controlMode: 'explicit' } });
    const root = await d.connect('/v1/ws/mavlink', { token: d.tokens.root! });
    expect(await root.refusal(paramSet('SYSID_THISMAV', 1))).toMatch(/PARAM_SET needs control: take it first/);
    expect(JSON.parse(await root.request({ control: 'take' }))).toMatchObject({ control: { holder: 'root', role: 'admin' } });
    const value = root.telemetry('PARAM_VALUE', (m) => (m.param_id as string[]).join('').startsWith('SYSID_THISMAV'));
    expect(await root.request(paramSet('SYSID_THISMAV', 1))).toMatch(/^Ok/);
    expect((await value).message.param_value).toBe(1);
  });

  it('a client may send only with the source ids its token allows; the vehicle\'s own is refused and audited', async () => {
    const d = await deck({ ...pilots, audit: true });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const spoof = { ...heartbeat(), header: { system_id: 1, component_id: 1, sequence: 0 } };
    expect(await alice.refusal(spoof)).toBe("source 1/1 is a vehicle's own id; send as 255/*");
    const other = { ...heartbeat(), header: { system_id: 42, component_id: 190, sequence: 0 } };
    expect(await alice.refusal(other)).toMatch(/source 42\/190 is not allowed for this token/);
    expect(readFileSync(d.audit!.path, 'utf8')).toMatch(/"event":"client_refused_message".*"kind":"source".*vehicle's own id/);
  });
});

describe('one pilot in control', () => {
  it('an unmodified client takes the free lease with its first command; the next pilot is refused naming it', async () => {
    const d = await deck(pilots);
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const bob = await d.connect('/v1/ws/mavlink', { token: d.tokens.bob! });
    expect(await alice.request(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toMatch(/^Ok/);
    expect(d.hub.lease.holder?.principal).toBe('alice');
    expect(await bob.refusal(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 0 }))).toBe('control is held by alice (pilot); MAV_CMD_COMPONENT_ARM_DISARM refused');
    await until(() => d.sim.armed, 'the vehicle to arm');
  });

  it('with control: explicit, a command before taking control is refused with how to take it', async () => {
    const d = await deck({ ...pilots, hub: { controlMode: 'explicit' } });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    expect(await alice.refusal(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toMatch(/^MAV_CMD_COMPONENT_ARM_DISARM needs control: take it first/);
    expect(d.hub.lease.holder).toBe(null);
  });

  it('refuses a second pilot naming the holder, hands over on release, and lets an admin take over', async () => {
    const d = await deck({ ...pilots, audit: true });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const bob = await d.connect('/v1/ws/mavlink', { token: d.tokens.bob! });
    expect(JSON.parse(await alice.request({ control: 'take' }))).toMatchObject({ control: { holder: 'alice' } });
    expect(errorOf(await bob.request({ control: 'take' }))).toMatch(/^control is held by alice \(pilot\) since .*ask them to release it, or an admin can take over$/);
    expect(await bob.refusal(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toBe('control is held by alice (pilot); MAV_CMD_COMPONENT_ARM_DISARM refused');
    expect(d.sim.armed).toBe(false);
    // Over REST, too.
    expect(await d.http('POST', '/v1/control', { token: d.tokens.bob!, body: { control: 'take' } })).toMatchObject({ status: 409, body: { error: expect.stringMatching(/held by alice/) } });
    expect(JSON.parse(await alice.request({ control: 'release' }))).toEqual({ control: null });
    expect(JSON.parse(await bob.request({ control: 'take' }))).toMatchObject({ control: { holder: 'bob' } });
    const root = await d.connect('/v1/ws/mavlink', { token: d.tokens.root! });
    expect(errorOf(await root.request({ control: 'take' }))).toMatch(/take over with force/);
    expect(JSON.parse(await root.request({ control: 'take', force: true }))).toMatchObject({ control: { holder: 'root' } });
    expect(await d.http('GET', '/v1/control', { token: d.tokens.eve! })).toMatchObject({ body: { control: { holder: 'root', role: 'admin' } } });
    const audit = readFileSync(d.audit!.path, 'utf8');
    for (const event of ['"event":"control_taken","details":{"principal":"alice"', '"event":"control_refused","details":{"principal":"bob","holder":"alice"', '"event":"control_released","details":{"principal":"alice","why":"released"', '"principal":"root","role":"admin","from":"bob"']) {
      expect(audit).toContain(event);
    }
  });

  it('ends the lease when the holder disconnects or goes quiet', async () => {
    const d = await deck({ ...pilots, hub: { controlTimeoutMs: 500 } });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    await alice.request({ control: 'take' });
    await alice.close();
    await until(() => d.hub.lease.holder === null, 'the lease to end with the connection');
    const bob = await d.connect('/v1/ws/mavlink', { token: d.tokens.bob! });
    await bob.request({ control: 'take' });
    expect(d.hub.lease.holder?.principal).toBe('bob');
    await until(() => d.hub.lease.holder === null, 'the lease to time out', 3000);
  });
});

describe('sequence numbers', () => {
  it('numbers what clients send per source, whatever sequence they claim (Cockpit always sends 0)', async () => {
    const d = await deck(pilots);
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const bob = await d.connect('/v1/ws/mavlink', { token: d.tokens.bob! });
    const watcher = await d.connect('/v1/ws/raw', { token: d.tokens.eve! });
    const seen: number[] = [];
    watcher.frames$.subscribe((f) => f.name === 'HEARTBEAT' && f.sysid === 255 && seen.push(f.seq));
    for (const client of [alice, bob, alice, bob]) expect(await client.request(heartbeat())).toMatch(/^Ok/);
    await until(() => seen.length === 4, 'four GCS heartbeats at the watcher');
    expect(seen.map((s) => (s - seen[0]! + 256) % 256)).toEqual([0, 1, 2, 3]);
  });
});

describe('bad input', () => {
  it('answers every bad message with an error naming what was wrong; the socket stays open and nothing reaches the vehicle', async () => {
    const d = await deck(pilots);
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    await alice.request({ control: 'take' });
    const before = [...d.sim.received.values()].reduce((a, b) => a + b, 0);
    const cases: [unknown, RegExp][] = [
      ['{"header":', /^not valid JSON/],
      [{ header: {}, message: { type: 'NO_SUCH_MESSAGE' } }, /unknown message "NO_SUCH_MESSAGE"/],
      [{ header: {}, message: { type: 'COMMAND_LONG', target_system: 1 } }, /^COMMAND_LONG\.param1: missing; every field but MAVLink 2 extensions is required/],
      [{ ...commandLong('MAV_CMD_COMPONENT_ARM_DISARM'), message: { ...commandLong('MAV_CMD_COMPONENT_ARM_DISARM').message, param1: 'one' } }, /COMMAND_LONG.*param1/],
      [{ ...commandLong('MAV_CMD_COMPONENT_ARM_DISARM'), message: { ...commandLong('MAV_CMD_COMPONENT_ARM_DISARM').message, target_system: 300 } }, /COMMAND_LONG.*target_system/],
      [{ ...commandLong('MAV_CMD_COMPONENT_ARM_DISARM'), message: { ...commandLong('MAV_CMD_COMPONENT_ARM_DISARM').message, command: { type: 'MAV_CMD_FLY_TO_MOON' } } }, /"MAV_CMD_FLY_TO_MOON" is not a value of MAV_CMD/],
      [{ ...heartbeat(), message: { ...heartbeat().message, bogus: 1 } }, /HEARTBEAT\.bogus: no such field/],
      [`{"pad":"${'x'.repeat(17_000)}"}`, /message too large/],
      [{ control: 'grab' }, /"control" must be "take" or "release"/],
    ];
    for (const [body, expected] of cases) expect([body, errorOf(await alice.request(body))]).toEqual([body, expect.stringMatching(expected)]);
    alice.ws.send(Buffer.from([1, 2, 3]));
    await alice.telemetry('HEARTBEAT');
    expect([...d.sim.received.values()].reduce((a, b) => a + b, 0)).toBe(before);
    expect(await alice.request(commandLong('MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }))).toMatch(/^Ok/);
    await until(() => d.sim.armed, 'the vehicle to arm');
  });

  it('rate-limits what a client sends', async () => {
    const d = await deck({ ...pilots, hub: { rateLimit: { perSecond: 1, burst: 3 } } });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await alice.request(heartbeat()));
    expect(replies.every((r) => r.startsWith('Ok('))).toBe(true);
    expect(await alice.refusal(heartbeat())).toBe('rate limit: at most 1 messages/s (bursts of 3)');
    alice.ws.send(JSON.stringify(heartbeat()));
    await until(() => (d.hub.stats()[0] as { rate_limited: number }).rate_limited === 2, 'the second message over the limit');
  });
});

describe('a flight from a pilot client', () => {
  it('takes control, arms, switches to GUIDED, takes off, switches to LAND, seeing each COMMAND_ACK', async () => {
    const d = await deck(pilots);
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice! });
    await alice.request({ control: 'take' });
    const steps: [string, Record<string, number>][] = [
      ['MAV_CMD_DO_SET_MODE', { param1: 1, param2: 4 }], // GUIDED
      ['MAV_CMD_COMPONENT_ARM_DISARM', { param1: 1 }],
      ['MAV_CMD_NAV_TAKEOFF', { param7: 10 }],
    ];
    const eve = await d.connect('/v1/ws/mavlink?filter=^COMMAND_ACK$', { token: d.tokens.eve! });
    for (const [command, params] of steps) {
      const isAck = (m: Record<string, unknown>) => (m.command as { type: string }).type === command;
      const ack = alice.telemetry('COMMAND_ACK', isAck);
      const observed = eve.telemetry('COMMAND_ACK', isAck);
      expect(await alice.request(commandLong(command, params))).toMatch(/^Ok/);
      expect((await ack).message.result).toEqual({ type: 'MAV_RESULT_ACCEPTED' });
      // Observers see acks as telemetry.
      await observed;
    }
    await alice.telemetry('GLOBAL_POSITION_INT', (m) => (m.relative_alt as number) > 1000, 10_000);
    const land = alice.telemetry('COMMAND_ACK', (m) => (m.command as { type: string }).type === 'MAV_CMD_DO_SET_MODE');
    await alice.request(commandLong('MAV_CMD_DO_SET_MODE', { param1: 1, param2: 9 }));
    expect((await land).message.result).toEqual({ type: 'MAV_RESULT_ACCEPTED' });
    await alice.telemetry('HEARTBEAT', (m) => m.custom_mode === 9);
    expect(d.sim.mode).toBe('LAND');
  });
});
