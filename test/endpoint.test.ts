import { describe, expect, it } from 'vitest';
import { EndpointError, parseEndpoint } from '../src/links/endpoint.js';

describe('endpoint strings', () => {
  it('parses every kind', () => {
    expect(parseEndpoint('serial:/dev/ttyUSB0:57600')).toEqual({ kind: 'serial', text: 'serial:/dev/ttyUSB0:57600', path: '/dev/ttyUSB0', baudRate: 57600 });
    expect(parseEndpoint('udp-listen:0.0.0.0:14550')).toMatchObject({ kind: 'udp-listen', host: '0.0.0.0', port: 14550 });
    expect(parseEndpoint('udp:127.0.0.1:14555')).toMatchObject({ kind: 'udp', host: '127.0.0.1', port: 14555 });
    expect(parseEndpoint('tcp:localhost:5760')).toMatchObject({ kind: 'tcp', host: 'localhost', port: 5760 });
    expect(parseEndpoint('tcp-listen:127.0.0.1:5760')).toMatchObject({ kind: 'tcp-listen', port: 5760 });
    expect(parseEndpoint('udp:[::1]:14550')).toMatchObject({ kind: 'udp', host: '::1', port: 14550 });
    expect(parseEndpoint(' sim ')).toEqual({ kind: 'sim', text: 'sim' });
    expect(parseEndpoint('udp-listen:127.0.0.1:0')).toMatchObject({ port: 0 }); // any free port, where we listen
  });

  it.each([
    ['ttyUSB0', /unknown kind "ttyUSB0"; expected one of: serial:/],
    ['serial:/dev/ttyUSB0', /expected serial:DEVICE:BAUD/],
    ['serial:/dev/ttyUSB0:fast', /baud rate "fast" is not a number/],
    ['serial:/dev/ttyUSB0:0', /baud rate 0 is out of range/],
    ['udp:127.0.0.1', /expected HOST:PORT/],
    ['udp:127.0.0.1:port', /port "port" is not a number/],
    ['udp:127.0.0.1:70000', /port 70000 is out of range/],
    ['udp:127.0.0.1:0', /port 0 is out of range \(1..65535\)/],
    ['udp::::1:14550', /must be in brackets/],
    ['udp-listen:[::1]14610', /an IPv6 address in brackets is followed by :PORT, e\.g\. \[::1\]:14550/],
    ['udp-listen:[::1', /an IPv6 address in brackets is followed by :PORT/],
    ['udp-listen:[fe80::1%lo]:14610', /scoped IPv6 addresses \("fe80::1%lo"\) are not supported/],
    ['tcp:bad host:5760', /is not a host name or address/],
    ['http://example:80', /unknown kind "http"/],
  ])('refuses %s, naming the endpoint', (text, reason) => {
    let error: unknown;
    try {
      parseEndpoint(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EndpointError);
    expect((error as EndpointError).message).toMatch(new RegExp(`^endpoint "${text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}": `));
    expect((error as EndpointError).message).toMatch(reason);
  });
});
