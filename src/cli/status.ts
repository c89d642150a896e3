/** The one-line status: vehicles, link rates, loss. Printed once a second by `mavgate run`. */
import type { ComponentState } from '../router/vehicle-state.js';
import type { Gateway, LinkHandle } from './gateway.js';

const MAV_TYPES: Record<number, string> = {
  1: 'plane', 2: 'quad', 3: 'coax', 4: 'heli', 10: 'rover', 11: 'boat', 12: 'sub', 13: 'hexa', 14: 'octo', 15: 'tri', 19: 'vtol', 20: 'vtol', 21: 'vtol', 22: 'vtol',
};

function vehicleSummary(c: ComponentState, now: number): string {
  const hb = c.heartbeat!;
  const battery = c.message('SYS_STATUS')?.fields()?.battery_remaining;
  const parts = [`${c.sysid}/${c.compid}`, MAV_TYPES[hb.type] ?? `type ${hb.type}`, hb.mode, hb.armed ? 'ARMED' : 'disarmed'];
  if (typeof battery === 'number' && battery >= 0) parts.push(`${battery}%`);
  if (c.lost) parts.push(`LOST ${((now - c.lastHeartbeatAt) / 1000).toFixed(0)}s`);
  return parts.join(' ');
}

interface Rates {
  bytesIn: number;
  framesIn: number;
  framesOut: number;
}

/** Keeps the previous counters so each line shows rates over the last interval. */
export class StatusLine {
  private previous = new Map<LinkHandle, Rates>();
  private lastAt: number;

  constructor(private readonly gateway: Gateway, private readonly now: () => number = Date.now) {
    this.lastAt = now();
  }

  render(): string {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastAt = now;
    const vehicles = this.gateway.state.vehicles();
    const vehicleText = vehicles.length ? vehicles.map((v) => vehicleSummary(v, now)).join(', ') : 'none yet';
    const linkText = this.gateway.links.map((h) => {
      const current: Rates = { bytesIn: h.link.counters.bytesIn, framesIn: h.port.framesIn, framesOut: h.port.framesOut };
      const before = this.previous.get(h) ?? { bytesIn: 0, framesIn: 0, framesOut: 0 };
      this.previous.set(h, current);
      const stats = h.decoder.stats;
      const sources = stats.sequence.sources();
      const received = sources.reduce((n, s) => n + s.received, 0);
      const lost = sources.reduce((n, s) => n + s.lost, 0);
      const loss = received + lost ? (100 * lost) / (received + lost) : 0;
      return `${h.link.endpoint.text} ${h.state.status}` +
        ` in ${((current.framesIn - before.framesIn) / seconds).toFixed(0)} fr/s ${((current.bytesIn - before.bytesIn) / seconds / 1000).toFixed(1)} kB/s` +
        ` out ${((current.framesOut - before.framesOut) / seconds).toFixed(0)} fr/s loss ${loss.toFixed(1)}% crc ${stats.crcErrors}`;
    });
    return `vehicles: ${vehicleText} | links: ${linkText.join('; ')}`;
  }
}
