/** Loopback ports that were free a moment ago, for servers the tests and benchmarks start. */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

export async function freeTcpPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A TCP server on a free loopback port (a vehicle or a ground station that serves MAVLink), and its next connection. */
export async function tcpServer(): Promise<{ server: Server; port: number; nextConnection(): Promise<Socket>; close(): Promise<void> }> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as { port: number }).port,
    nextConnection: async () => ((await once(server, 'connection')) as [Socket])[0],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
