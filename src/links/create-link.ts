/** One place that turns an endpoint into its link. */
import type { Endpoint } from './endpoint.js';
import type { VehicleLink } from './link.js';
import { SerialLink } from './serial-link.js';
import { TcpClientLink, TcpServerLink } from './tcp-link.js';
import { UdpLink } from './udp-link.js';

export type TransportEndpoint = Exclude<Endpoint, { kind: 'sim' }>;

export function createLink(id: string, endpoint: TransportEndpoint): VehicleLink {
  switch (endpoint.kind) {
    case 'serial': return new SerialLink(id, endpoint);
    case 'udp': case 'udp-listen': return new UdpLink(id, endpoint);
    case 'tcp': return new TcpClientLink(id, endpoint);
    case 'tcp-listen': return new TcpServerLink(id, endpoint);
  }
}
