/** `mavgate sim`: the simulated vehicle on a real transport (UDP, TCP or a serial/pseudo-terminal). */
import { createLink, type TransportEndpoint } from '../links/create-link.js';
import type { VehicleLink } from '../links/link.js';
import { SimVehicle, type SimOptions } from '../sim/sim-vehicle.js';

export interface RunningSim {
  vehicle: SimVehicle;
  link: VehicleLink;
  stop(): Promise<void>;
}

export async function startSim(endpoint: TransportEndpoint, options: SimOptions): Promise<RunningSim> {
  const vehicle = new SimVehicle(options);
  const link = createLink('sim', endpoint);
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
