// The operator's dashboard: what mavgate keeps (/v1/dashboard: last known state, tracks,
// timeline, link quality, alarms) and its statistics (/v1/stats), once a second; the
// attitude live from the mavlink2rest socket (read only: the page never sends). One module per panel in
// panels/; everything comes from this page's own origin.
import { getJson, live, on } from './lib/api.js';
import { renderAlarms, setupAlarmSound } from './panels/alarms.js';
import { renderLinkCharts } from './panels/link-charts.js';
import { renderLinks } from './panels/links.js';
import { renderResidency } from './panels/residency.js';
import { renderTimeline } from './panels/timeline.js';
import { askForToken, setupTokenPrompt } from './panels/token.js';
import { drawTracks } from './panels/track.js';
import { redrawHorizon, renderVehicles } from './panels/vehicles.js';

const TRACK_POINTS = 4000;
const TIMELINE = 1000;
const SAMPLES = 600;

/** What the page has been told so far; each poll asks only for what is new. */
const store = { since: 0, after: 0, tracks: new Map(), timeline: [], samples: new Map() };
let unreachable = null;
let socket = 'connecting';
let timer = null;

function merge(feed) {
  for (const v of feed.vehicles) {
    const kept = v.track.whole ? [] : (store.tracks.get(v.sysid) ?? []);
    store.tracks.set(v.sysid, [...kept, ...v.track.points].slice(-TRACK_POINTS));
  }
  store.timeline = [...store.timeline, ...feed.timeline].slice(-TIMELINE);
  for (const l of feed.links) store.samples.set(l.id, [...(store.samples.get(l.id) ?? []), ...l.samples].slice(-SAMPLES));
  for (const id of store.samples.keys()) if (!feed.links.some((l) => l.id === id)) store.samples.delete(id);
  store.since = feed.at;
  store.after = feed.timeline.at(-1)?.seq ?? store.after;
}

function showConnection() {
  const badge = document.getElementById('connection');
  const ok = unreachable === null && socket === 'live';
  badge.textContent = unreachable ? 'NOT CONNECTED' : socket === 'live' ? 'live' : 'telemetry socket retrying';
  badge.className = `badge ${ok ? 'ok' : 'bad'}`;
}

function render(feed, stats) {
  const fleetNames = new Map(stats.links.flatMap((l) => (l.fleet ?? []).map((v) => [v.fleetSysid, `${v.site}/${v.sysid}`])));
  renderAlarms(feed, unreachable);
  renderVehicles(feed.vehicles, feed.battery_warning_percent, fleetNames);
  drawTracks(feed.vehicles.map((v) => ({ ...v, track: store.tracks.get(v.sysid) ?? [] })), feed.map);
  renderTimeline(store.timeline);
  renderLinkCharts(feed.links.map((l) => ({ ...l, samples: store.samples.get(l.id) ?? [] })));
  renderLinks({ ...stats, at: feed.at }, new Map(feed.links.filter((l) => l.diagnosis).map((l) => [l.id, l.diagnosis])));
  renderResidency(stats);
  showConnection();
}

let last = null;

async function poll() {
  clearTimeout(timer);
  try {
    const feed = await getJson(`/v1/dashboard?since=${store.since}&after=${store.after}`);
    const stats = feed && (await getJson('/v1/stats'));
    unreachable = null;
    if (feed && stats) {
      merge(feed);
      last = { feed, stats };
      render(feed, stats);
    }
  } catch {
    // mavgate restarting or out of reach: say so loudly, and keep showing what was last known.
    unreachable = 'mavgate NOT REACHABLE: the page shows the last known state; retrying';
    if (last) renderAlarms(last.feed, unreachable);
    showConnection();
  }
  timer = setTimeout(poll, 1000);
}

on('refused', (reason) => askForToken(reason));
on('accepted', () => askForToken(null));
setupTokenPrompt();
setupAlarmSound(document.getElementById('sound'));
live(['ATTITUDE'], (sysid, m) => redrawHorizon(sysid, m), (state) => {
  socket = state;
  showConnection();
});
void poll();
