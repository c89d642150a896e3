// The loudest thing on the page: a vehicle lost, a link down, a failsafe, a low battery.
// Red banner at the top, the page title, and (when the operator turns it on) a sound for
// each new alarm and every 15 s while any lasts. Warnings (frames failing on a link) are
// orange and silent.
import { el } from '../lib/dom.js';

const REPEAT_MS = 15_000;
let sound = false;
let audio = null;
let heard = new Set();
let lastBeep = 0;

function beep() {
  audio ??= new AudioContext();
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.3, audio.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.6);
}

export function setupAlarmSound(button) {
  const show = () => {
    button.textContent = sound ? 'sound: on' : 'sound: off';
    button.setAttribute('aria-pressed', String(sound));
  };
  button.addEventListener('click', () => {
    sound = !sound;
    // The browser allows sound only after the operator's own click: make the audio context now.
    if (sound) {
      audio ??= new AudioContext();
      void audio.resume();
    }
    show();
  });
  show();
}

export function renderAlarms(feed, connection) {
  const box = document.getElementById('alarms');
  const alarms = [...feed.alarms];
  if (connection) alarms.unshift({ id: 'connection', level: 'alarm', text: connection });
  box.replaceChildren(...alarms.map((a) => el('div', { class: `alarm ${a.level}`, role: a.level === 'alarm' ? 'alert' : 'status', 'data-alarm': a.id, textContent: a.text })));
  box.hidden = alarms.length === 0;
  document.getElementById('simulated').hidden = !feed.simulated;
  const loud = alarms.filter((a) => a.level === 'alarm');
  document.body.classList.toggle('alarming', loud.length > 0);
  const vehicle = feed.vehicles[0];
  document.title = loud.length > 0
    ? `⚠ ${loud.length > 1 ? `${loud.length} ALARMS: ` : ''}${loud[0].text} — mavgate`
    : `${vehicle ? `${vehicle.mode}${vehicle.armed ? ' ARMED' : ''} — ` : ''}mavgate${feed.simulated ? ' (SIMULATED)' : ''}`;
  const ids = new Set(loud.map((a) => a.id));
  const fresh = [...ids].some((id) => !heard.has(id));
  heard = ids;
  if (sound && loud.length > 0 && (fresh || Date.now() - lastBeep > REPEAT_MS)) {
    lastBeep = Date.now();
    beep();
  }
}
