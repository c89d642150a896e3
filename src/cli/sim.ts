/** `mavgate sim`: the simulated vehicle on a real transport (UDP, TCP or a serial/pseudo-terminal). */
import { grantedLink, type TransportEndpoint } from '../links/create-link.js';
import type { VehicleLink } from '../links/link.js';
import { EgressGate } from '../residency/gate.js';
import type { ResidencyPolicy } from '../residency/policy.js';
import { SimVehicle, type SimOptions } from '../sim/sim-vehicle.js';

export interface RunningSim {
  vehicle: SimVehicle;
  link: VehicleLink;
  stop(): Promise<void>;
}

export async function startSim(endpoint: TransportEndpoint, options: SimOptions, policy: ResidencyPolicy): Promise<RunningSim> {
  const vehicle = new SimVehicle(options);
  const link = await grantedLink(new EgressGate(policy), 'sim', endpoint, '--link');
  vehicle.send = (frame) => link.write(frame);
  const subscription = link.data$.subscribe((chunk) => vehicle.receive(chunk));
  await link.open();
  vehicle.start();
  return {
    vehicle,
    link,
    async stop() {
      vehicle.stop();
      subscription.unsubscribe();
      await link.close();
    },
  };
}
