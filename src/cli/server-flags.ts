/** The client server's endpoints as written in flags and the config file. */
import { EndpointError, parseEndpoint } from '../links/endpoint.js';
import type { GcsEndpointSpec } from '../server/settings.js';

/** `HOST:PORT` where the HTTP/WebSocket server listens (`[::1]:8088` for IPv6). */
export function parseListen(text: string): { host: string; port: number } {
  const endpoint = parseEndpoint(`tcp-listen:${text}`);
  if (endpoint.kind !== 'tcp-listen') throw new EndpointError(text, 'expected HOST:PORT, e.g. 127.0.0.1:8088');
  return { host: endpoint.host, port: endpoint.port };
}

/**
 * A ground-station endpoint: `udp-listen:HOST:PORT` or `tcp-listen:HOST:PORT` (ground
 * stations connect to mavgate), `udp:HOST:PORT` or `tcp:HOST:PORT` (a ground station that
 * listens, as QGroundControl does on UDP 14550: mavgate sends to it).
 */
export function parseGcsEndpoint(text: string): GcsEndpointSpec {
  const endpoint = parseEndpoint(text);
  if (!('host' in endpoint) || endpoint.kind === 'fleet') {
    throw new EndpointError(text, 'a ground-station endpoint is udp:HOST:PORT or tcp:HOST:PORT (a ground station that listens), or udp-listen:HOST:PORT or tcp-listen:HOST:PORT');
  }
  return endpoint;
}

/** `--gcs ENDPOINT[,as=TOKEN_NAME]`. */
export function parseGcsFlag(text: string): { endpoint: GcsEndpointSpec; as?: string } {
  const [endpoint, ...options] = text.split(',');
  let as: string | undefined;
  for (const option of options) {
    const match = /^as=(.+)$/.exec(option);
    if (!match) throw new EndpointError(text, `unknown option "${option}"; the only one is as=TOKEN_NAME`);
    as = match[1];
  }
  return { endpoint: parseGcsEndpoint(endpoint!), ...(as !== undefined ? { as } : {}) };
}
