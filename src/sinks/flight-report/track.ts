/**
 * The vehicle's track, drawn to scale without a map: points kept at least `spacing`
 * metres apart (the spacing doubles when they outgrow the limit, so a day's flying costs
 * the same as a minute's), projected onto a local plane around the flying area, and
 * drawn as SVG with a north arrow, a scale bar, home, each take-off and landing, and the
 * line coloured by altitude or by speed.
 */

export interface TrackPoint {
  t: number;
  lat: number;
  lon: number;
  /** Metres above home. */
  alt: number;
  /** Ground speed, m/s. */
  speed: number;
}

export interface Place {
  lat: number;
  lon: number;
}

/** The mean Earth radius (IUGG), metres. */
export const EARTH_RADIUS_M = 6_371_008.8;

/** Great-circle distance in metres. */
export function haversine(a: Place, b: Place): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

export class TrackCollector {
  readonly points: TrackPoint[] = [];
  // A tenth of a metre to start with: a hovering vehicle or a rover in a yard still draws a line.
  private spacing = 0.1;

  constructor(private readonly limit = 4000) {}

  add(p: TrackPoint): void {
    const last = this.points.at(-1);
    if (last && haversine(last, p) < this.spacing) {
      // Keep the highest and fastest moments visible even between kept points.
      if (p.alt > last.alt || p.speed > last.speed) Object.assign(last, { alt: Math.max(last.alt, p.alt), speed: Math.max(last.speed, p.speed) });
      return;
    }
    this.points.push(p);
    if (this.points.length > this.limit) this.thin();
  }

  private thin(): void {
    this.spacing *= 2;
    const kept: TrackPoint[] = [this.points[0]!];
    for (const p of this.points.slice(1)) if (haversine(kept.at(-1)!, p) >= this.spacing) kept.push(p);
    this.points.splice(0, this.points.length, ...kept);
  }
}

const WIDTH = 820;
const HEIGHT = 560;
const MARGIN = 40;
/** viridis, 9 stops: colour-blind safe, prints in grey as a ramp. */
const RAMP = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

export function rampColour(x: number): string {
  const f = Math.max(0, Math.min(1, x)) * (RAMP.length - 1);
  const i = Math.floor(f);
  if (i >= RAMP.length - 1) return RAMP.at(-1)!;
  const mix = (a: string, b: string, k: number) => {
    const ca = Number.parseInt(a.slice(1), 16);
    const cb = Number.parseInt(b.slice(1), 16);
    const ch = (s: number) => Math.round(((ca >> s) & 255) * (1 - k) + ((cb >> s) & 255) * k);
    return `#${((ch(16) << 16) | (ch(8) << 8) | ch(0)).toString(16).padStart(6, '0')}`;
  };
  return mix(RAMP[i]!, RAMP[i + 1]!, f - i);
}

function niceLength(max: number): number {
  const p = 10 ** Math.floor(Math.log10(max));
  return [5, 2, 1].map((m) => m * p).find((l) => l <= max) ?? p;
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export interface TrackMarks {
  home: Place | null;
  takeoffs: Place[];
  landings: Place[];
}

/** The track as an SVG drawing (one layer coloured by altitude, one by speed), or null with no position at all. */
export function trackSvg(points: readonly TrackPoint[], marks: TrackMarks): string | null {
  const places: Place[] = [...points, ...(marks.home ? [marks.home] : []), ...marks.takeoffs, ...marks.landings];
  if (places.length === 0) return null;
  const lat0 = places.reduce((s, p) => s + p.lat, 0) / places.length;
  const lon0 = places.reduce((s, p) => s + p.lon, 0) / places.length;
  const k = (Math.PI / 180) * EARTH_RADIUS_M;
  const east = (p: Place) => (p.lon - lon0) * Math.cos((lat0 * Math.PI) / 180) * k;
  const north = (p: Place) => (p.lat - lat0) * k;
  const xs = places.map(east);
  const ys = places.map(north);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // One scale for both axes: metres per pixel.
  const scale = Math.max((maxX - minX) / (WIDTH - 2 * MARGIN), (maxY - minY) / (HEIGHT - 2 * MARGIN), 0.05);
  const ox = MARGIN + (WIDTH - 2 * MARGIN - (maxX - minX) / scale) / 2;
  const oy = MARGIN + (HEIGHT - 2 * MARGIN - (maxY - minY) / scale) / 2;
  const px = (p: Place) => (ox + (east(p) - minX) / scale).toFixed(1);
  const py = (p: Place) => (HEIGHT - oy - (north(p) - minY) / scale).toFixed(1);

  const layer = (name: 'altitude' | 'speed', value: (p: TrackPoint) => number, unit: string) => {
    const vs = points.map(value);
    const lo = Math.min(...vs);
    const hi = Math.max(...vs);
    const bin = (v: number) => (hi > lo ? Math.round(((v - lo) / (hi - lo)) * 31) : 0);
    // Runs of one colour are one polyline.
    const lines: string[] = [];
    for (let i = 1; i < points.length;) {
      const b = bin(vs[i]!);
      const run = [points[i - 1]!, points[i]!];
      let j = i + 1;
      while (j < points.length && bin(vs[j]!) === b) run.push(points[j++]!);
      lines.push(`<polyline stroke="${rampColour(b / 31)}" points="${run.map((p) => `${px(p)},${py(p)}`).join(' ')}"/>`);
      i = j;
    }
    const stops = RAMP.map((c, i) => `<stop offset="${(i / (RAMP.length - 1)).toFixed(3)}" stop-color="${c}"/>`).join('');
    const legend = points.length === 0 ? '' : `<g class="legend" transform="translate(${WIDTH - 230},${HEIGHT - 30})"><defs><linearGradient id="ramp-${name}">${stops}</linearGradient></defs>`
      + `<rect width="120" height="10" fill="url(#ramp-${name})"/><text x="-6" y="9" text-anchor="end">${lo.toFixed(1)}</text><text x="126" y="9">${hi.toFixed(1)} ${unit}</text></g>`;
    return `<g class="layer by-${name}"><g fill="none" stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round">${lines.join('')}</g>${legend}</g>`;
  };

  const bar = niceLength((WIDTH - 2 * MARGIN) * scale * 0.25);
  const barPx = bar / scale;
  const barText = bar >= 1000 ? `${bar / 1000} km` : `${bar} m`;
  const marker = (p: Place, shape: string, label: string, cls: string) => `<g class="mark ${cls}" transform="translate(${px(p)},${py(p)})">${shape}<text x="8" y="-8">${escape(label)}</text></g>`;
  const marksSvg = [
    ...marks.takeoffs.map((p, i) => marker(p, '<path d="M0,-7 L6,5 L-6,5 Z"/>', `take-off ${i + 1}`, 'takeoff')),
    ...marks.landings.map((p, i) => marker(p, '<path d="M0,7 L6,-5 L-6,-5 Z"/>', `landing ${i + 1}`, 'landing')),
    ...(marks.home ? [marker(marks.home, '<rect x="-6" y="-6" width="12" height="12"/>', 'home', 'home')] : []),
  ].join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="the vehicle's track, to scale">`
    + `<rect class="ground" width="${WIDTH}" height="${HEIGHT}"/>`
    + layer('altitude', (p) => p.alt, 'm') + layer('speed', (p) => p.speed, 'm/s') + marksSvg
    + `<g class="north" transform="translate(${WIDTH - 40},50)"><path d="M0,-26 L9,8 L0,2 L-9,8 Z"/><text y="24" text-anchor="middle">N</text></g>`
    + `<g class="scale" transform="translate(${MARGIN},${HEIGHT - 24})"><path d="M0,-6 V0 H${barPx.toFixed(1)} V-6"/><text x="${(barPx / 2).toFixed(1)}" y="-9" text-anchor="middle">${barText}</text></g>`
    + '</svg>';
}
