import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFINITIONS_DIR, ENUM_DATA_PATH, enumSource } from '../scripts/generate-enums.js';
import { toMavlink2Rest } from '../src/mavlink/mavlink2rest-json.js';
import { decodeAll, frame, heartbeat, registry } from './helpers/frames.js';

const one = (bytes: Buffer) => decodeAll(registry, bytes).frames[0]!;

describe('mavlink2rest JSON (0.11.x, as Cockpit reads it)', () => {
  it('renders HEARTBEAT as Cockpit expects: mavtype, enum names, base_mode bits', () => {
    expect(toMavlink2Rest(one(heartbeat(42, 1)))).toEqual({
      header: { system_id: 1, component_id: 1, sequence: 42 },
      message: {
        type: 'HEARTBEAT',
        custom_mode: 5,
        mavtype: { type: 'MAV_TYPE_QUADROTOR' },
        autopilot: { type: 'MAV_AUTOPILOT_ARDUPILOTMEGA' },
        base_mode: { bits: 81 },
        system_status: { type: 'MAV_STATE_ACTIVE' },
        mavlink_version: 3,
      },
    });
  });

  it('renders char[] as one-character strings, bitmask fields as bits, enum fields by name', () => {
    const text = toMavlink2Rest(one(frame({ name: 'STATUSTEXT', fields: { severity: 6, text: 'Hi' } })))!.message;
    expect(text.severity).toEqual({ type: 'MAV_SEVERITY_INFO' });
    expect(text.text).toHaveLength(50);
    expect((text.text as string[]).slice(0, 3)).toEqual(['H', 'i', '\u0000']);
    const sys = toMavlink2Rest(one(frame({ name: 'SYS_STATUS', fields: { onboard_control_sensors_present: 7, load: 250 } })))!.message;
    expect(sys.onboard_control_sensors_present).toEqual({ bits: 7 });
    expect(sys.load).toBe(250);
    const gps = toMavlink2Rest(one(frame({ name: 'GPS_RAW_INT', fields: { fix_type: 3 } })))!.message;
    expect(gps.fix_type).toEqual({ type: 'GPS_FIX_TYPE_3D_FIX' });
  });

  it('keeps a value the XML does not name as a number inside the enum object', () => {
    const m = toMavlink2Rest(one(frame({ name: 'HEARTBEAT', fields: { type: 250 } })))!.message;
    expect(m.mavtype).toEqual({ type: 250 });
  });

  it.skipIf(!existsSync(DEFINITIONS_DIR))('uses an enum table that is current with the MAVLink XML', () => {
    expect(readFileSync(ENUM_DATA_PATH, 'utf8'), 'run npx tsx scripts/generate-enums.ts').toBe(enumSource());
  });
});

describe('mavlink2rest JSON from clients', () => {
  it('reads what toMavlink2Rest writes, back to the same frame', async () => {
    const { fromMavlink2Rest } = await import('../src/mavlink/mavlink2rest-json.js');
    const { encodeFrame } = await import('../src/mavlink/index.js');
    for (const original of [heartbeat(3), frame({ name: 'STATUSTEXT', fields: { severity: 4, text: 'Low battery' } }), frame({ name: 'SYS_STATUS', fields: { onboard_control_sensors_present: 0x1fffff, voltage_battery: 12000 } })]) {
      const f = one(original);
      const json = JSON.parse(JSON.stringify(toMavlink2Rest(f)));
      const parsed = fromMavlink2Rest(json, registry);
      const again = encodeFrame(registry, { name: parsed.name, fields: parsed.fields }, { sysid: parsed.sysid!, compid: parsed.compid!, seq: f.seq });
      expect(again.equals(original)).toBe(true);
    }
  });

  it('takes a Cockpit-style COMMAND_LONG with integers for floats and enum names', async () => {
    const { fromMavlink2Rest } = await import('../src/mavlink/mavlink2rest-json.js');
    const parsed = fromMavlink2Rest({
      header: { system_id: 255, component_id: 240, sequence: 0 },
      message: { type: 'COMMAND_LONG', target_system: 1, target_component: 1, command: { type: 'MAV_CMD_COMPONENT_ARM_DISARM' }, confirmation: 0, param1: 1, param2: 0, param3: 0, param4: 0, param5: 0, param6: 0, param7: 0 },
    }, registry);
    expect(parsed).toMatchObject({ name: 'COMMAND_LONG', sysid: 255, compid: 240, fields: { command: 400, param1: 1 } });
  });

  it.each([
    [null, /expected a JSON object/],
    [{ header: {} }, /^message: missing/],
    [{ message: { type: 'NOPE' } }, /unknown message "NOPE"/],
    [{ message: { type: 'HEARTBEAT', mode: 1 } }, /HEARTBEAT\.mode: no such field; fields are custom_mode, mavtype/],
    [{ message: { type: 'HEARTBEAT', mavtype: { type: 'MAV_TYPE_SPACESHIP' } } }, /HEARTBEAT\.mavtype: "MAV_TYPE_SPACESHIP" is not a value of MAV_TYPE/],
    [{ message: { type: 'HEARTBEAT', autopilot: { bits: 3 } } }, /HEARTBEAT\.autopilot: is not a bitmask field/],
    [{ message: { type: 'STATUSTEXT', text: ['ab', 'c'] } }, /STATUSTEXT\.text: expected an array of one-character strings/],
  ])('refuses %j with an error naming what was wrong', async (json, reason) => {
    const { fromMavlink2Rest } = await import('../src/mavlink/mavlink2rest-json.js');
    expect(() => fromMavlink2Rest(json, registry)).toThrow(reason);
  });
});

describe('the vehicle tree (GET /v1/mavlink)', () => {
  it('lists systems, components and the newest message of each type with its status, and follows paths', async () => {
    const { VehicleStateStore } = await import('../src/router/vehicle-state.js');
    const { vehicleTree, followPath, TreePathError } = await import('../src/server/vehicle-tree.js');
    let now = Date.parse('2026-11-25T10:00:00Z');
    const state = new VehicleStateStore(() => now);
    state.observe(one(heartbeat(1)));
    now += 1000;
    state.observe(one(heartbeat(2)));
    state.observe(one(frame({ name: 'ATTITUDE', fields: { roll: 0.5 } }, { compid: 1 })));
    const tree = vehicleTree(state);
    const hb = followPath(tree, 'vehicles/1/components/1/messages/HEARTBEAT') as { message: Record<string, unknown>; status: { time: Record<string, unknown> } };
    expect(hb.message.mavtype).toEqual({ type: 'MAV_TYPE_QUADROTOR' });
    expect(hb.status.time).toEqual({ first_update: '2026-11-25T10:00:00.000Z', last_update: '2026-11-25T10:00:01.000Z', counter: 2, frequency: 1 });
    expect(followPath(tree, 'vehicles.1.components.1.messages.ATTITUDE.message.roll')).toBe(0.5);
    expect(Object.keys((tree.vehicles['1'] as { components: object }).components)).toEqual(['1']);
    expect(() => followPath(tree, 'vehicles/1/components/9')).toThrow(TreePathError);
    expect(() => followPath(tree, 'vehicles/1/components/9')).toThrow('no "9" in the vehicle tree (path vehicles/1/components/9)');
  });
});
