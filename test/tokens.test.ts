/**
 * A token's life: expiry (judged on an injected clock, and a real socket closed at a
 * short expiry), removal and rotation at run time (sockets closed, each change audited),
 * the dashboard session a token becomes, and `mavgate token add|list|remove|rotate`
 * applied by a running gateway.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { DashboardSessions, SESSION_COOKIE } from '../src/server/sessions.js';
import { DEFAULT_SOURCES, hashToken, parseDuration, principalOf, type TokenEntry, TokenStore } from '../src/server/tokens.js';
import { runMavgate } from './helpers/cli.js';
import { type Deck, decksPerTest } from './helpers/clients.js';
import { MavgateProcess } from './helpers/process.js';

const deck = decksPerTest();
let processes: MavgateProcess[] = [];
afterEach(async () => {
  for (const p of processes) await p.stop();
  processes = [];
});

const entry = (name: string, token: string, more: Partial<TokenEntry> = {}): TokenEntry => ({ name, role: 'pilot', sha256: hashToken(token), sources: DEFAULT_SOURCES, ...more });

function auditEvents(d: Deck): { event: string; details: Record<string, unknown> }[] {
  return readFileSync(d.audit!.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; details: Record<string, unknown> });
}

/** Resolves with the close code and reason the server sent. */
function closed(ws: WebSocket, ms = 10_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the socket was not closed within ${ms} ms`)), ms);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

describe('the token store (an injected clock)', () => {
  it('refuses an expired token, says when each client\'s token ends, and what a new set changed', () => {
    let now = 1_000_000;
    const store = new TokenStore([entry('alice', 'a', { expires: now + 60_000 }), entry('bob', 'b')], () => now);
    expect(store.find('a')).toMatchObject({ expired: false, entry: { name: 'alice' } });
    expect(store.nextExpiry()).toBe(now + 60_000);
    const alice = principalOf(store.byName('alice')!, true);
    expect(store.check(alice)).toBeNull();
    now += 60_000;
    expect(store.find('a')).toMatchObject({ expired: true });
    expect(store.check(alice)).toMatch(/token "alice" expired at/);
    expect(store.nextExpiry()).toBeNull();
    const bob = principalOf(store.byName('bob')!, true);
    const changes = store.replace([entry('bob', 'b2'), entry('carol', 'c'), entry('alice', 'a', { role: 'observer', expires: now + 1 })]);
    expect(changes).toEqual({ added: ['carol'], removed: [], rotated: ['bob'], changed: ['alice'] });
    expect(store.check(bob)).toMatch(/"bob" was rotated/);
    // A ground station bound to the token by name (not presenting it) is not cut by a rotation.
    expect(store.check(principalOf(store.byName('bob')!))).toBeNull();
    expect(store.replace([])).toMatchObject({ removed: ['bob', 'carol', 'alice'] });
    expect(store.check(bob)).toMatch(/"bob" was removed/);
  });

  it('reads durations as a user writes them, and refuses what is not one', () => {
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    for (const bad of ['12', 'h', '-1h', '0s', '1y', '12 hours']) expect(() => parseDuration(bad), bad).toThrow(/not a duration/);
  });
});

describe('expired, removed and rotated tokens at run time', () => {
  it('closes an expired token\'s socket when it expires, refuses it from then on, and audits the expiry', async () => {
    const d = await deck({ audit: true, tokens: [{ name: 'day', role: 'pilot', expires: Date.now() + 3000 }, { name: 'ops', role: 'observer' }] });
    const day = await d.connect('/v1/ws/mavlink', { token: d.tokens.day });
    const ops = await d.connect('/v1/ws/mavlink', { token: d.tokens.ops });
    const end = await closed(day.ws);
    expect(end).toMatchObject({ code: 4001, reason: expect.stringMatching(/token "day" expired/) });
    await expect(d.connect('/v1/ws/raw', { token: d.tokens.day })).rejects.toMatchObject({ status: 401, body: expect.stringMatching(/token \\?"day\\?" expired at/) });
    // The other client stays.
    await ops.telemetry('HEARTBEAT');
    const events = auditEvents(d);
    expect(events.find((e) => e.event === 'token_expired')?.details).toMatchObject({ name: 'day', role: 'pilot' });
    expect(events.find((e) => e.event === 'client_closed' && String(e.details.why).includes('expired'))).toBeDefined();
  });

  it('closes the sockets of a removed or rotated token on a new set of tokens, and audits each change', async () => {
    const d = await deck({ audit: true, tokens: [{ name: 'alice', role: 'pilot' }, { name: 'bob', role: 'observer' }] });
    const alice = await d.connect('/v1/ws/mavlink', { token: d.tokens.alice });
    const bob = await d.connect('/v1/ws/raw', { token: d.tokens.bob });
    const tokens = d.services!.tokens.all;
    const aliceGone = closed(alice.ws);
    const bobGone = closed(bob.ws);
    const result = d.services!.applyTokens([{ ...tokens.find((t) => t.name === 'bob')!, sha256: hashToken('bob-2') }]);
    expect(result).toMatchObject({ removed: ['alice'], rotated: ['bob'], disconnected: 2 });
    expect((await aliceGone).reason).toMatch(/"alice" was removed/);
    expect((await bobGone).reason).toMatch(/"bob" was rotated/);
    await expect(d.connect('/v1/ws/raw', { token: d.tokens.bob })).rejects.toMatchObject({ status: 401 });
    await d.connect('/v1/ws/raw', { token: 'bob-2' });
    const events = auditEvents(d).map((e) => `${e.event} ${String(e.details.name ?? '')}`);
    expect(events).toEqual(expect.arrayContaining(['tokens_in_force ', 'token_removed alice', 'token_rotated bob']));
  });

  it('disconnects a ground station whose token is removed, and admits it no more', async () => {
    const { parseGcsEndpoint } = await import('../src/cli/server-flags.js');
    const d = await deck({ tokens: [{ name: 'qgc', role: 'pilot' }], gcs: [{ endpoint: parseGcsEndpoint('tcp-listen:127.0.0.1:0'), as: 'qgc' }] });
    const { createConnection } = await import('node:net');
    const port = d.services!.gcs[0]!.localPort;
    const peer = createConnection({ host: '127.0.0.1', port });
    await once(peer, 'data');
    const gone = once(peer, 'close');
    d.services!.applyTokens([]);
    await gone;
    const again = createConnection({ host: '127.0.0.1', port });
    await once(again, 'close');
    expect(d.hub.sessions.size).toBe(0);
  });
});

describe('dashboard sessions', () => {
  it('turns the page\'s token into an HttpOnly, Secure, SameSite=Strict cookie and drops it from the URL', async () => {
    const d = await deck({ tls: true, tokens: [{ name: 'tablet', role: 'pilot' }] });
    const page = await d.http('GET', `/?token=${d.tokens.tablet}&view=compact`);
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/?view=compact');
    const cookie = String(page.headers['set-cookie']);
    expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;]+; Path=/; Max-Age=\\d+; HttpOnly; SameSite=Strict; Secure$`));
    expect(cookie).not.toContain(d.tokens.tablet!);
    const session = cookie.split(';')[0]!;
    expect((await d.http('GET', '/v1/stats', { headers: { cookie: session } })).status).toBe(200);
    const ws = await d.connect('/v1/ws/mavlink', { headers: { cookie: session } });
    await ws.telemetry('HEARTBEAT');
    expect(d.hub.sessions.size).toBe(1);
    expect([...d.hub.sessions.values()][0]!.principal).toMatchObject({ name: 'tablet', role: 'pilot' });
    // A cookie someone made up, and one whose token was rotated, let nobody in.
    const forged = `${SESSION_COOKIE}=${Buffer.from('tablet').toString('base64url')}.${hashToken(d.tokens.tablet!).slice(0, 32)}.${Date.now() + 1e9}.AAAA`;
    expect((await d.http('GET', '/v1/stats', { headers: { cookie: forged } })).status).toBe(401);
    const gone = closed(ws.ws);
    d.services!.applyTokens([{ ...d.services!.tokens.byName('tablet')!, sha256: hashToken('new') }]);
    await gone;
    expect(await d.http('GET', '/v1/stats', { headers: { cookie: session } })).toMatchObject({ status: 401, body: { error: expect.stringMatching(/removed or rotated/) } });
  });

  it('ends a session with its token\'s expiry (an injected clock)', () => {
    let now = 5_000_000;
    const tokens = new TokenStore([entry('t', 'x', { expires: now + 1000 })], () => now);
    const sessions = new DashboardSessions(Buffer.alloc(32, 1), tokens, false, () => now);
    const cookie = sessions.issue(tokens.byName('t')!);
    expect(cookie).not.toMatch(/Secure/);
    expect(cookie).toMatch(/Max-Age=1;/);
    const value = cookie.split(';')[0]!;
    expect(sessions.lookup(value)).toMatchObject({ ok: true, principal: { name: 't' } });
    now += 1000;
    expect(sessions.lookup(value)).toMatchObject({ ok: false, reason: expect.stringMatching(/ended/) });
    expect(sessions.lookup(undefined)).toBeNull();
  });
});

describe('mavgate token list, remove, rotate, and --expires', () => {
  it('edits the config file, and a running gateway applies each change within seconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-tokens-'));
    const config = join(dir, 'gateway.yaml');
    writeFileSync(config, '# the field laptop\nstatus_interval_ms: 0\n');
    const alice = (await runMavgate(['token', 'add', '--role', 'pilot', '--expires', '12h', '--config', config, 'alice'])).stdout.trim();
    const bob = (await runMavgate(['token', 'add', '--role', 'observer', '--config', config, 'bob'])).stdout.trim();
    const expires = Date.parse(parse(readFileSync(config, 'utf8')).tokens[0].expires as string);
    expect(Math.abs(expires - (Date.now() + 12 * 3_600_000))).toBeLessThan(60_000);
    const list = await runMavgate(['token', 'list', '--config', config]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^name\s+role\s+expires/);
    expect(list.stdout).toMatch(/alice\s+pilot\s+\d{4}-\d\d-\d\dT/);
    expect(list.stdout).toMatch(/bob\s+observer\s+never/);
    expect(list.stdout).not.toContain(alice);

    const gw = MavgateProcess.start(['run', '--config', config]);
    processes.push(gw);
    await gw.waitFor(/clients: http:\/\/127\.0\.0\.1:(\d+)\//);
    const port = /clients: http:\/\/127\.0\.0\.1:(\d+)\//.exec(gw.stderr)![1];
    const open = async (token: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws/mavlink`, { headers: { authorization: `Bearer ${token}` } });
      await once(ws, 'open');
      return ws;
    };
    const aliceWs = await open(alice);
    const bobWs = await open(bob);
    // Waiting for the close from before the command runs: the gateway may apply it before the command has exited.
    const bobClosed = closed(bobWs);
    const rotated = await runMavgate(['token', 'rotate', '--config', config, 'bob']);
    expect(rotated.code).toBe(0);
    expect((await bobClosed).reason).toMatch(/"bob" was rotated/);
    await open(rotated.stdout.trim());
    expect(readFileSync(config, 'utf8')).toContain('# the field laptop');
    const aliceClosed = closed(aliceWs);
    expect((await runMavgate(['token', 'remove', '--config', config, 'alice'])).code).toBe(0);
    expect((await aliceClosed).reason).toMatch(/"alice" was removed/);
    await gw.waitFor(/tokens: removed alice; 1 client\(s\) disconnected/);
    expect(await runMavgate(['token', 'remove', '--config', config, 'alice'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no token named "alice" \(there are: bob\)/) });
    expect(await runMavgate(['token', 'add', '--config', config, 'bob'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/mavgate token rotate bob/) });
    expect(await runMavgate(['token', 'add', '--expires', 'tomorrow', '--config', config, 'carol'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--expires: "tomorrow" is not a duration/) });
  });
});
