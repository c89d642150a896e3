/** Grants for tests, from a gate with the default policy (loopback only) or a given one. */
import { createLink, requestGrant, type TransportEndpoint } from '../../src/links/create-link.js';
import { parseEndpoint } from '../../src/links/endpoint.js';
import type { VehicleLink } from '../../src/links/link.js';
import { EgressGate, type Grant } from '../../src/residency/gate.js';
import { parsePolicy } from '../../src/residency/policy.js';

export const defaultGate = new EgressGate(parsePolicy({}, 'test defaults'));

export function gateFor(policy: unknown): EgressGate {
  return new EgressGate(parsePolicy(policy, 'test policy'));
}

/** The endpoint and the default gate's grant for it. */
export async function granted(text: string): Promise<{ endpoint: TransportEndpoint; grant: Grant }> {
  const endpoint = parseEndpoint(text) as TransportEndpoint;
  return { endpoint, grant: await requestGrant(defaultGate, endpoint, text) };
}

export async function grantedLinkFor(text: string, id = 'test'): Promise<VehicleLink> {
  const { endpoint, grant } = await granted(text);
  return createLink(id, endpoint, grant);
}
