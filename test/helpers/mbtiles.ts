/** Writing MBTiles files for tests, through the same SQLite mavgate reads them with. */
import { createRequire } from 'node:module';

interface Db { run(sql: string, values?: unknown[]): void; exec(sql: string): void; close(): void }
const { Database } = createRequire(import.meta.url)('node-sqlite3-wasm') as { Database: new (path: string) => Db };

/** An MBTiles file (the spec's tables) with `tiles` at [z, x, TMS row]. */
export function makeMbtiles(path: string, format: string, tiles: [number, number, number, Buffer][], zooms: [number, number] = [1, 18]): void {
  const db = new Database(path);
  db.exec('CREATE TABLE metadata (name text, value text); CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob);');
  for (const [name, value] of [['name', 'test map'], ['format', format], ['minzoom', String(zooms[0])], ['maxzoom', String(zooms[1])], ['attribution', 'made in a test']]) db.run('INSERT INTO metadata VALUES (?, ?)', [name, value]);
  for (const [z, x, y, data] of tiles) db.run('INSERT INTO tiles VALUES (?, ?, ?, ?)', [z, x, y, new Uint8Array(data)]);
  db.close();
}
