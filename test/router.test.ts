/** Routing rules, on in-memory endpoints: the router itself opens nothing. */
import { describe, expect, it } from 'vitest';
import type { Frame, OutgoingMessage } from '../src/mavlink/index.js';
import { type EndpointRole, type RoutePort, Router } from '../src/router/router.js';
import { decodeAll, frame, registry } from './helpers/frames.js';

interface TestEndpoint {
  port: RoutePort;
  got: Buffer[];
}

function setup(options: { dedupWindowMs?: number; now?: () => number } = {}) {
  const router = new Router(registry, options);
  const endpoint = (id: string, role: EndpointRole = 'link'): TestEndpoint => {
    const got: Buffer[] = [];
    const port = router.attach({ id, role, send: (b) => (got.push(Buffer.from(b)), true) });
    return { port, got };
  };
  const send = (from: TestEndpoint, message: OutgoingMessage, header: { sysid: number; compid: number; seq?: number }): Frame => {
    const f = decodeAll(registry, frame(message, header)).frames[0]!;
    router.route(f, from.port);
    return f;
  };
  return { router, endpoint, send };
}

const heartbeatFrom = { name: 'HEARTBEAT', fields: { type: 2, autopilot: 3 } };
const command = (targetSystem: number, targetComponent: number) => ({
  name: 'COMMAND_LONG', fields: { target_system: targetSystem, target_component: targetComponent, command: 400, param1: 1 },
});

describe('Router', () => {
  it('sends broadcast telemetry everywhere but back where it came from', () => {
    const { endpoint, send } = setup();
    const [a, b, c] = [endpoint('a'), endpoint('b'), endpoint('c', 'client')];
    send(a, heartbeatFrom, { sysid: 1, compid: 1 });
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 1, 1]);
  });

  it('sends a targeted message only where its target was seen', () => {
    const { endpoint, send, router } = setup();
    const [vehicle1, vehicle2, gcs] = [endpoint('radio1'), endpoint('radio2'), endpoint('gcs', 'client')];
    send(vehicle1, heartbeatFrom, { sysid: 1, compid: 1 });
    send(vehicle2, heartbeatFrom, { sysid: 2, compid: 1 });
    vehicle1.got.length = vehicle2.got.length = 0;
    send(gcs, command(1, 1), { sysid: 255, compid: 190 });
    expect([vehicle1.got.length, vehicle2.got.length]).toEqual([1, 0]);
    send(gcs, command(2, 0), { sysid: 255, compid: 190 }); // component 0: any component of system 2
    expect([vehicle1.got.length, vehicle2.got.length]).toEqual([1, 1]);
    send(gcs, command(1, 99), { sysid: 255, compid: 190 }); // a component never seen
    send(gcs, command(7, 1), { sysid: 255, compid: 190 }); // a system never seen
    expect([vehicle1.got.length, vehicle2.got.length]).toEqual([1, 1]);
    expect(router.unroutable).toBe(2);
    send(gcs, command(0, 0), { sysid: 255, compid: 190 }); // broadcast
    expect([vehicle1.got.length, vehicle2.got.length]).toEqual([2, 2]);
  });

  it('reads the target from the payload bytes, treating a truncated target as 0 (broadcast)', () => {
    const { endpoint, send } = setup();
    const [v1, v2, gcs] = [endpoint('v1'), endpoint('v2'), endpoint('gcs', 'client')];
    send(v1, heartbeatFrom, { sysid: 1, compid: 1 });
    send(v2, heartbeatFrom, { sysid: 2, compid: 1 });
    // PARAM_REQUEST_LIST with all-zero payload: MAVLink 2 truncates it to one byte (target_system = 0).
    send(gcs, { name: 'PARAM_REQUEST_LIST', fields: {} }, { sysid: 255, compid: 190 });
    expect([v1.got.length, v2.got.length]).toEqual([2, 2]);
  });

  it('hands every endpoint the bytes as they arrived, and never decodes to route', () => {
    const { endpoint, router } = setup();
    const [a, b] = [endpoint('a'), endpoint('b')];
    const f = decodeAll(registry, frame(command(0, 0), { sysid: 255, compid: 190 })).frames[0]!;
    let decodes = 0;
    const original = f.decode.bind(f);
    f.decode = () => (decodes++, original());
    router.route(f, a.port);
    expect(b.got[0]!.equals(f.bytes())).toBe(true);
    expect(decodes).toBe(0);
  });

  it('forwards a frame from redundant links once, within the window, and learns the vehicle behind both', () => {
    let now = 1000;
    const { endpoint, router } = setup({ dedupWindowMs: 100, now: () => now });
    const [radio1, radio2, gcs] = [endpoint('radio1'), endpoint('radio2'), endpoint('gcs', 'client')];
    const seen: number[] = [];
    router.onFrame((f) => seen.push(f.seq));
    const hb = decodeAll(registry, frame(heartbeatFrom, { sysid: 1, compid: 1, seq: 5 })).frames[0]!;
    router.route(hb, radio1.port);
    router.route(hb, radio2.port);
    expect(gcs.got).toHaveLength(1);
    expect(seen).toEqual([5]);
    expect(radio2.port.duplicates).toBe(1);
    // Commands to the vehicle go out through both radios.
    const cmd = decodeAll(registry, frame(command(1, 1), { sysid: 255, compid: 190 })).frames[0]!;
    router.route(cmd, gcs.port);
    // Neither radio got the vehicle's heartbeat back: radio2 had heard the vehicle by the time radio1's copy could go to it.
    expect([radio1.got.length, radio2.got.length]).toEqual([1, 1]);
    expect(radio1.got[0]!.equals(cmd.bytes()) && radio2.got[0]!.equals(cmd.bytes())).toBe(true);
    now += 150;
    router.route(hb, radio2.port); // same bytes, outside the window: a new frame
    expect(gcs.got).toHaveLength(2);
    expect(radio1.got).toHaveLength(1); // the vehicle was seen behind radio1: never sent there
  });

  it('never sends a frame to an endpoint behind which its source was seen, and sends a new source on to a link that turns out not to hear it', () => {
    let now = 1000;
    const { endpoint, send } = setup({ dedupWindowMs: 100, now: () => now });
    const [radio, companion, gcs] = [endpoint('radio'), endpoint('companion'), endpoint('gcs', 'client')];
    const seqs = (e: TestEndpoint) => e.got.map((b) => b[4]);
    send(radio, heartbeatFrom, { sysid: 1, compid: 1, seq: 0 });
    // A new source's frame to another link waits one dedup window: that link may be a second radio to the same vehicle.
    expect([seqs(companion), seqs(gcs)]).toEqual([[], [0]]);
    now += 150;
    send(radio, heartbeatFrom, { sysid: 1, compid: 1, seq: 1 });
    // The companion never heard system 1: it gets both heartbeats, in order.
    expect(seqs(companion)).toEqual([0, 1]);
    send(companion, heartbeatFrom, { sysid: 1, compid: 1, seq: 2 }); // system 1 is behind the companion too, after all
    send(radio, heartbeatFrom, { sysid: 1, compid: 1, seq: 3 });
    expect(seqs(companion)).toEqual([0, 1]);
    expect(seqs(radio)).toEqual([]);
    expect(seqs(gcs)).toEqual([0, 1, 2, 3]);
  });

  it('counts loss per vehicle over the merged stream', () => {
    const { endpoint, send, router } = setup({ dedupWindowMs: 100 });
    const [r1, r2] = [endpoint('r1'), endpoint('r2')];
    send(r1, heartbeatFrom, { sysid: 1, compid: 1, seq: 0 });
    send(r2, heartbeatFrom, { sysid: 1, compid: 1, seq: 1 });
    send(r1, heartbeatFrom, { sysid: 1, compid: 1, seq: 3 });
    expect(router.sequence.sources()).toEqual([{ sysid: 1, compid: 1, received: 3, lost: 1, lossRate: 0.25 }]);
  });

  it('keeps relaying when a listener throws, and reports the error', () => {
    const errors: unknown[] = [];
    const router = new Router(registry, { onListenerError: (e) => errors.push(e) });
    const got: Buffer[] = [];
    const a = router.attach({ id: 'a', role: 'link', send: () => true });
    router.attach({ id: 'b', role: 'client', send: (x) => (got.push(x), true) });
    router.onFrame(() => { throw new Error('consumer bug'); });
    router.route(decodeAll(registry, frame(heartbeatFrom, { sysid: 1, compid: 1 })).frames[0]!, a);
    expect(got).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it('counts frames in and out, and sends the endpoint refused', () => {
    const router = new Router(registry);
    const a = router.attach({ id: 'a', role: 'link', send: () => true });
    const full = router.attach({ id: 'full', role: 'client', send: () => false });
    router.route(decodeAll(registry, frame(heartbeatFrom, { sysid: 1, compid: 1 })).frames[0]!, a);
    expect([a.framesIn, full.framesOut, full.sendDropped]).toEqual([1, 0, 1]);
    expect(() => router.attach({ id: 'a', role: 'link', send: () => true })).toThrow(/already attached/);
  });
});
