import { describe, expect, it } from 'vitest';
import { type VehicleEvent, VehicleStateStore } from '../src/router/vehicle-state.js';
import { modeName } from '../src/router/modes.js';
import { decodeAll, frame, registry } from './helpers/frames.js';

const hb = (fields: Record<string, number>, sysid = 1, compid = 1) =>
  decodeAll(registry, frame({ name: 'HEARTBEAT', fields: { type: 2, autopilot: 3, mavlink_version: 3, ...fields } }, { sysid, compid })).frames[0]!;

function store() {
  let now = 10_000;
  const events: VehicleEvent['type'][] = [];
  const s = new VehicleStateStore(() => now);
  s.events$.subscribe((e) => events.push(e.type));
  return { s, events, advance: (ms: number) => (now += ms) };
}

describe('VehicleStateStore', () => {
  it('reads the heartbeat status: type, autopilot, mode name, armed', () => {
    const { s, events } = store();
    s.observe(hb({ base_mode: 0x80 | 1, custom_mode: 4 }));
    const v = s.get(1, 1)!;
    expect(v.heartbeat).toEqual({ type: 2, autopilot: 3, baseMode: 129, customMode: 4, systemStatus: 0, armed: true, mode: 'GUIDED' });
    expect(v.isVehicle).toBe(true);
    expect(events).toEqual(['seen']);
    s.observe(hb({ base_mode: 1, custom_mode: 9 }));
    expect(s.get(1, 1)!.heartbeat!.mode).toBe('LAND');
    expect(events).toEqual(['seen', 'mode']);
  });

  it('keeps the status of a repeated heartbeat as it is (read in place, nothing new made), and sees any change', () => {
    const { s, events } = store();
    s.observe(hb({ base_mode: 0x80 | 1, custom_mode: 4, system_status: 4 }));
    const first = s.get(1, 1)!.heartbeat;
    s.observe(hb({ base_mode: 0x80 | 1, custom_mode: 4, system_status: 4 }));
    expect(s.get(1, 1)!.heartbeat).toBe(first);
    s.observe(hb({ base_mode: 0x80 | 1, custom_mode: 4, system_status: 5 }));
    expect(s.get(1, 1)!.heartbeat).not.toBe(first);
    expect(s.get(1, 1)!.heartbeat).toMatchObject({ systemStatus: 5, mode: 'GUIDED', armed: true });
    // The mode and arming did not change: no event beyond the first sighting.
    expect(events).toEqual(['seen']);
  });

  it('marks a vehicle lost after 3 s without a heartbeat, and back when one arrives', () => {
    const { s, events, advance } = store();
    s.observe(hb({}));
    advance(2900);
    s.checkHeartbeats();
    expect(s.get(1, 1)!.lost).toBe(false);
    advance(200);
    s.checkHeartbeats();
    expect(s.get(1, 1)!.lost).toBe(true);
    s.checkHeartbeats();
    expect(events).toEqual(['seen', 'lost']);
    s.observe(hb({}));
    expect(s.get(1, 1)!.lost).toBe(false);
    expect(events).toEqual(['seen', 'lost', 'back']);
  });

  it('keeps the newest message of each type with its arrival time and rate, decoded only when read', () => {
    const { s, advance } = store();
    for (let i = 0; i <= 10; i++) {
      s.observe(decodeAll(registry, frame({ name: 'ATTITUDE', fields: { time_boot_ms: i } })).frames[0]!);
      if (i < 10) advance(100);
    }
    const entry = s.get(1, 1)!.message('ATTITUDE')!;
    expect(entry.count).toBe(11);
    expect(entry.hz).toBeCloseTo(10, 5);
    expect(entry.lastAt - entry.firstAt).toBe(1000);
    expect(entry.fields()!.time_boot_ms).toBe(10);
  });

  it('does not count ground stations and peripherals as vehicles', () => {
    const { s } = store();
    s.observe(hb({ type: 6, autopilot: 8 }, 255, 190));
    s.observe(hb({}, 1, 1));
    expect(s.vehicles().map((v) => v.sysid)).toEqual([1]);
    expect(s.all()).toHaveLength(2);
  });
});

describe('modeName', () => {
  it('names ArduPilot modes per vehicle type, and PX4 modes', () => {
    expect(modeName(3, 2, 5)).toBe('LOITER');
    expect(modeName(3, 1, 10)).toBe('AUTO');
    expect(modeName(3, 10, 4)).toBe('HOLD');
    expect(modeName(3, 12, 19)).toBe('MANUAL');
    expect(modeName(12, 2, (4 << 16) | (4 << 24))).toBe('AUTO.MISSION');
    expect(modeName(12, 2, 3 << 16)).toBe('POSCTL');
    expect(modeName(3, 2, 99)).toBe('custom_mode 99');
  });

  it('names a custom_mode outside every table by its number, to the top of its 32 bits', () => {
    for (const big of [256, 2 ** 31 - 1, 2 ** 31, 3_000_000_005, 2 ** 32 - 1]) {
      expect(modeName(3, 2, big)).toBe(`custom_mode ${big}`);
      expect(modeName(3, 1, big)).toBe(`custom_mode ${big}`);
    }
    // PX4's main mode in bits 16-23, the AUTO sub-mode in bits 24-31; the low bits do not change the name.
    expect(modeName(12, 2, ((4 << 24) >>> 0) + (4 << 16) + 0x80)).toBe('AUTO.MISSION');
    expect(modeName(12, 2, 0xff << 16)).toBe(`custom_mode ${0xff << 16}`);
  });
});
