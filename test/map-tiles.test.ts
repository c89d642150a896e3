/**
 * The dashboard's offline map: raster tiles from an MBTiles file in an approved directory,
 * read by mavgate and served from its own origin; refused elsewhere, and a file that is
 * not a raster MBTiles is named as such.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ResidencyRefusal } from '../src/residency/gate.js';
import { MapFileError, MapTiles } from '../src/server/map-tiles.js';
import { runMavgate } from './helpers/cli.js';
import { gateFor } from './helpers/gate.js';
import { makeMbtiles } from './helpers/mbtiles.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-map-'));
const opened: MapTiles[] = [];
afterAll(() => opened.forEach((m) => m.close()));

describe('the offline map (MBTiles)', () => {
  it('serves a tile by its web (XYZ) number from the file\'s TMS rows, and describes the map', () => {
    const file = join(dir, 'area.mbtiles');
    makeMbtiles(file, 'png', [[2, 1, 2, Buffer.from('tile z2 x1 tms2')]]);
    const map = MapTiles.open(gateFor({ approved_sinks: { directories: [dir] } }), file);
    opened.push(map);
    expect(map.description).toEqual({ name: 'test map', format: 'png', minzoom: 1, maxzoom: 18, bounds: null, attribution: 'made in a test' });
    // XYZ y = 2^z - 1 - TMS row: row 2 at zoom 2 is y 1.
    expect(map.tile(2, 1, 1)).toEqual({ body: Buffer.from('tile z2 x1 tms2'), type: 'image/png' });
    expect(map.tile(2, 1, 2)).toBeNull();
    expect(map.tile(2, 9, 1)).toBeNull();
  });

  it('is refused outside the approved directories, and a vector or non-MBTiles file is named for what it is', () => {
    const file = join(dir, 'vector.mbtiles');
    makeMbtiles(file, 'pbf', []);
    const approved = gateFor({ approved_sinks: { directories: [dir] } });
    expect(() => MapTiles.open(approved, file)).toThrow(/its tiles are pbf: the dashboard draws raster tiles/);
    writeFileSync(join(dir, 'notes.mbtiles'), 'not a database at all, just some text that is long enough to be read as a header '.repeat(10));
    expect(() => MapTiles.open(approved, join(dir, 'notes.mbtiles'))).toThrow(MapFileError);
    expect(() => MapTiles.open(approved, join(dir, 'none.mbtiles'))).toThrow(/no such file/);
    expect(() => MapTiles.open(gateFor({}), join(dir, 'area.mbtiles'))).toThrow(ResidencyRefusal);
  });

  it('mavgate run --map: exit 3 for a map outside the approved directories, exit 2 for a file that is not one', async () => {
    expect(await runMavgate(['run', '--map', join(dir, 'area.mbtiles')])).toMatchObject({ code: 3, stderr: expect.stringMatching(/residency policy refuses dashboard\.map/) });
    writeFileSync(join(dir, 'policy.yaml'), `approved_sinks: { directories: [${dir}] }\n`);
    expect(await runMavgate(['run', '--policy', join(dir, 'policy.yaml'), '--map', join(dir, 'vector.mbtiles')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/dashboard\.map: map .*vector\.mbtiles: its tiles are pbf/) });
  });
});
