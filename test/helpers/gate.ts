/** Grants for tests, from a gate with the default policy (loopback only) or a given one. */
import { grantedLink, type TransportEndpoint } from '../../src/links/create-link.js';
import { parseEndpoint } from '../../src/links/endpoint.js';
import type { VehicleLink } from '../../src/links/link.js';
import { EgressGate } from '../../src/residency/gate.js';
import { parsePolicy } from '../../src/residency/policy-parse.js';

export const defaultGate = new EgressGate(parsePolicy({}, 'test defaults'));

export function gateFor(policy: unknown): EgressGate {
  return new EgressGate(parsePolicy(policy, 'test policy'));
}

export function grantedLinkFor(text: string, id = 'test'): Promise<VehicleLink> {
  return grantedLink(defaultGate, id, parseEndpoint(text) as TransportEndpoint, text);
}
