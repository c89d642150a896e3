/**
 * The shared bench's naive relay (forwards datagrams, parses nothing) with mavgate's way
 * of sending: the datagrams of one turn of the event loop leave as one, at the end of
 * the turn (setImmediate). It tells what coalescing costs or saves by itself, apart from
 * mavgate's work on each frame.
 *   node bench/naive-coalescing-relay.js IN_PORT OUT_PORT
 */
import { createSocket } from 'node:dgram';

const [inPort, outPort] = process.argv.slice(2).map(Number);
const out = createSocket('udp4');
const vehicle = createSocket('udp4');
let waiting = [];
let armed = false;
const flush = () => {
  armed = false;
  const datagrams = waiting;
  waiting = [];
  out.send(datagrams.length === 1 ? datagrams[0] : datagrams);
};
out.connect(outPort, '127.0.0.1', () => {
  vehicle.on('message', (datagram) => {
    waiting.push(datagram);
    if (!armed) {
      armed = true;
      setImmediate(flush);
    }
  });
  vehicle.bind(inPort, '127.0.0.1');
});
