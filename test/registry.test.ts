import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as nodeMavlink from 'node-mavlink';
import { REGISTRY_DATA_PATH, registryRows, registrySource } from '../scripts/generate-registry.js';
import { crc16, DIALECTS, loadRegistry, UnknownDialectError } from '../src/mavlink/index.js';
import { HAS_CORPUS } from './helpers/corpus.js';

const registry = loadRegistry();
const DEFINITIONS = resolve(import.meta.dirname, '../../shared/mavlink-definitions');

describe('message registry', () => {
  it('holds every message of every dialect node-mavlink ships', () => {
    expect(registry.dialects).toEqual(expect.arrayContaining([...DIALECTS]));
    expect(registry.size).toBeGreaterThan(300);
    for (const name of ['HEARTBEAT', 'AUTOPILOT_VERSION', 'GLOBAL_POSITION_INT', 'AHRS2', 'UAVIONIX_ADSB_OUT_CFG', 'ICAROUS_HEARTBEAT', 'STORM32_GIMBAL_MANAGER_STATUS']) {
      expect(registry.byName(name), name).toBeDefined();
    }
  });

  it('gives msgid, name, crc_extra, lengths with and without extensions, and fields in wire order', () => {
    const hb = registry.byId(0)!;
    expect([hb.name, hb.crcExtra, hb.baseLength, hb.maxLength]).toEqual(['HEARTBEAT', 50, 9, 9]);
    expect(hb.fields.map((f) => `${f.type} ${f.name}@${f.offset}`)).toEqual([
      'uint32_t custom_mode@0', 'uint8_t type@4', 'uint8_t autopilot@5', 'uint8_t base_mode@6', 'uint8_t system_status@7', 'uint8_t mavlink_version@8',
    ]);
    const st = registry.byName('STATUSTEXT')!;
    expect([st.id, st.crcExtra, st.baseLength, st.maxLength]).toEqual([253, 83, 51, 54]);
    expect(st.fields.map((f) => [f.name, f.arrayLength, f.extension])).toEqual([['severity', 0, false], ['text', 50, false], ['id', 0, true], ['chunk_seq', 0, true]]);
  });

  it('lays out every message as MAVLink does: contiguous, base fields by size, extensions last', () => {
    for (const def of registry) {
      let offset = 0;
      let lastSize = 8;
      let inExtensions = false;
      for (const f of def.fields) {
        expect(f.offset, `${def.name}.${f.name}`).toBe(offset);
        offset += f.elementSize * Math.max(1, f.arrayLength);
        if (f.extension) inExtensions = true;
        else {
          expect(inExtensions, `${def.name}.${f.name} after extensions`).toBe(false);
          expect(f.elementSize, `${def.name}.${f.name} out of size order`).toBeLessThanOrEqual(lastSize);
          lastSize = f.elementSize;
        }
      }
      expect(offset).toBe(def.maxLength);
      expect(def.baseLength).toBeLessThanOrEqual(def.maxLength);
    }
  });

  it('is current with node-mavlink: the generated table matches, field by field, offsets included', () => {
    expect(readFileSync(REGISTRY_DATA_PATH, 'utf8'), 'run npm run generate after upgrading node-mavlink').toBe(registrySource(registryRows()));
    const sources = nodeMavlink as unknown as Record<string, { REGISTRY: Record<string, { MSG_ID: number; MSG_NAME: string; MAGIC_NUMBER: number; PAYLOAD_LENGTH: number; FIELDS: { source: string; offset: number; extension: boolean }[] }> }>;
    let count = 0;
    for (const dialect of DIALECTS) {
      for (const m of Object.values(sources[dialect]!.REGISTRY)) {
        const def = registry.byId(m.MSG_ID)!;
        expect([def.name, def.crcExtra, def.maxLength, def.dialect]).toEqual([m.MSG_NAME, m.MAGIC_NUMBER, m.PAYLOAD_LENGTH, dialect]);
        expect(def.fields.map((f) => [f.name, f.offset, f.extension])).toEqual(m.FIELDS.map((f) => [f.source, f.offset, f.extension]));
        count++;
      }
    }
    expect(registry.size).toBe(count);
  });

  it('takes the dialect set as a parameter, with what each dialect includes', () => {
    const minimal = loadRegistry(['minimal']);
    expect([...minimal].map((d) => d.name)).toEqual(['HEARTBEAT']);
    const common = loadRegistry(['common']);
    expect(common.byName('AUTOPILOT_VERSION')).toBeDefined(); // from standard
    expect(common.byName('HEARTBEAT')).toBeDefined(); // from minimal
    expect(common.byName('AHRS2')).toBeUndefined(); // ardupilotmega's
    expect(loadRegistry(['ardupilotmega']).byName('ATTITUDE')).toBeDefined();
    expect(loadRegistry(['common', 'minimal'])).toBe(common);
    expect(() => loadRegistry(['common', 'px5'])).toThrow(UnknownDialectError);
    expect(() => loadRegistry(['px5'])).toThrow('unknown MAVLink dialect "px5"; known dialects: minimal, standard');
  });
});

/** crc_extra as the MAVLink generator derives it from the XML: name, then each base field's type, name and array length. */
function crcExtraFromXml(name: string, fields: { type: string; name: string; arrayLength: number }[]): number {
  const size = (t: string) => ({ uint64_t: 8, int64_t: 8, double: 8, uint32_t: 4, int32_t: 4, float: 4, uint16_t: 2, int16_t: 2 } as Record<string, number>)[t] ?? 1;
  const ordered = [...fields].sort((a, b) => size(b.type) - size(a.type));
  let crc = crc16(Buffer.from(`${name} `));
  for (const f of ordered) {
    crc = crc16(Buffer.from(`${f.type} ${f.name} `), 0, undefined, crc);
    if (f.arrayLength) crc = crc16(Buffer.from([f.arrayLength]), 0, 1, crc);
  }
  return (crc & 0xff) ^ (crc >> 8);
}

describe.skipIf(!HAS_CORPUS)('message registry against the MAVLink XML', () => {
  it('has the crc_extra the XML definitions imply, for every message both know', () => {
    const mismatches: string[] = [];
    let compared = 0;
    for (const file of readdirSync(DEFINITIONS).filter((f) => f.endsWith('.xml'))) {
      const xml = readFileSync(resolve(DEFINITIONS, file), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
      for (const m of xml.matchAll(/<message id="(\d+)" name="(\w+)">([\s\S]*?)<\/message>/g)) {
        const def = registry.byId(Number(m[1]));
        if (!def || def.name !== m[2]) continue;
        const base = m[3]!.split('<extensions/>')[0]!;
        const fields = [...base.matchAll(/<field ([^>]*)>/g)].map((f) => {
          const [, type, length] = /type="(\w+)(?:\[(\d+)\])?"/.exec(f[1]!)!;
          const name = /name="(\w+)"/.exec(f[1]!)![1]!;
          return { type: type!.replace('_mavlink_version', ''), name, arrayLength: length ? Number(length) : 0 };
        });
        compared++;
        const expected = crcExtraFromXml(m[2]!, fields);
        if (expected !== def.crcExtra) mismatches.push(`${def.name} (${def.id}): XML ${expected}, registry ${def.crcExtra}`);
      }
    }
    expect(compared).toBeGreaterThan(250);
    expect(mismatches).toEqual([]);
  });
});

describe.skipIf(!HAS_CORPUS)('named enum values against the MAVLink XML', () => {
  it('match the values common.xml and minimal.xml give', async () => {
    const enums = await import('../src/mavlink/enums.js');
    const xml = ['minimal.xml', 'common.xml'].map((f) => readFileSync(resolve(DEFINITIONS, f), 'utf8')).join('\n');
    const prefixes: Record<string, string> = {
      MAV_TYPE: 'MAV_TYPE_', MAV_AUTOPILOT: 'MAV_AUTOPILOT_', MAV_MODE_FLAG: 'MAV_MODE_FLAG_', MAV_STATE: 'MAV_STATE_', MAV_RESULT: 'MAV_RESULT_',
      MAV_CMD: 'MAV_CMD_', MAV_DATA_STREAM: 'MAV_DATA_STREAM_', MAV_MISSION_RESULT: 'MAV_MISSION_', MAV_PARAM_TYPE: 'MAV_PARAM_TYPE_',
    };
    for (const [group, prefix] of Object.entries(prefixes)) {
      for (const [name, value] of Object.entries((enums as unknown as Record<string, Record<string, number>>)[group]!)) {
        const entry = new RegExp(`<entry value="(\\d+)" name="${prefix}${name}"`).exec(xml) ?? new RegExp(`<entry name="${prefix}${name}" value="(\\d+)"`).exec(xml);
        expect(entry, `${prefix}${name} in the XML`).not.toBeNull();
        expect(Number(entry![1]), `${prefix}${name}`).toBe(value);
      }
    }
  });
});
