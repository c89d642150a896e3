/**
 * The client server against the simulated vehicle: mavlink2rest's shapes and routes, raw
 * frames both ways, and who gets in (Host, Origin, tokens, client networks).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAV_RESULT } from '../src/mavlink/index.js';
import { frame } from './helpers/frames.js';
import { decksPerTest, heartbeat } from './helpers/clients.js';
import { until, waitFor } from './helpers/wait.js';

const deck = decksPerTest();

describe('mavlink2rest WebSocket', () => {
  it('streams telemetry in mavlink2rest 0.11 JSON: enums by name, bitmasks as bits, mavtype', async () => {
    const d = await deck();
    const client = await d.connect('/v1/ws/mavlink');
    const hb = await client.telemetry('HEARTBEAT');
    // The shape of mavlink2rest's documented HEARTBEAT example.
    expect(hb.header).toEqual({ system_id: 1, component_id: 1, sequence: expect.any(Number) });
    expect(hb.message).toEqual({
      type: 'HEARTBEAT', custom_mode: 0, mavtype: { type: 'MAV_TYPE_QUADROTOR' }, autopilot: { type: 'MAV_AUTOPILOT_ARDUPILOTMEGA' },
      base_mode: { bits: expect.any(Number) }, system_status: { type: 'MAV_STATE_STANDBY' }, mavlink_version: 3,
    });
  });

  it('filters by a regex on the message name', async () => {
    const d = await deck();
    const client = await d.connect('/v1/ws/mavlink?filter=^(ATTITUDE|HEARTBEAT)$');
    const seen = new Set<string>();
    await waitFor(client.messages$, (m) => {
      if ('json' in m) seen.add((m.json as { message: { type: string } }).message.type);
      return seen.size === 2;
    }, 'ATTITUDE and HEARTBEAT');
    await client.telemetry('ATTITUDE');
    expect([...seen].sort()).toEqual(['ATTITUDE', 'HEARTBEAT']);
  });

  it('answers an invalid filter with an error message and closes the socket', async () => {
    const d = await deck();
    const ws = new WebSocket(`${d.base.replace('http', 'ws')}/v1/ws/mavlink?filter=(`);
    const first = new Promise<string>((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(JSON.parse(await first).error).toMatch(/^filter: not a valid regular expression/);
    expect(await closed).toBe(1008);
  });
});

describe('REST', () => {
  it('serves the vehicle tree, a path into it, and a 404 naming where an unknown path stops', async () => {
    const d = await deck();
    const client = await d.connect('/v1/ws/mavlink?filter=^ATTITUDE$');
    await client.telemetry('ATTITUDE');
    const tree = await d.http('GET', '/v1/mavlink');
    expect(tree.status).toBe(200);
    const attitude = (tree.body as any).vehicles['1'].components['1'].messages.ATTITUDE;
    expect(attitude.message.type).toBe('ATTITUDE');
    expect(Object.keys(attitude.status.time).sort()).toEqual(['counter', 'first_update', 'frequency', 'last_update']);
    const roll = await d.http('GET', '/v1/mavlink/vehicles/1/components/1/messages/ATTITUDE/message/roll');
    expect(typeof roll.body).toBe('number');
    const missing = await d.http('GET', '/v1/mavlink/vehicles/9');
    expect(missing.status).toBe(404);
    expect((missing.body as { error: string }).error).toMatch(/no "9" in the vehicle tree/);
  });

  it('answers under /v1, the root and /mavlink2rest (the path Cockpit uses)', async () => {
    const d = await deck();
    for (const path of ['/v1/mavlink', '/mavlink', '/mavlink2rest/v1/mavlink', '/mavlink2rest/mavlink']) {
      const r = await d.http('GET', path);
      expect([path, r.status]).toEqual([path, 200]);
      expect(r.body).toHaveProperty('vehicles');
    }
  });

  it('gives a template message, /info, /health and /v1/stats', async () => {
    const d = await deck();
    const template = await d.http('GET', '/v1/helper/mavlink?name=COMMAND_LONG');
    expect((template.body as any).message).toMatchObject({ type: 'COMMAND_LONG', command: { type: expect.stringMatching(/^MAV_CMD_/) }, param1: 0, target_system: 0 });
    expect((await d.http('GET', '/v1/helper/mavlink?name=NOPE')).status).toBe(404);
    expect((await d.http('GET', '/info')).body).toMatchObject({ service: { name: 'mavgate' } });
    const health = await d.http('GET', '/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', links: { up: 1, total: 1 } } });
    await d.connect('/v1/ws/mavlink');
    const stats = await d.http('GET', '/v1/stats');
    expect(stats.body).toMatchObject({ links: [{ endpoint: 'sim' }], clients: [{ kind: 'ws-json', role: 'observer', dropped: 0 }], control: null });
  });

  it('refuses a body that is not JSON, or too large, naming what is wrong', async () => {
    const d = await deck({ tokens: [{ name: 'alice', role: 'pilot' }] });
    const token = d.tokens.alice!;
    expect(await d.http('POST', '/v1/mavlink', { token, body: '{oops' })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/not valid JSON/) } });
    expect(await d.http('POST', '/v1/mavlink', { token, body: 'x'.repeat(20_000) })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/too large/) } });
    expect(await d.http('POST', '/v1/mavlink', { token, body: heartbeat() })).toMatchObject({ status: 200, text: expect.stringMatching(/^Ok\(\d+\)$/) });
  });

  it('lists a REST caller among the clients while it is active, and not after it has been quiet a while', async () => {
    const d = await deck({ tokens: [{ name: 'alice', role: 'pilot' }], hub: { restIdleMs: 300 } });
    expect(await d.http('POST', '/v1/mavlink', { token: d.tokens.alice!, body: heartbeat() })).toMatchObject({ status: 200 });
    expect((await d.http('GET', '/v1/stats', { token: d.tokens.alice! })).body).toMatchObject({ clients: [{ kind: 'rest', name: 'alice' }] });
    await until(() => d.hub.sessions.size === 0, 'the quiet REST caller to be forgotten', 3000);
    expect(((await d.http('GET', '/v1/stats', { token: d.tokens.alice! })).body as { clients: { kind: string }[] }).clients.filter((c) => c.kind === 'rest')).toEqual([]);
  });
});

describe('raw MAVLink WebSocket', () => {
  it('sends one binary message per frame, and takes frames from a pilot', async () => {
    const d = await deck({ tokens: [{ name: 'qgc', role: 'pilot' }] });
    const raw = await d.connect('/v1/ws/raw', { token: d.tokens.qgc! });
    const first = await waitFor(raw.messages$, (m) => 'binary' in m, 'a binary message');
    expect([0xfd, 0xfe]).toContain((first as { binary: Buffer }).binary[0]);
    await raw.frame('HEARTBEAT', (f) => f.autopilot === 3);
    expect(await raw.request({ control: 'take' })).toMatch(/"holder":"qgc"/);
    const ack = raw.frame('COMMAND_ACK', (f) => f.command === 400);
    raw.ws.send(frame({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } }, { sysid: 255, compid: 190 }));
    expect((await ack).fields!.result).toBe(0);
    expect(d.sim.armed).toBe(true);
  });

  it('answers a refused frame with the error as text and a denied COMMAND_ACK, to that client alone', async () => {
    const d = await deck();
    const raw = await d.connect('/v1/ws/raw');
    const error = waitFor(raw.messages$, (m) => 'text' in m, 'an error text');
    const ack = raw.frame('COMMAND_ACK', (f) => f.command === 400);
    raw.ws.send(frame({ name: 'COMMAND_LONG', fields: { target_system: 1, target_component: 1, command: 400, param1: 1 } }, { sysid: 255, compid: 190 }));
    expect(JSON.parse(((await error) as { text: string }).text).error).toMatch(/observers receive telemetry only/);
    expect((await ack).fields!.result).toBe(MAV_RESULT.DENIED);
    expect(d.sim.armed).toBe(false);
  });

  it('answers a binary message with no whole frame with an error, and stays open', async () => {
    const d = await deck({ tokens: [{ name: 'qgc', role: 'pilot' }] });
    const raw = await d.connect('/v1/ws/raw', { token: d.tokens.qgc! });
    const error = waitFor(raw.messages$, (m) => 'text' in m, 'an error text');
    raw.ws.send(Buffer.from([0xfd, 9, 0, 0]));
    expect(((await error) as { text: string }).text).toMatch(/no complete, valid MAVLink frame in a 4-byte message/);
    await raw.frame('HEARTBEAT');
  });
});

describe('who gets in', () => {
  it('with no tokens, lets loopback clients in as observers', async () => {
    const d = await deck();
    const client = await d.connect('/v1/ws/mavlink');
    expect(await client.refusal(heartbeat())).toMatch(/^observers receive telemetry only/);
    await client.telemetry('ATTITUDE');
  });

  it('with tokens, refuses a client without one or with a wrong one (401), and takes it by header, query or subprotocol', async () => {
    const d = await deck({ tokens: [{ name: 'alice', role: 'pilot' }] });
    await expect(d.connect('/v1/ws/mavlink')).rejects.toMatchObject({ status: 401, body: expect.stringMatching(/token is required/) });
    await expect(d.connect('/v1/ws/mavlink', { token: 'wrong' })).rejects.toMatchObject({ status: 401, body: expect.stringMatching(/unknown token/) });
    expect((await d.http('GET', '/v1/mavlink')).status).toBe(401);
    // Health carries no telemetry: a monitor needs no token.
    expect(await d.http('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const token = d.tokens.alice!;
    await (await d.connect('/v1/ws/mavlink', { token })).telemetry('HEARTBEAT');
    await (await d.connect(`/v1/ws/mavlink?token=${token}`)).telemetry('HEARTBEAT');
    const browser = await d.connect('/v1/ws/mavlink', { protocols: ['mavgate', `mavgate.token.${token}`] });
    // The server selects "mavgate": the token is never echoed back.
    expect(browser.ws.protocol).toBe('mavgate');
    await browser.telemetry('HEARTBEAT');
    expect(d.hub.stats()).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'alice', role: 'pilot' })]));
  });

  it('refuses a WebSocket from a foreign Origin before the upgrade, and lets its own origin and allowed ones in', async () => {
    const d = await deck({ origins: ['http://cockpit.local'] });
    await expect(d.connect('/v1/ws/mavlink', { headers: { origin: 'http://evil.example' } })).rejects.toMatchObject({ status: 403, body: expect.stringMatching(/Origin http:\/\/evil.example is not allowed/) });
    expect((await d.http('POST', '/v1/mavlink', { body: heartbeat(), headers: { origin: 'http://evil.example' } })).status).toBe(403);
    await (await d.connect('/v1/ws/mavlink', { headers: { origin: 'http://cockpit.local' } })).telemetry('HEARTBEAT');
    await (await d.connect('/v1/ws/mavlink', { headers: { origin: d.base } })).telemetry('HEARTBEAT');
    expect(d.hub.sessions.size).toBe(2);
  });

  it('refuses a request whose Host names another server (DNS rebinding)', async () => {
    const d = await deck();
    // fetch() will not send a foreign Host header: a plain HTTP request does, as a rebound browser would.
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      request(`${d.base}/v1/mavlink`, { headers: { host: 'attacker.example:8088' } }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode!, body }));
      }).on('error', reject).end();
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error).toMatch(/Host "attacker.example:8088" is not this server's/);
  });

  it('refuses a client from a network the policy does not approve, before the upgrade, and audits it', async () => {
    const d = await deck({ policy: { client_networks: [{ cidr: '127.0.0.2/32', roles: ['observer'] }] }, audit: true });
    await expect(d.connect('/v1/ws/mavlink')).rejects.toMatchObject({ status: 403, body: expect.stringMatching(/127\.0\.0\.1 is in no approved client network/) });
    expect(d.hub.sessions.size).toBe(0);
    expect(readFileSync(d.audit!.path, 'utf8')).toMatch(/"event":"client_refused".*127\.0\.0\.1/);
  });

  it('refuses a role its network does not allow', async () => {
    const d = await deck({ tokens: [{ name: 'alice', role: 'pilot' }], policy: { client_networks: [{ cidr: '127.0.0.0/8', roles: ['observer'] }] } });
    await expect(d.connect('/v1/ws/mavlink', { token: d.tokens.alice! })).rejects.toMatchObject({ status: 403, body: expect.stringMatching(/a pilot may not connect from 127\.0\.0\.1/) });
  });
});
