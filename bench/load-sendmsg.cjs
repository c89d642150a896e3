'use strict';
/**
 * The shared bench's load generator (../shared/bench/relay/load.js), unchanged but for
 * how its vehicle socket sends: one synchronous sendmsg(2) per frame through mavgate's
 * native UDP addon, in place of dgram's send (a request object and libuv's queue per
 * datagram). Same frames, same pacing, same measurements; a cheaper sender, so that the
 * generator's own CPU is not what stops it offering 150k frames/s on a 2-core machine.
 * `BENCH_LOAD=sendmsg npm run bench:relay` runs the harness with it (bench/relay.ts).
 */
const dgram = require('node:dgram');
const { resolve } = require('node:path');

const native = require(resolve(__dirname, '../native/udp/build/Release/mavgate_udp.node'));
const sharedLoad = resolve(__dirname, '../../shared/bench/relay/load.js');

const createSocket = dgram.createSocket;
let vehicleSocket = true;
dgram.createSocket = function (...args) {
  const socket = createSocket.apply(this, args);
  // load.js makes the vehicle socket first, then its control socket (left as it is).
  if (!vehicleSocket) return socket;
  vehicleSocket = false;
  const handle = native.open(4);
  const connect = socket.connect.bind(socket);
  socket.connect = (port, host, done) => {
    native.connect(handle, host, port);
    return connect(port, host, done);
  };
  // A full send buffer loses the datagram (counted by load.js as a send error), as dgram's would queue it.
  socket.send = (frame) => {
    if (native.send(handle, frame) < 0) socket.emit('error', new Error('sendmsg failed'));
  };
  socket.getSendQueueCount = () => 0;
  return socket;
};

require(sharedLoad);
