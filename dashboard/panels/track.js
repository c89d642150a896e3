// The vehicles' tracks to scale (Web Mercator, north up): a scale bar, a north arrow, home
// and each vehicle's current position; under them, when the operator gave mavgate an
// MBTiles file, its map tiles, fetched from mavgate like everything else on this page.
import { getImage } from '../lib/api.js';

const COLOURS = ['#1565c0', '#6a1b9a', '#00838f', '#ef6c00'];
const TILE = 256;
const PADDING = 28;
const MAX_ZOOM = 20;

/** Web Mercator pixels at zoom 0 (a 256-pixel world). */
function project(lat, lon) {
  const s = Math.sin((Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180);
  return { x: ((lon + 180) / 360) * TILE, y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * TILE };
}

const tiles = new Map();
let redraw = () => {};

/** A map tile when it has arrived (asked for once; the page draws again when it comes). */
function tile(z, x, y) {
  const key = `${z}/${x}/${y}`;
  if (!tiles.has(key)) {
    tiles.set(key, null);
    getImage(`/v1/map/${key}`).then((image) => {
      tiles.set(key, image);
      if (image) redraw();
    }).catch(() => {});
  }
  return tiles.get(key);
}

function niceLength(maxMetres) {
  const p = 10 ** Math.floor(Math.log10(maxMetres));
  return [5, 2, 1].map((m) => m * p).find((l) => l <= maxMetres) ?? p;
}

/** `vehicles`: { sysid, track: [[at, lat, lon, alt]], home, position }; `map`: the background's description or null. */
export function drawTracks(vehicles, map) {
  const canvas = document.getElementById('track');
  redraw = () => drawTracks(vehicles, map);
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 480;
  const cssHeight = Math.round(cssWidth * 0.75);
  if (canvas.width !== Math.round(cssWidth * ratio)) {
    canvas.width = Math.round(cssWidth * ratio);
    canvas.height = Math.round(cssHeight * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);
  const points = vehicles.flatMap((v) => [
    ...v.track.map((p) => ({ lat: p[1], lon: p[2] })),
    ...(v.home ? [v.home] : []),
    ...(v.position ? [v.position] : []),
  ]);
  document.getElementById('track-note').textContent = map
    ? `map: ${map.name}${map.attribution ? ` (${map.attribution})` : ''}, from a file mavgate reads; nothing is fetched from anywhere else`
    : 'no background map (mavgate run --map FILE.mbtiles); nothing is fetched from anywhere';
  if (points.length === 0) return;
  const projected = points.map((p) => project(p.lat, p.lon));
  const xs = projected.map((p) => p.x);
  const ys = projected.map((p) => p.y);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const centre = { x: (minX + maxX) / 2, y: (minY + maxY) / 2 };
  // Fit the track with padding, no closer than ~50 m across.
  const span = Math.max((maxX - minX) / (cssWidth - 2 * PADDING), (maxY - minY) / (cssHeight - 2 * PADDING), 1e-9);
  const zoom = Math.min(MAX_ZOOM, Math.log2(1 / span));
  const scale = 2 ** zoom;
  const toScreen = (lat, lon) => {
    const p = project(lat, lon);
    return { x: cssWidth / 2 + (p.x - centre.x) * scale, y: cssHeight / 2 + (p.y - centre.y) * scale };
  };
  if (map) {
    const z = Math.max(map.minzoom, Math.min(map.maxzoom, Math.round(zoom)));
    const size = TILE * 2 ** (zoom - z);
    const left = centre.x * 2 ** z - (cssWidth / 2) / (size / TILE);
    const top = centre.y * 2 ** z - (cssHeight / 2) / (size / TILE);
    for (let tx = Math.floor(left / TILE); tx * TILE < left + (cssWidth * TILE) / size; tx++) {
      for (let ty = Math.floor(top / TILE); ty * TILE < top + (cssHeight * TILE) / size; ty++) {
        if (tx < 0 || ty < 0 || tx >= 2 ** z || ty >= 2 ** z) continue;
        const image = tile(z, tx, ty);
        if (image) ctx.drawImage(image, ((tx * TILE - left) * size) / TILE, ((ty * TILE - top) * size) / TILE, size, size);
      }
    }
  }
  vehicles.forEach((v, i) => {
    const colour = COLOURS[i % COLOURS.length];
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    v.track.forEach((p, j) => {
      const s = toScreen(p[1], p[2]);
      if (j === 0) ctx.moveTo(s.x, s.y);
      else ctx.lineTo(s.x, s.y);
    });
    ctx.stroke();
    ctx.font = '12px system-ui, sans-serif';
    if (v.home) {
      const h = toScreen(v.home.lat, v.home.lon);
      ctx.fillStyle = '#2e7d32';
      ctx.fillRect(h.x - 5, h.y - 5, 10, 10);
      ctx.fillText('H', h.x + 7, h.y + 4);
    }
    if (v.position) {
      const c = toScreen(v.position.lat, v.position.lon);
      ctx.fillStyle = v.lost ? '#c62828' : colour;
      ctx.beginPath();
      ctx.arc(c.x, c.y, 6, 0, 2 * Math.PI);
      ctx.fill();
      if (v.position.heading !== null && v.position.heading !== undefined) {
        const a = (v.position.heading * Math.PI) / 180;
        ctx.beginPath();
        ctx.moveTo(c.x, c.y);
        ctx.lineTo(c.x + 16 * Math.sin(a), c.y - 16 * Math.cos(a));
        ctx.stroke();
      }
      ctx.fillText(`${v.sysid}${v.lost ? ' LOST' : ''}`, c.x + 9, c.y - 8);
    }
  });
  // Scale bar: metres per screen pixel at the centre's latitude.
  const centreLat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * centre.y) / TILE))) * 180) / Math.PI;
  const metresPerPixel = (40_075_016.686 * Math.cos((centreLat * Math.PI) / 180)) / (TILE * scale);
  const metres = niceLength((cssWidth / 4) * metresPerPixel);
  const barPx = metres / metresPerPixel;
  ctx.fillStyle = ctx.strokeStyle = getComputedStyle(canvas).color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(12, cssHeight - 14);
  ctx.lineTo(12 + barPx, cssHeight - 14);
  ctx.moveTo(12, cssHeight - 19);
  ctx.lineTo(12, cssHeight - 9);
  ctx.moveTo(12 + barPx, cssHeight - 19);
  ctx.lineTo(12 + barPx, cssHeight - 9);
  ctx.stroke();
  ctx.fillText(metres >= 1000 ? `${metres / 1000} km` : `${metres} m`, 16, cssHeight - 22);
  // North arrow: north is up.
  const nx = cssWidth - 20;
  ctx.beginPath();
  ctx.moveTo(nx, 10);
  ctx.lineTo(nx - 7, 30);
  ctx.lineTo(nx, 25);
  ctx.lineTo(nx + 7, 30);
  ctx.closePath();
  ctx.fill();
  ctx.fillText('N', nx - 4, 44);
  canvas.dataset.scaleMetres = String(metres);
  canvas.dataset.points = String(vehicles.reduce((n, v) => n + v.track.length, 0));
}
