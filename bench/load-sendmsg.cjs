'use strict';
/**
 * The shared bench's load generator (../shared/bench/relay/load.js), unchanged but for
 * how its vehicle socket sends: one synchronous sendmsg(2) per frame through mavgate's
 * native UDP addon, in place of dgram's send (a request object and libuv's queue per
 * datagram). Same frames, same pacing, same measurements; a cheaper sender, so that the
 * generator's own CPU is not what stops it offering 150k frames/s on a 2-core machine.
 * `BENCH_LOAD=sendmsg npm run bench:relay` runs the harness with it (bench/relay.ts).
 *
 * The frames leave from the addon's socket, not from load.js's dgram socket: what a relay
 * sends back to the vehicle goes to a port nobody reads, so load.js's
 * `backChannelDatagrams` stays 0 with this sender.
 */
const dgram = require('node:dgram');
const { existsSync } = require('node:fs');
const { resolve } = require('node:path');

const addon = resolve(__dirname, '../native/udp/build/Release/mavgate_udp.node');
if (!existsSync(addon)) {
  console.error(`load-sendmsg: mavgate's native UDP addon is not built (${addon}); run npm run build:native, or bench without BENCH_LOAD=sendmsg`);
  process.exit(2);
}
const native = require(addon);
const sharedLoad = resolve(__dirname, '../../shared/bench/relay/load.js');

const createSocket = dgram.createSocket;
let vehicleSocket = true;
dgram.createSocket = function (...args) {
  const socket = createSocket.apply(this, args);
  // load.js makes the vehicle socket first, then its control socket (left as it is).
  if (!vehicleSocket) return socket;
  vehicleSocket = false;
  const handle = native.open(4); // IPv4: load.js's target is 127.0.0.1
  const connect = socket.connect.bind(socket);
  socket.connect = (port, host, done) => {
    native.connect(handle, host, port);
    return connect(port, host, done);
  };
  // Never queued: a full send buffer loses the datagram (load.js counts a send error), where dgram would queue it.
  socket.send = (frame) => {
    if (native.send(handle, frame) < 0) socket.emit('error', new Error('sendmsg failed'));
  };
  socket.getSendQueueCount = () => 0;
  return socket;
};

// load.js prints its result as one JSON line: it says which sender made the run.
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  const text = String(chunk);
  return write(text.startsWith('{') ? text.replace(/^\{/, '{"loadSender":"sendmsg",') : chunk, ...rest);
};

require(sharedLoad);
