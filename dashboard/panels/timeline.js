// What happened, newest first: the vehicles' own messages (STATUSTEXT) by severity, mode
// and arming changes, failsafes, vehicles lost and back, links down and up.
import { clock, el } from '../lib/dom.js';

const SEVERITY = ['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING', 'NOTICE', 'INFO', 'DEBUG'];
const KEEP = 300;

export function renderTimeline(events) {
  const list = document.getElementById('timeline');
  const items = events.slice(-KEEP).reverse().map((e) => el('li', {
    class: `event ${e.kind} severity-${e.severity <= 2 ? 'alarm' : e.severity <= 4 ? 'warn' : 'info'}`,
    'data-kind': e.kind,
  },
  el('time', { textContent: clock(e.at) }),
  el('span', { class: 'severity', textContent: SEVERITY[e.severity] ?? String(e.severity) }),
  el('span', { class: 'text', textContent: `${e.sysid !== undefined ? `${e.sysid}: ` : ''}${e.text}` })));
  if (items.length === 0) list.replaceChildren(el('li', { class: 'empty', textContent: 'nothing yet' }));
  else list.replaceChildren(...items);
}
