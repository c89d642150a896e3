/** The client server's endpoints as written in flags and the config file. */
import { EndpointError, parseEndpoint } from '../links/endpoint.js';
import type { GcsListenEndpoint } from '../server/settings.js';

/** `HOST:PORT` where the HTTP/WebSocket server listens (`[::1]:8088` for IPv6). */
export function parseListen(text: string): { host: string; port: number } {
  const endpoint = parseEndpoint(`tcp-listen:${text}`);
  if (endpoint.kind !== 'tcp-listen') throw new EndpointError(text, 'expected HOST:PORT, e.g. 127.0.0.1:8088');
  return { host: endpoint.host, port: endpoint.port };
}

/** A ground-station endpoint: `udp-listen:HOST:PORT` or `tcp-listen:HOST:PORT`. */
export function parseGcsEndpoint(text: string): GcsListenEndpoint {
  const endpoint = parseEndpoint(text);
  if (endpoint.kind !== 'udp-listen' && endpoint.kind !== 'tcp-listen') {
    throw new EndpointError(text, 'a ground-station endpoint listens: udp-listen:HOST:PORT or tcp-listen:HOST:PORT');
  }
  return endpoint as GcsListenEndpoint;
}

/** `--gcs ENDPOINT[,as=TOKEN_NAME]`. */
export function parseGcsFlag(text: string): { endpoint: GcsListenEndpoint; as?: string } {
  const [endpoint, ...options] = text.split(',');
  let as: string | undefined;
  for (const option of options) {
    const match = /^as=(.+)$/.exec(option);
    if (!match) throw new EndpointError(text, `unknown option "${option}"; the only one is as=TOKEN_NAME`);
    as = match[1];
  }
  return { endpoint: parseGcsEndpoint(endpoint!), ...(as !== undefined ? { as } : {}) };
}
