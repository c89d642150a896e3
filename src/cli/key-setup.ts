/**
 * `mavgate key setup`: gives a vehicle the signing key (SETUP_SIGNING) and checks that it
 * now signs. SETUP_SIGNING carries the key in the clear, so only over a link the operator
 * trusts (a USB cable; another link needs --trusted). The key is never printed or logged.
 */
import { SignatureVerifier, signingTimestamp } from '../mavlink/index.js';
import type { TransportEndpoint } from '../links/create-link.js';
import { EgressGate } from '../residency/gate.js';
import type { ResidencyPolicy } from '../residency/policy.js';
import { InputError } from './errors.js';
import { VehicleSession, within } from './vehicle-link.js';

export interface KeySetupOptions {
  endpoint: TransportEndpoint;
  key: Buffer;
  trusted: boolean;
  policy: ResidencyPolicy;
  /** How long to wait for the vehicle's heartbeat, and then for its first signed frame. */
  timeoutMs: number;
}

/** The vehicle was not heard, or did not start signing: exit code 1. */
export { VehicleTimeout as KeySetupError } from './vehicle-link.js';

export async function setupSigning(options: KeySetupOptions, log: (message: string) => void): Promise<{ sysid: number; compid: number }> {
  const { endpoint, key } = options;
  if (endpoint.kind !== 'serial' && !options.trusted) {
    throw new InputError(`SETUP_SIGNING sends the secret key in the clear: only over a link you trust, such as a USB cable; ${endpoint.text} is not a serial link: add --trusted if it is one you trust`);
  }
  const session = await VehicleSession.open(new EgressGate(options.policy), 'key-setup', endpoint);
  const verifier = new SignatureVerifier(key);
  try {
    const vehicle = await session.vehicle(options.timeoutMs);
    log(`vehicle ${vehicle.sysid}/${vehicle.compid} heard; sending SETUP_SIGNING`);
    const send = () => session.send({
      name: 'SETUP_SIGNING',
      fields: { target_system: vehicle.sysid, target_component: vehicle.compid, secret_key: [...key], initial_timestamp: signingTimestamp(Date.now()) },
    });
    send();
    const resend = setInterval(send, 1000);
    try {
      await within(options.timeoutMs, `vehicle ${vehicle.sysid}/${vehicle.compid} did not start signing with this key within ${options.timeoutMs / 1000} s`, new Promise<void>((resolve) => {
        session.onFrame = (f) => {
          if (f.sysid === vehicle.sysid && f.signed && verifier.verify(f) === 'ok') resolve();
        };
      }));
    } finally {
      clearInterval(resend);
    }
    return { sysid: vehicle.sysid, compid: vehicle.compid };
  } finally {
    await session.close();
  }
}
