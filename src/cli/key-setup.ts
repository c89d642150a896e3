/**
 * `mavgate key setup`: gives a vehicle the signing key (SETUP_SIGNING) and checks that it
 * now signs. SETUP_SIGNING carries the key in the clear, so only over a link the operator
 * trusts (a USB cable; another link needs --trusted). The key is never printed or logged.
 */
import { type Frame, FrameDecoder, FrameEncoder, loadRegistry, MAV_AUTOPILOT, MAV_TYPE, SignatureVerifier, signingTimestamp } from '../mavlink/index.js';
import { grantedLink, type TransportEndpoint } from '../links/create-link.js';
import { EgressGate } from '../residency/gate.js';
import type { ResidencyPolicy } from '../residency/policy.js';
import { DEFAULT_GATEWAY_NODE } from '../router/gateway-node.js';
import { InputError } from './errors.js';

export interface KeySetupOptions {
  endpoint: TransportEndpoint;
  key: Buffer;
  trusted: boolean;
  policy: ResidencyPolicy;
  /** How long to wait for the vehicle's heartbeat, and then for its first signed frame. */
  timeoutMs: number;
}

export class KeySetupError extends Error {
  readonly exitCode = 1;
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new KeySetupError(what)), ms))),
  ]).finally(() => clearTimeout(timer));
}

export async function setupSigning(options: KeySetupOptions, log: (message: string) => void): Promise<{ sysid: number; compid: number }> {
  const { endpoint, key } = options;
  if (endpoint.kind !== 'serial' && !options.trusted) {
    throw new InputError(`SETUP_SIGNING sends the secret key in the clear: only over a link you trust, such as a USB cable; ${endpoint.text} is not a serial link: add --trusted if it is one you trust`);
  }
  const registry = loadRegistry();
  const link = await grantedLink(new EgressGate(options.policy), 'key-setup', endpoint, '--link');
  const verifier = new SignatureVerifier(key);
  let onFrame: (frame: Frame) => void = () => {};
  const decoder = new FrameDecoder(registry, (f) => onFrame(f));
  const subscription = link.data$.subscribe((chunk) => decoder.push(chunk));
  const encoder = new FrameEncoder(registry);
  const source = { sysid: DEFAULT_GATEWAY_NODE.sysid, compid: DEFAULT_GATEWAY_NODE.compid };
  // A ground station's heartbeat, so that a vehicle that only answers who speaks to it (UDP) knows we are here.
  const hello = () => link.write(encoder.encode({ name: 'HEARTBEAT', fields: { type: MAV_TYPE.GCS, autopilot: MAV_AUTOPILOT.INVALID, mavlink_version: 3 } }, source));
  let helloTimer: NodeJS.Timeout | null = null;
  try {
    await link.open();
    hello();
    helloTimer = setInterval(hello, 1000);
    const vehicle = await within(options.timeoutMs, `no vehicle heard on ${endpoint.text} within ${options.timeoutMs / 1000} s`, new Promise<{ sysid: number; compid: number }>((resolve) => {
      onFrame = (f) => {
        if (f.name === 'HEARTBEAT' && f.decode()!.type !== MAV_TYPE.GCS) resolve({ sysid: f.sysid, compid: f.compid });
      };
    }));
    clearInterval(helloTimer);
    log(`vehicle ${vehicle.sysid}/${vehicle.compid} heard; sending SETUP_SIGNING`);
    const send = () => link.write(encoder.encode({
      name: 'SETUP_SIGNING',
      fields: { target_system: vehicle.sysid, target_component: vehicle.compid, secret_key: [...key], initial_timestamp: signingTimestamp(Date.now()) },
    }, source));
    send();
    const resend = setInterval(send, 1000);
    try {
      await within(options.timeoutMs, `vehicle ${vehicle.sysid}/${vehicle.compid} did not start signing with this key within ${options.timeoutMs / 1000} s`, new Promise<void>((resolve) => {
        onFrame = (f) => {
          if (f.sysid === vehicle.sysid && f.signed && verifier.verify(f) === 'ok') resolve();
        };
      }));
    } finally {
      clearInterval(resend);
    }
    return vehicle;
  } finally {
    if (helloTimer) clearInterval(helloTimer);
    subscription.unsubscribe();
    await link.close();
  }
}
