/** The built-in simulated vehicle as a vehicle link, in the same process: what `mavgate run` uses when no link is given. */
import { BaseLink } from '../links/base-link.js';
import { joined } from '../links/send-batch.js';
import { assertGrant, type InProcessGrant } from '../residency/gate.js';
import { SimVehicle, type SimOptions } from './sim-vehicle.js';

export class SimLink extends BaseLink {
  /** The vehicle hands over one whole frame at a time. */
  override readonly wholeFrames = true;
  readonly vehicle: SimVehicle;

  constructor(id: string, grant: InProcessGrant, options: SimOptions = {}) {
    assertGrant(grant, 'in-process');
    super(id, { kind: 'sim', text: 'sim' });
    this.vehicle = new SimVehicle(options);
    // Deliver on a later tick, as a real transport would, so that a reply never re-enters the router mid-route.
    this.vehicle.send = (frame) => setImmediate(() => this.closed || this.receive(frame));
  }

  async open(): Promise<void> {
    this.vehicle.start();
    this.setState('up');
  }

  protected canSend(): boolean {
    return true;
  }

  protected transmit(data: Buffer | readonly Buffer[], bytes: number): void {
    this.vehicle.receive(joined(data, bytes));
  }

  protected async shutdown(): Promise<void> {
    this.vehicle.stop();
  }
}
