/** Data classes, per-destination rules and redaction, end to end on real UDP destinations. */
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../src/gateway/gateway.js';
import { parseEndpoint } from '../src/links/endpoint.js';
import type { UdpLink } from '../src/links/udp-link.js';
import { type Fields, FrameDecoder } from '../src/mavlink/index.js';
import { ClassTable, DATA_CLASSES, defaultClassOf } from '../src/residency/data-classes.js';
import { EgressGate } from '../src/residency/gate.js';
import { PolicyError } from '../src/residency/policy.js';
import { parsePolicy } from '../src/residency/policy-parse.js';
import { registry } from './helpers/frames.js';
import { GroundStation } from './helpers/gcs.js';
import { until } from './helpers/wait.js';

describe('data classes', () => {
  it('gives every message of the registry a class', () => {
    const table = new ClassTable(registry);
    for (const def of registry) expect(DATA_CLASSES, def.name).toContain(table.classOf(def.id));
  });

  it('classifies as the residency rules need', () => {
    const expected: Record<string, string[]> = {
      position: ['GLOBAL_POSITION_INT', 'GPS_RAW_INT', 'LOCAL_POSITION_NED', 'HOME_POSITION', 'ADSB_VEHICLE', 'GPS2_RAW', 'AHRS2', 'GPS_INPUT', 'TERRAIN_REQUEST', 'GLOBAL_POSITION_INT_COV'],
      identity: ['AUTOPILOT_VERSION', 'OPEN_DRONE_ID_BASIC_ID', 'OPEN_DRONE_ID_LOCATION', 'OPEN_DRONE_ID_OPERATOR_ID'],
      imagery: ['CAMERA_INFORMATION', 'CAMERA_IMAGE_CAPTURED', 'VIDEO_STREAM_INFORMATION', 'DATA_TRANSMISSION_HANDSHAKE', 'ENCAPSULATED_DATA'],
      logs: ['LOG_ENTRY', 'LOG_DATA', 'LOG_REQUEST_LIST', 'FILE_TRANSFER_PROTOCOL', 'LOGGING_DATA'],
      mission: ['MISSION_ITEM_INT', 'MISSION_COUNT', 'MISSION_ACK', 'FENCE_POINT', 'RALLY_POINT'],
      parameters: ['PARAM_VALUE', 'PARAM_SET', 'PARAM_REQUEST_LIST', 'PARAM_EXT_VALUE'],
      control: ['COMMAND_LONG', 'COMMAND_INT', 'COMMAND_ACK', 'SET_MODE', 'MANUAL_CONTROL', 'RC_CHANNELS_OVERRIDE', 'SETUP_SIGNING', 'SET_POSITION_TARGET_GLOBAL_INT', 'REQUEST_DATA_STREAM'],
      health: ['HEARTBEAT', 'SYS_STATUS', 'ATTITUDE', 'BATTERY_STATUS', 'VFR_HUD', 'RADIO_STATUS', 'STATUSTEXT', 'RC_CHANNELS'],
    };
    for (const [cls, names] of Object.entries(expected)) {
      for (const name of names) {
        expect(registry.byName(name), name).toBeDefined();
        expect(defaultClassOf(name), name).toBe(cls);
      }
    }
  });

  it('lets a policy move a message to another class, and refuses an unknown message name', () => {
    const gate = new EgressGate(parsePolicy({ classes: { VFR_HUD: 'position' } }, 'p'));
    expect(gate.classTable(registry).classOf(registry.byName('VFR_HUD')!.id)).toBe('position');
    expect(() => new EgressGate(parsePolicy({ classes: { NO_SUCH: 'position' } }, 'p')).classTable(registry)).toThrow(/classes\.NO_SUCH: no such message/);
  });

  it('validates rules, naming the key', () => {
    expect(() => parsePolicy({ rules: [{ to: '127.0.0.1/32', classes: ['weather'] }] }, 'p')).toThrow(PolicyError);
    expect(() => parsePolicy({ rules: [{ to: '127.0.0.1/32', redact: { health: { grid_m: 10 } } }] }, 'p')).toThrow(/rules\[0\]\.redact\.health: grid_m applies to position only/);
    expect(() => parsePolicy({ rules: [{ to: 'everywhere' }] }, 'p')).toThrow(/rules\[0\]\.to: "everywhere" is not an address/);
  });
});

/** A UDP destination that decodes what it receives. */
async function destination() {
  const socket = createSocket('udp4');
  const frames: { name: string | null; fields: Fields | null }[] = [];
  const decoder = new FrameDecoder(registry, (f) => frames.push({ name: f.name, fields: f.decode() }));
  socket.on('message', (m) => decoder.push(m));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, frames, close: () => new Promise<void>((r) => socket.close(() => r())) };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('per-destination rules and redaction (real UDP destinations)', () => {
  it('coarsens positions and withholds classes for the destination the rule names, on a copy; others get the originals', async () => {
    const redacted = await destination();
    cleanup.push(redacted.close);
    const policy = parsePolicy({
      approved_sinks: { networks: [{ cidr: '127.0.0.0/8' }] },
      rules: [
        { to: '127.0.0.1/32', redact: { position: { grid_m: 1000 }, identity: 'drop' } },
      ],
    }, 'test policy');
    const gateway = new Gateway({
      links: [parseEndpoint('sim'), parseEndpoint(`udp:127.0.0.1:${redacted.port}`), parseEndpoint('udp-listen:127.0.0.1:0')],
      gate: new EgressGate(policy),
      sim: { rate: 4 },
    });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    const gcs = await GroundStation.open((gateway.links[2]!.link as UdpLink).localPort);
    cleanup.push(() => gcs.close());
    gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });

    const original = await gcs.next('GLOBAL_POSITION_INT');
    await until(() => redacted.frames.filter((f) => f.name === 'GLOBAL_POSITION_INT').length >= 3, 'positions at the redacted destination');
    // On a 1000 m grid: latitude a whole number of 1000/111320-degree steps (to the 1e-7 degree the field keeps).
    const steps = (latE7: number) => latE7 / 1e7 / (1000 / 111_320);
    for (const f of redacted.frames.filter((x) => x.name === 'GLOBAL_POSITION_INT')) {
      const n = steps(f.fields!.lat as number);
      expect(Math.abs(n - Math.round(n))).toBeLessThan(1e-4);
    }
    // The ground station and the gateway's own state keep full precision.
    expect(Math.abs((original.fields!.lat as number) - -353632620)).toBeLessThan(10_000);
    const kept = gateway.state.get(1, 1)!.message('GLOBAL_POSITION_INT')!.fields()!;
    expect(Math.abs(steps(kept.lat as number) - Math.round(steps(kept.lat as number)))).toBeGreaterThan(1e-4);
    // Health messages pass unchanged.
    expect(redacted.frames.some((f) => f.name === 'ATTITUDE')).toBe(true);
    expect(gateway.links[1]!.port.withheld).toBe(0);
  });

  it('withholds the classes a rule does not allow', async () => {
    const dest = await destination();
    cleanup.push(dest.close);
    const policy = parsePolicy({ rules: [{ to: '127.0.0.1/32', classes: ['health'] }] }, 'test policy');
    const gateway = new Gateway({ links: [parseEndpoint('sim'), parseEndpoint(`udp:127.0.0.1:${dest.port}`)], gate: new EgressGate(policy), sim: { rate: 4 } });
    await gateway.start();
    cleanup.push(() => gateway.stop());
    await until(() => gateway.links[1]!.port.withheld >= 5 && dest.frames.length >= 5, 'withheld positions and delivered health');
    const names = new Set(dest.frames.map((f) => f.name));
    expect(names.has('ATTITUDE')).toBe(true);
    for (const positional of ['GLOBAL_POSITION_INT', 'GPS_RAW_INT']) expect(names.has(positional), positional).toBe(false);
  });
});
