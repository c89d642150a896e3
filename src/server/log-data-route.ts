/**
 * While an onboard log downloads, its LOG_DATA goes only to whoever asked for it. LOG_DATA
 * carries no target, so by MAVLink's rules it is a broadcast, and every client (which
 * sees everything, as mavlink2rest's do) would get some 105,000 frames of someone else's
 * 9.5 MB log. An autopilot serves one transfer at a time, on the channel that asked
 * (ArduPilot's `_log_sending_link`); this does the same on the gateway's side: the
 * endpoint whose LOG_REQUEST_DATA reached a vehicle last owns that vehicle's LOG_DATA
 * until it sends LOG_REQUEST_END, goes away, or the data stops for a few seconds.
 * Whoever owns it (a client, or the gateway's own downloader) is an endpoint of the
 * router, so this only watches the router's frames; it decides nothing else.
 */
import type { Frame, MessageRegistry } from '../mavlink/index.js';
import type { RoutePort } from '../router/router.js';
import { TargetReader } from '../router/targets.js';

/** After this long without LOG_DATA or a request, the vehicle's LOG_DATA goes to everyone again. */
export const LOG_DATA_IDLE_MS = 5000;

export class LogDataRoute {
  private readonly owners = new Map<number, { port: RoutePort; lastAt: number }>();
  private readonly targets: TargetReader;
  readonly logData: number;
  private readonly requestData: number;
  private readonly requestEnd: number;

  constructor(registry: MessageRegistry, private readonly now: () => number = Date.now) {
    this.targets = new TargetReader(registry);
    this.logData = registry.byName('LOG_DATA')?.id ?? -1;
    this.requestData = registry.byName('LOG_REQUEST_DATA')?.id ?? -1;
    this.requestEnd = registry.byName('LOG_REQUEST_END')?.id ?? -1;
  }

  /** Every frame the router passes (a router listener): requests set or end ownership, data keeps it alive. */
  observe(frame: Frame, from: RoutePort): void {
    const id = frame.msgid;
    if (id === this.logData) {
      const owner = this.owners.get(frame.sysid);
      if (owner) owner.lastAt = this.now();
    } else if (id === this.requestData || id === this.requestEnd) {
      if (!frame.verified) return;
      const vehicle = this.targets.system(frame);
      if (vehicle === 0) return;
      if (id === this.requestData) this.owners.set(vehicle, { port: from, lastAt: this.now() });
      else if (this.owners.get(vehicle)?.port === from) this.owners.delete(vehicle);
    }
  }

  /** May `port` receive LOG_DATA from system `sysid`? Yes when nobody is downloading from it, or `port` is. */
  allows(sysid: number, port: RoutePort): boolean {
    const owner = this.owners.get(sysid);
    if (!owner) return true;
    if (this.now() - owner.lastAt > LOG_DATA_IDLE_MS) {
      this.owners.delete(sysid);
      return true;
    }
    return owner.port === port;
  }

  /** The endpoint went away: its downloads end. */
  release(port: RoutePort): void {
    for (const [sysid, owner] of this.owners) if (owner.port === port) this.owners.delete(sysid);
  }
}
