/**
 * What `mavgate export` writes, format by format, as text appended to named outputs; the
 * command does the file work. Every format streams: nothing grows with the recording
 * (CSV keeps one header per message type, GPX/KML follow one vehicle).
 */
import { type Fields, type Frame, frameRecord } from '../mavlink/index.js';

export const EXPORT_FORMATS = ['jsonl', 'csv', 'gpx', 'kml'] as const;
export type ExportFormatName = (typeof EXPORT_FORMATS)[number];

export interface ExportFormat {
  frame(frame: Frame, timeUs: number): void;
  /** Text to append to each output (by file name) since the last call. */
  take(): Map<string, string>;
  /** The closing text of each output. */
  finish(): Map<string, string>;
  summary(): Record<string, unknown>;
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
  };
}

/** A fixed-point integer as a decimal, exactly: 353632621, 7 → "35.3632621". */
export function fixed(value: number, decimals: number): string {
  const sign = value < 0 ? '-' : '';
  const digits = String(Math.abs(value)).padStart(decimals + 1, '0');
  return `${sign}${digits.slice(0, digits.length - decimals)}.${digits.slice(digits.length - decimals)}`;
}

interface TrackPoint { lat: string; lon: string; alt: string; time: string }

/** A vehicle's track from GLOBAL_POSITION_INT, values exact (degrees from 1e-7 integers, metres from millimetres). */
function trackFormat(file: string, sysid: number | null, header: () => string, point: (p: TrackPoint) => string, footer: () => string): ExportFormat {
  const out = new Outputs();
  let vehicle = sysid;
  let points = 0;
  const skipped = new Set<number>();
  out.add(file, header());
  return {
    frame(frame, timeUs) {
      if (frame.name !== 'GLOBAL_POSITION_INT') return;
      vehicle ??= frame.sysid;
      if (frame.sysid !== vehicle) {
        skipped.add(frame.sysid);
        return;
      }
      const f = frame.decode()!;
      out.add(file, point({ lat: fixed(f.lat as number, 7), lon: fixed(f.lon as number, 7), alt: fixed(f.alt as number, 3), time: isoMicros(timeUs) }));
      points++;
    },
    take: () => out.take(),
    finish: () => {
      out.add(file, footer());
      return out.take();
    },
    summary: () => ({ sysid: vehicle, points, ...(skipped.size ? { other_vehicles_skipped: [...skipped] } : {}) }),
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

export function kmlFormat(file: string, name: string, sysid: number | null): ExportFormat {
  return trackFormat(
    file, sysid,
    () => `<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document><name>${xml(name)}</name>\n<Placemark><name>${xml(name)}</name><LineString><altitudeMode>absolute</altitudeMode><coordinates>\n`,
    (p) => `${p.lon},${p.lat},${p.alt}\n`,
    () => '</coordinates></LineString></Placemark>\n</Document>\n</kml>\n',
  );
}
