/**
 * mavgate as a ground station on a link of its own, for the commands that talk to one
 * vehicle directly (`key setup`, `logs --link`): the link granted by the gate, a
 * ground station's HEARTBEAT every second (a vehicle on UDP answers only who speaks to
 * it), frames decoded for the command, and the vehicle found by its heartbeat.
 */
import { type Frame, FrameDecoder, FrameEncoder, loadRegistry, MAV_AUTOPILOT, MAV_MODE_FLAG, MAV_TYPE, type OutgoingMessage } from '../mavlink/index.js';
import { grantedLink, type TransportEndpoint } from '../links/create-link.js';
import type { VehicleLink } from '../links/link.js';
import type { EgressGate } from '../residency/gate.js';
import { DEFAULT_GATEWAY_NODE } from '../router/gateway-node.js';

export interface HeardVehicle {
  sysid: number;
  compid: number;
  autopilot: number;
  armed: boolean;
}

export class VehicleTimeout extends Error {
  readonly exitCode = 1;
}

/** `promise`, or a VehicleTimeout saying `what` after `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new VehicleTimeout(what)), ms))),
  ]).finally(() => clearTimeout(timer));
}

export class VehicleSession {
  /** Gets every frame from the vehicle's side; a command sets it to what it waits for. */
  onFrame: (frame: Frame) => void = () => {};
  private readonly encoder = new FrameEncoder(loadRegistry());
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly subscription: { unsubscribe(): void };

  private constructor(readonly link: VehicleLink, readonly endpoint: TransportEndpoint, private readonly source: { sysid: number; compid: number }) {
    const decoder = new FrameDecoder(this.encoder.registry, (f) => this.onFrame(f));
    this.subscription = link.data$.subscribe((chunk) => decoder.push(chunk));
  }

  /**
   * Opens the granted link and starts the ground station's heartbeat, sent as `source`
   * (default: the gateway's own node ids).
   */
  static async open(gate: EgressGate, entry: string, endpoint: TransportEndpoint, source = { sysid: DEFAULT_GATEWAY_NODE.sysid, compid: DEFAULT_GATEWAY_NODE.compid }): Promise<VehicleSession> {
    const session = new VehicleSession(await grantedLink(gate, entry, endpoint, '--link'), endpoint, source);
    try {
      await session.link.open();
    } catch (err) {
      await session.close();
      throw err;
    }
    const hello = () => session.send({ name: 'HEARTBEAT', fields: { type: MAV_TYPE.GCS, autopilot: MAV_AUTOPILOT.INVALID, mavlink_version: 3 } });
    hello();
    session.heartbeat = setInterval(hello, 1000);
    return session;
  }

  send(message: OutgoingMessage): void {
    this.link.write(this.encoder.encode(message, this.source));
  }

  /** The first vehicle (not a ground station) whose heartbeat arrives; with `sysid`, that one. */
  vehicle(timeoutMs: number, sysid?: number): Promise<HeardVehicle> {
    const which = sysid === undefined ? 'no vehicle' : `vehicle ${sysid} not`;
    return within(timeoutMs, `${which} heard on ${this.endpoint.text} within ${timeoutMs / 1000} s`, new Promise<HeardVehicle>((resolve) => {
      this.onFrame = (f) => {
        if (f.name !== 'HEARTBEAT' || (sysid !== undefined && f.sysid !== sysid)) return;
        const h = f.decode()!;
        if (h.type === MAV_TYPE.GCS || h.autopilot === MAV_AUTOPILOT.INVALID) return;
        resolve({ sysid: f.sysid, compid: f.compid, autopilot: Number(h.autopilot), armed: (Number(h.base_mode) & MAV_MODE_FLAG.SAFETY_ARMED) !== 0 });
      };
    }));
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.subscription.unsubscribe();
    await this.link.close();
  }
}
