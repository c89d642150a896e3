/** What the dashboard makes loudest: lost vehicles, links down, failsafes, low batteries; frames failing as warnings. */
import { describe, expect, it } from 'vitest';
import { type AlarmVehicle, alarmsOf } from '../src/server/alarms.js';
import { FlightHistory } from '../src/router/flight-history.js';
import { Router } from '../src/router/router.js';
import { VehicleStateStore } from '../src/router/vehicle-state.js';
import { FrameDecoder } from '../src/mavlink/index.js';
import { frame, registry } from './helpers/frames.js';

const calm: AlarmVehicle = { sysid: 1, lost: false, heartbeat_age_ms: 200, failsafe: null, battery: { remaining: 80, voltage: 12.4, charge_state: null }, position: null };

describe('alarms', () => {
  it('a lost vehicle with its last known position, a failsafe, a battery below the warning level or in the autopilot\'s low state', () => {
    expect(alarmsOf([calm], [], 30)).toEqual([]);
    const lost = alarmsOf([{ ...calm, lost: true, heartbeat_age_ms: 12_400, position: { lat: -35.3632621, lon: 149.1652374, alt_rel: 18.4, at: Date.UTC(2026, 10, 25, 9, 30, 5) } }], [], 30);
    expect(lost).toEqual([{ id: 'lost-1', level: 'alarm', sysid: 1, text: 'VEHICLE 1 LOST: no heartbeat for 12 s; last known at -35.363262, 149.165237, 18 m above home, 09:30:05 UTC' }]);
    expect(alarmsOf([{ ...calm, failsafe: 'system status CRITICAL' }], [], 30)[0]!.text).toBe('VEHICLE 1 FAILSAFE: system status CRITICAL');
    expect(alarmsOf([{ ...calm, battery: { remaining: 24, voltage: 10.9, charge_state: null } }], [], 30)[0]!.text).toBe('VEHICLE 1 BATTERY LOW: 24% (warning below 30%), 10.9 V');
    expect(alarmsOf([{ ...calm, battery: { remaining: 24, voltage: 10.9, charge_state: null } }], [], 20)).toEqual([]);
    expect(alarmsOf([{ ...calm, battery: { remaining: 45, voltage: 10.2, charge_state: 3 } }], [], 30)[0]!.text).toBe('VEHICLE 1 BATTERY CRITICAL: 45%');
  });

  it('a link that is not up is an alarm; frames failing on a link are a warning', () => {
    const links = [
      { id: 'link1', endpoint: 'serial:/dev/ttyUSB0:57600', status: 'down', reason: 'waiting for /dev/ttyUSB0: not present (radio not plugged in?)', diagnosis: null },
      { id: 'link2', endpoint: 'udp-listen:127.0.0.1:14550', status: 'up', diagnosis: { kind: 'signature', message: 'frames arrive but fail their signature' } },
    ];
    expect(alarmsOf([], links, 30)).toEqual([
      { id: 'link-link1', level: 'alarm', text: 'LINK serial:/dev/ttyUSB0:57600 DOWN: waiting for /dev/ttyUSB0: not present (radio not plugged in?)' },
      { id: 'frames-link2', level: 'warning', text: 'LINK udp-listen:127.0.0.1:14550: frames arrive but fail their signature' },
    ]);
  });
});

describe('the timeline', () => {
  it('says when a vehicle enters and leaves a failsafe (system status CRITICAL), and its status texts by severity', () => {
    const router = new Router(registry);
    const state = new VehicleStateStore();
    router.onFrame((f) => state.observe(f));
    const history = new FlightHistory(router, state, registry);
    const port = router.attach({ id: 'link1', role: 'link', send: () => true });
    const decoder = new FrameDecoder(registry, (f) => router.route(f, port));
    const hb = (status: number, seq: number) => frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 81, custom_mode: 5, system_status: status, mavlink_version: 3 } }, { seq });
    decoder.push(hb(4, 0));
    decoder.push(hb(5, 1));
    decoder.push(frame({ name: 'STATUSTEXT', fields: { severity: 1, text: 'Radio Failsafe' } }, { seq: 2 }));
    decoder.push(hb(4, 3));
    expect(history.events().map((e) => [e.kind, e.severity, e.text])).toEqual([
      ['seen', 6, 'heard: LOITER, disarmed'],
      ['failsafe', 1, 'FAILSAFE: system status CRITICAL'],
      ['text', 1, 'Radio Failsafe'],
      ['failsafe', 5, 'failsafe cleared'],
    ]);
    history.stop();
  });

  it('tells mode changes faster than a pilot makes them as one event with their count and the newest mode, and a pilot\'s own changes one by one', () => {
    let now = 1_000_000;
    const router = new Router(registry);
    const state = new VehicleStateStore(() => now);
    router.onFrame((f) => state.observe(f));
    const history = new FlightHistory(router, state, registry, () => now);
    const port = router.attach({ id: 'link1', role: 'link', send: () => true });
    const decoder = new FrameDecoder(registry, (f) => router.route(f, port));
    let seq = 0;
    // ArduCopter: custom_mode 0 STABILIZE, 4 GUIDED, 5 LOITER, 6 RTL.
    const hb = (mode: number) => decoder.push(frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: 81, custom_mode: mode, system_status: 4, mavlink_version: 3 } }, { seq: seq++ & 255 }));
    hb(0);
    now += 5_000;
    hb(4);
    const seenUpTo = history.events().at(-1)!.seq;
    // A heartbeat whose mode changes on every frame, 2,000 of them in 1.6 s.
    for (let i = 0; i < 2_000; i++) {
      now += 0.8;
      hb(i % 2 === 0 ? 5 : 6);
    }
    const flood = history.events(seenUpTo);
    expect(flood.map((e) => [e.kind, e.text])).toEqual([['mode', 'mode GUIDED → RTL (2000 changes in 2 s)']]);
    expect(history.events().map((e) => e.kind)).toEqual(['seen', 'mode', 'mode']);
    // A pilot's change seconds later is its own event again, and a reader that saw the flood sees only it.
    now += 3_000;
    hb(0);
    expect(history.events(flood[0]!.seq).map((e) => e.text)).toEqual(['mode RTL → STABILIZE']);
    // A flood that goes on is one event per 10 s, each with the mode at its end.
    for (let i = 0; i < 30_000; i++) {
      now += 1;
      hb(i % 2 === 0 ? 5 : 6);
    }
    expect(history.events(flood[0]!.seq).map((e) => e.text)).toEqual([
      'mode RTL → STABILIZE',
      'mode STABILIZE → RTL (10000 changes in 10 s)',
      'mode RTL → RTL (10000 changes in 10 s)',
      'mode RTL → RTL (10000 changes in 10 s)',
    ]);
    // A heartbeat that flaps its arming and its mode together: the first change of each told alone, then two runs, each one event.
    now += 60_000;
    const both = history.events().at(-1)!.seq;
    for (let i = 0; i < 1_000; i++) {
      now += 1;
      decoder.push(frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, base_mode: i % 2 === 0 ? 209 : 81, custom_mode: i % 2 === 0 ? 5 : 6, system_status: 4, mavlink_version: 3 } }, { seq: seq++ & 255 }));
    }
    expect(history.events(both).map((e) => [e.kind, e.text])).toEqual([
      ['arming', 'ARMED'],
      ['mode', 'mode RTL → LOITER'],
      ['arming', 'disarmed (999 changes in 1 s)'],
      ['mode', 'mode LOITER → RTL (999 changes in 1 s)'],
    ]);
    history.stop();
  });
});
