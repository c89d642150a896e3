/**
 * What `mavgate export` writes, format by format, as text appended to named outputs; the
 * command does the file work. Every format streams: nothing grows with the recording
 * (CSV keeps one header per message type, GPX/KML follow one vehicle).
 */
import { type Fields, type Frame, frameRecord } from '../mavlink/index.js';
import { hasFix } from '../router/flight-history.js';

export const EXPORT_FORMATS = ['jsonl', 'csv', 'gpx', 'kml'] as const;
export type ExportFormatName = (typeof EXPORT_FORMATS)[number];

export interface ExportFormat {
  frame(frame: Frame, timeUs: number): void;
  /** Text to append to each output (by file name) since the last call. */
  take(): Map<string, string>;
  /** The closing text of each output. */
  finish(): Map<string, string>;
  summary(): Record<string, unknown>;
  /** Why the output is not what was asked for (nothing matched), or null. */
  problem(): string | null;
}

class Outputs {
  private pending = new Map<string, string[]>();

  add(name: string, text: string): void {
    let list = this.pending.get(name);
    if (!list) this.pending.set(name, (list = []));
    list.push(text);
  }

  take(): Map<string, string> {
    const out = new Map([...this.pending].map(([name, parts]) => [name, parts.join('')]));
    this.pending = new Map();
    return out;
  }
}

function noFrames(messages: ReadonlySet<string> | null): string {
  return messages ? `no ${[...messages].join(' or ')} frame in the recording` : 'no frame in the recording';
}

/** JSON Lines, one frame per line, exactly as `mavgate decode` prints them. */
export function jsonlFormat(file: string, messages: ReadonlySet<string> | null): ExportFormat {
  const out = new Outputs();
  let frames = 0;
  return {
    frame(frame, timeUs) {
      if (messages && !messages.has(frame.name ?? '')) return;
      out.add(file, `${JSON.stringify(frameRecord(frame, timeUs))}\n`);
      frames++;
    },
    take: () => out.take(),
    finish: () => out.take(),
    summary: () => ({ frames }),
    problem: () => (frames > 0 ? null : noFrames(messages)),
  };
}

function csvCell(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function isoMicros(timeUs: number): string {
  const iso = new Date(Math.floor(timeUs / 1000)).toISOString();
  return `${iso.slice(0, 23)}${String(timeUs % 1000).padStart(3, '0')}Z`;
}

/** One CSV per message type (`ATTITUDE.csv`), one column per field, array fields one column per element. */
export function csvFormat(messages: ReadonlySet<string> | null): ExportFormat {
  const out = new Outputs();
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  return {
    frame(frame, timeUs) {
      const def = frame.message;
      if (!def || (messages && !messages.has(def.name))) return;
      const fields = frame.decode() as Fields;
      const file = `${def.name}.csv`;
      if (!seen.has(file)) {
        seen.add(file);
        const columns = def.fields.flatMap((f) => (f.arrayLength > 0 && f.type !== 'char' ? Array.from({ length: f.arrayLength }, (_, i) => `${f.name}[${i}]`) : [f.name]));
        out.add(file, `time_us,time,sysid,compid,${columns.join(',')}\n`);
      }
      const cells = def.fields.flatMap((f) => {
        const v = fields[f.name];
        return Array.isArray(v) ? v.map(csvCell) : [csvCell(v)];
      });
      out.add(file, `${timeUs},${isoMicros(timeUs)},${frame.sysid},${frame.compid},${cells.join(',')}\n`);
      counts.set(def.name, (counts.get(def.name) ?? 0) + 1);
    },
    take: () => out.take(),
    finish: () => out.take(),
    summary: () => ({ files: Object.fromEntries([...counts].map(([name, n]) => [`${name}.csv`, n])) }),
    problem: () => (counts.size > 0 ? null : noFrames(messages)),
  };
}

/** A fixed-point integer as a decimal, exactly: 353632621, 7 → "35.3632621". */
export function fixed(value: number, decimals: number): string {
  const sign = value < 0 ? '-' : '';
  const digits = String(Math.abs(value)).padStart(decimals + 1, '0');
  return `${sign}${digits.slice(0, digits.length - decimals)}.${digits.slice(digits.length - decimals)}`;
}

interface TrackPoint { lat: string; lon: string; alt: string; time: string }

/**
 * A vehicle's track from GLOBAL_POSITION_INT, values exact (degrees from 1e-7 integers,
 * metres from millimetres). Positions without a fix are skipped: at 0,0, or while the
 * vehicle's newest GPS_RAW_INT reports less than a 2D fix (mapping tools would draw a line
 * across the globe to them).
 */
function trackFormat(file: string, sysid: number | null, header: () => string, point: (p: TrackPoint) => string, footer: () => string): ExportFormat {
  const out = new Outputs();
  let vehicle = sysid;
  let points = 0;
  let noFix = 0;
  const skipped = new Set<number>();
  const fixOf = new Map<number, number>();
  out.add(file, header());
  return {
    frame(frame, timeUs) {
      if (frame.name === 'GPS_RAW_INT') {
        fixOf.set(frame.sysid, frame.decode()!.fix_type as number);
        return;
      }
      if (frame.name !== 'GLOBAL_POSITION_INT') return;
      const f = frame.decode()!;
      const lat = f.lat as number;
      const lon = f.lon as number;
      const fix = hasFix(lat, lon, fixOf.get(frame.sysid));
      vehicle ??= frame.sysid;
      if (frame.sysid !== vehicle) {
        skipped.add(frame.sysid);
        return;
      }
      if (!fix) {
        noFix++;
        return;
      }
      out.add(file, point({ lat: fixed(lat, 7), lon: fixed(lon, 7), alt: fixed(f.alt as number, 3), time: isoMicros(timeUs) }));
      points++;
    },
    take: () => out.take(),
    finish: () => {
      out.add(file, footer());
      return out.take();
    },
    summary: () => ({ sysid: vehicle, points, ...(noFix ? { no_fix_skipped: noFix } : {}), ...(skipped.size ? { other_vehicles_skipped: [...skipped] } : {}) }),
    problem() {
      if (points > 0) return null;
      const others = [...skipped].filter((s) => s !== vehicle);
      if (sysid !== null && others.length > 0) return `no position from system ${sysid}; the recording has positions from system ${others.join(', ')} (--sysid)`;
      if (noFix > 0) return `none of the ${noFix} GLOBAL_POSITION_INT of system ${vehicle} has a GPS fix: no track to draw`;
      return sysid !== null ? `no position from system ${sysid} (GLOBAL_POSITION_INT)` : 'no position (GLOBAL_POSITION_INT) in the recording: no track to draw';
    },
  };
}

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function gpxFormat(file: string, name: string, sysid: number | null): ExportFormat {
  return trackFormat(
    file, sysid,
    () => `<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="mavgate" xmlns="http://www.topografix.com/GPX/1/1">\n<trk><name>${xml(name)}</name><trkseg>\n`,
    (p) => `<trkpt lat="${p.lat}" lon="${p.lon}"><ele>${p.alt}</ele><time>${p.time}</time></trkpt>\n`,
    () => '</trkseg></trk>\n</gpx>\n',
  );
}

/**
 * KML with time: a gx:Track (Google Earth's time slider, GDAL's LIBKML driver), one
 * `<when>` then its `<gx:coord>` per point, as GPSBabel and flight-log tools write them, so
 * the file streams.
 */
export function kmlFormat(file: string, name: string, sysid: number | null): ExportFormat {
  return trackFormat(
    file, sysid,
    () => `<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">\n<Document><name>${xml(name)}</name>\n<Placemark><name>${xml(name)}</name><gx:Track><altitudeMode>absolute</altitudeMode>\n`,
    (p) => `<when>${p.time}</when><gx:coord>${p.lon} ${p.lat} ${p.alt}</gx:coord>\n`,
    () => '</gx:Track></Placemark>\n</Document>\n</kml>\n',
  );
}
