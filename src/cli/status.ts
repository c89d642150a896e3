/** The one-line status: vehicles, link rates, loss. Printed once a second by `mavgate run`. */
import type { ComponentState } from '../router/vehicle-state.js';
import type { Gateway } from '../gateway/gateway.js';
import { isSimulatedSource } from './simulated.js';

const MAV_TYPES: Record<number, string> = {
  1: 'plane', 2: 'quad', 3: 'coax', 4: 'heli', 10: 'rover', 11: 'boat', 12: 'sub', 13: 'hexa', 14: 'octo', 15: 'tri', 19: 'vtol', 20: 'vtol', 21: 'vtol', 22: 'vtol',
};

function vehicleSummary(c: ComponentState, now: number, lossRate: number | undefined): string {
  const hb = c.heartbeat!;
  const battery = c.message('SYS_STATUS')?.fields()?.battery_remaining;
  const parts = [`${c.sysid}/${c.compid}`, MAV_TYPES[hb.type] ?? `type ${hb.type}`, hb.mode, hb.armed ? 'ARMED' : 'disarmed'];
  if (typeof battery === 'number' && battery >= 0) parts.push(`${battery}%`);
  if (lossRate !== undefined) parts.push(`loss ${(lossRate * 100).toFixed(1)}%`);
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
  private readonly previous = new Map<string, Rates>();
  private lastAt: number;

  constructor(
    private readonly gateway: Gateway,
    private readonly now: () => number = Date.now,
    /** More parts of the line (the recorder's). */
    private readonly extras: () => string[] = () => [],
  ) {
    this.lastAt = now();
  }

  render(): string {
    const now = this.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastAt = now;
    const stats = this.gateway.stats();
    const vehicles = this.gateway.state.vehicles();
    const lossOf = (c: ComponentState) => stats.vehicles.find((v) => v.sysid === c.sysid && v.compid === c.compid)?.lossRate;
    const vehicleText = vehicles.length ? vehicles.map((v) => vehicleSummary(v, now, lossOf(v))).join(', ') : 'none yet';
    const linkText = stats.links.map((l) => {
      const before = this.previous.get(l.id) ?? { bytesIn: 0, framesIn: 0, framesOut: 0 };
      this.previous.set(l.id, { bytesIn: l.bytesIn, framesIn: l.framesIn, framesOut: l.framesOut });
      return `${l.endpoint} ${l.state.status}` +
        ` in ${((l.framesIn - before.framesIn) / seconds).toFixed(0)} fr/s ${((l.bytesIn - before.bytesIn) / seconds / 1000).toFixed(1)} kB/s` +
        ` out ${((l.framesOut - before.framesOut) / seconds).toFixed(0)} fr/s loss ${(l.lossRate * 100).toFixed(1)}% crc ${l.crcErrors}` +
        `${this.gateway.monitor.diagnosis(l.id) ? ` FRAMES FAILING (${this.gateway.monitor.diagnosis(l.id)!.kind})` : ''}`;
    });
    const simulated = this.gateway.links.some((h) => isSimulatedSource(h.link.endpoint)) ? ['SIMULATED'] : [];
    return [...simulated, `vehicles: ${vehicleText}`, `links: ${linkText.join('; ')}`, ...this.extras()].join(' | ');
  }
}
