/**
 * An offline background map for the dashboard's track: raster tiles from an MBTiles file
 * the operator provides (QGIS, MOBAC, gdal_translate make them), in a directory the
 * residency policy approves, read by mavgate and served from its own origin. No tile
 * server, nothing fetched from anywhere: it works with no network at all.
 *
 * SQLite is read through node-sqlite3-wasm (SQLite compiled to WebAssembly, reading the
 * file with node:fs): nothing to compile on a field laptop, where better-sqlite3 would
 * need a C++ toolchain to build.
 */
import { existsSync, rmdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { assertGrant, type DirectoryGrant, type EgressGate, releaseGrant } from '../residency/gate.js';

export class MapFileError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`map ${file}: ${reason}`);
    this.name = 'MapFileError';
  }
}

export interface MapDescription {
  name: string;
  format: string;
  minzoom: number;
  maxzoom: number;
  /** west, south, east, north (degrees), when the file says. */
  bounds: [number, number, number, number] | null;
  attribution: string | null;
}

const TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };

interface SqliteDatabase {
  get(sql: string, values?: unknown[]): Record<string, unknown> | null;
  close(): void;
}

export class MapTiles {
  private constructor(private readonly db: SqliteDatabase, readonly description: MapDescription, private readonly type: string, private readonly grant: DirectoryGrant) {}

  /** Opens `file` read-only, with a directory grant for where it lies; MapFileError when it is not a raster MBTiles. */
  static open(gate: EgressGate, file: string): MapTiles {
    const grant = gate.grantDirectory('dashboard.map', dirname(file));
    assertGrant(grant, 'directory');
    const path = join(grant.path, basename(file));
    if (!existsSync(path) || !statSync(path).isFile()) throw new MapFileError(file, 'no such file');
    // The WebAssembly SQLite locks with a directory beside the file: one left by a crash would block every read.
    const lock = `${path}.lock`;
    if (existsSync(lock) && statSync(lock).isDirectory()) rmdirSync(lock);
    const { Database } = createRequire(import.meta.url)('node-sqlite3-wasm') as { Database: new (file: string, options: { readOnly: boolean; fileMustExist: boolean }) => SqliteDatabase };
    let db: SqliteDatabase;
    const metadata = new Map<string, string>();
    try {
      db = new Database(path, { readOnly: true, fileMustExist: true });
      for (const name of ['name', 'format', 'minzoom', 'maxzoom', 'bounds', 'attribution']) {
        const row = db.get('SELECT value FROM metadata WHERE name = ?', [name]);
        if (row) metadata.set(name, String(row.value));
      }
      db.get('SELECT 1 FROM tiles LIMIT 1');
    } catch (err) {
      throw new MapFileError(file, `not an MBTiles file (a SQLite database with metadata and tiles tables): ${(err as Error).message}`);
    }
    const format = (metadata.get('format') ?? 'png').toLowerCase();
    const type = TYPES[format];
    if (!type) {
      db.close();
      throw new MapFileError(file, `its tiles are ${format}: the dashboard draws raster tiles (png, jpg, webp); export the map as raster MBTiles`);
    }
    const zooms = db.get('SELECT MIN(zoom_level) AS min, MAX(zoom_level) AS max FROM tiles');
    const bounds = metadata.get('bounds')?.split(',').map(Number);
    return new MapTiles(db, {
      name: metadata.get('name') ?? basename(file),
      format,
      minzoom: Number(metadata.get('minzoom') ?? zooms?.min ?? 0),
      maxzoom: Number(metadata.get('maxzoom') ?? zooms?.max ?? 0),
      bounds: bounds?.length === 4 && bounds.every(Number.isFinite) ? bounds as [number, number, number, number] : null,
      attribution: metadata.get('attribution') ?? null,
    }, type, grant);
  }

  /** The tile at z/x/y (XYZ, as web maps number them; MBTiles rows count from the south), or null. */
  tile(z: number, x: number, y: number): { body: Buffer; type: string } | null {
    // A policy reloaded since that no longer approves the map's directory: no more tiles from it.
    try {
      assertGrant(this.grant, 'directory');
    } catch {
      return null;
    }
    if (![z, x, y].every(Number.isInteger) || z < 0 || z > 30 || x < 0 || y < 0 || x >= 2 ** z || y >= 2 ** z) return null;
    const row = this.db.get('SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?', [z, x, 2 ** z - 1 - y]);
    const data = row?.tile_data;
    return data instanceof Uint8Array ? { body: Buffer.from(data.buffer, data.byteOffset, data.byteLength), type: this.type } : null;
  }

  close(): void {
    releaseGrant(this.grant);
    this.db.close();
  }
}
