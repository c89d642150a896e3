/**
 * One place that turns an endpoint into its link, with the egress gate's grant: a link
 * cannot be made without one, so an endpoint the residency policy does not approve is
 * refused before any socket or device is opened.
 */
import type { EgressGate, Grant } from '../residency/gate.js';
import type { Endpoint } from './endpoint.js';
import type { VehicleLink } from './link.js';
import { SerialLink } from './serial-link.js';
import { TcpClientLink, TcpServerLink } from './tcp-link.js';
import { UdpLink } from './udp-link.js';

/** Endpoints that reach outside the process (sim and replay stay in it). */
export type TransportEndpoint = Exclude<Endpoint, { kind: 'sim' | 'replay' | 'fleet' }>;

/** Asks the gate for what `endpoint` needs; `entry` names it for messages and the audit log (e.g. `links[1]`). */
export function requestGrant(gate: EgressGate, endpoint: TransportEndpoint, entry: string): Grant | Promise<Grant> {
  switch (endpoint.kind) {
    case 'serial': return gate.grantDevice(entry, endpoint.path);
    case 'udp': return gate.grantConnect(entry, 'udp', endpoint.host, endpoint.port);
    case 'tcp': return gate.grantConnect(entry, 'tcp', endpoint.host, endpoint.port);
    case 'udp-listen': return gate.grantListen(entry, 'udp', endpoint.host, endpoint.port);
    case 'tcp-listen': return gate.grantListen(entry, 'tcp', endpoint.host, endpoint.port);
  }
}

export function createLink(id: string, endpoint: TransportEndpoint, grant: Grant): VehicleLink {
  switch (endpoint.kind) {
    case 'serial': return new SerialLink(id, endpoint, grant as never);
    case 'udp': case 'udp-listen': return new UdpLink(id, endpoint, grant as never);
    case 'tcp': return new TcpClientLink(id, endpoint, grant as never);
    case 'tcp-listen': return new TcpServerLink(id, endpoint, grant as never);
  }
}

/** Asks the gate, then makes the link. Throws ResidencyRefusal when the policy does not approve the endpoint. */
export async function grantedLink(gate: EgressGate, id: string, endpoint: TransportEndpoint, entry: string): Promise<VehicleLink> {
  return createLink(id, endpoint, await requestGrant(gate, endpoint, entry));
}
