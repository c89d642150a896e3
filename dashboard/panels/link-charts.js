// Link quality over the last minutes, drawn by uPlot (served by mavgate with the page):
// frames per second and loss for every link, and the radio's own view (RSSI, remote RSSI,
// noise, remote noise from RADIO_STATUS) for links with a telemetry radio.
import uPlot from '/vendor/uPlot.esm.js';
import { el } from '../lib/dom.js';

const COLOURS = ['#1565c0', '#6a1b9a', '#00838f', '#ef6c00', '#2e7d32', '#ad1457'];
const RADIO = [['rssi', 3], ['remote rssi', 4], ['noise', 5], ['remote noise', 6]];

const charts = new Map();

function chart(key, title, labels, data, unit) {
  const box = document.getElementById('link-charts');
  const width = Math.max(200, box.clientWidth - 4);
  let entry = charts.get(key);
  if (entry && entry.labels.join() !== labels.join()) {
    entry.plot.destroy();
    entry.node.remove();
    charts.delete(key);
    entry = undefined;
  }
  if (!entry) {
    const node = el('div', { class: 'chart', 'data-chart': key });
    box.append(node);
    const plot = new uPlot({
      title, width, height: 130,
      scales: { x: { time: true } },
      legend: { live: false },
      series: [{}, ...labels.map((label, i) => ({ label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false }))],
      axes: [{ stroke: '#888' }, { stroke: '#888', label: unit, size: 50 }],
    }, data, node);
    entry = { plot, node, labels };
    charts.set(key, entry);
  } else {
    entry.plot.setData(data);
    if (Math.abs(entry.plot.width - width) > 8) entry.plot.setSize({ width, height: 130 });
  }
}

/** `links`: each with its samples [at, frames/s, loss, rssi, remrssi, noise, remnoise], oldest first. */
export function renderLinkCharts(links) {
  const times = [...new Set(links.flatMap((l) => l.samples.map((s) => s[0])))].sort((a, b) => a - b);
  const column = (l, index, scale = 1) => {
    const byTime = new Map(l.samples.map((s) => [s[0], s[index] === null ? null : s[index] * scale]));
    return times.map((t) => byTime.get(t) ?? null);
  };
  const xs = times.map((t) => t / 1000);
  const names = links.map((l) => l.endpoint);
  chart('frames', 'frames per second', names, [xs, ...links.map((l) => column(l, 1))], 'fr/s');
  chart('loss', 'packet loss', names, [xs, ...links.map((l) => column(l, 2, 100))], '%');
  const radios = links.filter((l) => l.samples.some((s) => s[3] !== null));
  if (radios.length > 0) {
    const labels = radios.flatMap((l) => RADIO.map(([name]) => `${radios.length > 1 ? `${l.endpoint} ` : ''}${name}`));
    chart('radio', 'radio (RADIO_STATUS)', labels, [xs, ...radios.flatMap((l) => RADIO.map(([, index]) => column(l, index)))], 'SiK units');
  }
  document.getElementById('no-radio').hidden = radios.length > 0;
}
