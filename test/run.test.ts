/** `mavgate run` and `mavgate sim` as real processes on loopback UDP and socat pseudo-terminals. */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runMavgate } from './helpers/cli.js';
import { MavgateProcess } from './helpers/process.js';
import { freeUdpPort } from './helpers/ports.js';
import { PtyPair } from './helpers/socat.js';

const dir = mkdtempSync(join(tmpdir(), 'mavgate-run-'));
let running: MavgateProcess[] = [];
afterEach(async () => {
  await Promise.all(running.map((p) => p.stop()));
  running = [];
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(args: string[]): MavgateProcess {
  const p = MavgateProcess.start(args);
  running.push(p);
  return p;
}


describe('mavgate run', () => {
  it('with no link, runs the built-in simulated vehicle and prints live status; SIGINT stops it cleanly', async () => {
    const gw = start(['run', '--status-interval', '200']);
    await gw.waitFor(/warn  no link given: starting the built-in simulated vehicle/);
    await gw.waitFor(/warn  SIMULATED VEHICLE: this is mavgate's built-in simulator, not a real vehicle/);
    await gw.waitFor(/system 1\/1: heartbeat, STABILIZE, disarmed/);
    await gw.waitFor(/info  SIMULATED \| vehicles: 1\/1 quad STABILIZE disarmed 100% loss \d+\.\d% \| links: sim up in \d+ fr\/s/);
    expect(await gw.stop('SIGINT')).toBe(0);
    expect(gw.stderr).toMatch(/SIGINT: closing links/);
    expect(gw.stderr).toMatch(/stopped: links closed/);
  });

  it('says so when a config file has no links:, and names and labels the simulator\'s recordings as simulated', async () => {
    const recordings = mkdtempSync(join(tmpdir(), 'mavgate-simrec-'));
    const config = join(recordings, 'gateway.yaml');
    writeFileSync(config, `tokens: []\nresidency: { approved_sinks: { directories: [${recordings}] } }\n`);
    const gw = start(['run', '--config', config, '--record', recordings, '--status-interval', '0']);
    await gw.waitFor(/warn  .*gateway\.yaml has no links: and no --link was given: starting the built-in simulated vehicle/);
    await gw.waitFor(/warn  recording the SIMULATED vehicle \(not a flight\): .*_sys1_\d{8}T\d{6}Z_SIMULATED\.tlog/);
    expect(await gw.stop()).toBe(0);
    const { readdirSync, readFileSync } = await import('node:fs');
    const sidecar = readdirSync(recordings).find((f) => f.endsWith('_SIMULATED.tlog.json'))!;
    expect(JSON.parse(readFileSync(join(recordings, sidecar), 'utf8'))).toMatchObject({ simulated: true, source: expect.stringMatching(/not a real flight/) });
    rmSync(recordings, { recursive: true, force: true });
  });

  it('relays a vehicle from `mavgate sim` over UDP and reports it', async () => {
    const port = await freeUdpPort();
    const gw = start(['run', '--link', `udp-listen:127.0.0.1:${port}`, '--status-interval', '200']);
    await gw.waitFor(/link udp-listen:127\.0\.0\.1:\d+: up/);
    const sim = start(['sim', '--link', `udp:127.0.0.1:${port}`, '--sysid', '7']);
    await sim.waitFor(/simulated vehicle 7\/1/);
    await gw.waitFor(/system 7\/1: heartbeat/);
    await gw.waitFor(/info  vehicles: 7\/1 quad STABILIZE/);
    expect(gw.stderr).not.toMatch(/SIMULATED/);
    expect(await gw.stop()).toBe(0);
  });

  it('waits for a serial radio missing at start (socat started after mavgate), says what it waits for, and follows it', async () => {
    const path = join(dir, 'late-a');
    const gw = start(['run', '--link', `serial:${path}:57600`, '--status-interval', '0']);
    await gw.waitFor(/warn  link serial:.*late-a:57600: down \(waiting for .*late-a: not present \(radio not plugged in\?\)\)/);
    await gw.waitFor(/running: 1 link\(s\)/);
    const pty = await PtyPair.start(dir, 'late');
    await gw.waitFor(/link serial:.*late-a:57600: up/, 15_000);
    const sim = start(['sim', '--link', `serial:${pty.b}:57600`]);
    await gw.waitFor(/system 1\/1: heartbeat/);
    expect(gw.count(/waiting for/)).toBe(1);
    expect(await gw.stop()).toBe(0);
    await sim.stop();
    await pty.stop();
  });

  it('logs vehicles as systems, a ground station as one, and its own heartbeat not at all', async () => {
    const port = await freeUdpPort();
    // A ground station on a link of its own (as QGroundControl on --link udp:…), whose heartbeat is routed like any frame.
    const gw = start(['run', '--heartbeat', '--link', 'sim', '--link', `udp-listen:127.0.0.1:${port}`, '--status-interval', '0']);
    await gw.waitFor(/system 1\/1: heartbeat, STABILIZE, disarmed/);
    const { GroundStation } = await import('./helpers/gcs.js');
    const gcs = await GroundStation.open(port);
    gcs.send({ name: 'HEARTBEAT', fields: { type: 6, autopilot: 8 } });
    await gw.waitFor(/ground station 255\/190: heard \(not a vehicle\)/);
    await gcs.close();
    expect(await gw.stop()).toBe(0);
    expect(gw.stderr).not.toMatch(/system 255\/190|system 245\/191|245\/191: heard/);
  });

  it('follows a serial radio that is unplugged and plugged back in (socat killed and restarted on the same path)', async () => {
    let pty = await PtyPair.start(dir, 'radio');
    const gw = start(['run', '--link', `serial:${pty.a}:57600`, '--status-interval', '0']);
    await gw.waitFor(/: up/);
    let sim = start(['sim', '--link', `serial:${pty.b}:57600`]);
    await gw.waitFor(/system 1\/1: heartbeat/);

    await sim.stop();
    await pty.stop();
    await gw.waitFor(/link serial:.*: down \(.*disconnected\)/);
    await gw.waitFor(/system 1\/1: lost/, 10_000);

    pty = await PtyPair.start(dir, 'radio');
    await gw.waitFor(/link serial:.*radio-a:57600: up[\s\S]*link serial:.*radio-a:57600: up/, 15_000);
    sim = start(['sim', '--link', `serial:${pty.b}:57600`]);
    await gw.waitFor(/system 1\/1: back/);
    expect(await gw.stop()).toBe(0);
    await sim.stop();
    await pty.stop();
  });

  it('exits 2 naming the endpoint: malformed endpoint, port in use, a device that is not a serial port, bad number', async () => {
    const bad = await runMavgate(['run', '--link', 'udp:localhost']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/endpoint "udp:localhost": expected HOST:PORT/);

    const holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
    const inUse = await runMavgate(['run', '--link', `udp-listen:127.0.0.1:${holder.address().port}`]);
    holder.close();
    expect(inUse.code).toBe(2);
    expect(inUse.stderr).toMatch(/link udp-listen:127\.0\.0\.1:\d+: cannot listen: address already in use/);

    writeFileSync(join(dir, 'not-a-tty'), 'a plain file');
    const notSerial = await runMavgate(['run', '--link', `serial:${join(dir, 'not-a-tty')}:57600`]);
    expect(notSerial.code).toBe(2);
    expect(notSerial.stderr).toMatch(/cannot open .*not-a-tty: /);

    const baud = await runMavgate(['run', '--link', '/dev/ttyUSB0:fast']);
    expect(baud.code).toBe(2);
    const serialBaud = await runMavgate(['run', '--link', 'serial:/dev/ttyUSB0:fast']);
    expect(serialBaud.stderr).toMatch(/baud rate "fast" is not a number/);

    const interval = await runMavgate(['run', '--status-interval', 'soon']);
    expect(interval.code).toBe(2);
    expect(interval.stderr).toMatch(/--status-interval: expected a whole number from 0 to 3600000, got "soon"/);
  });

  it('keeps the other links working when one fails at runtime', async () => {
    const port = await freeUdpPort();
    let pty = await PtyPair.start(dir, 'second');
    const gw = start(['run', '--link', `udp-listen:127.0.0.1:${port}`, '--link', `serial:${pty.a}:57600`, '--status-interval', '200']);
    await gw.waitFor(/serial:.*: up/);
    const sim = start(['sim', '--link', `udp:127.0.0.1:${port}`]);
    await gw.waitFor(/system 1\/1: heartbeat/);
    await pty.stop();
    // After the serial link went down, a status line still shows frames arriving over UDP.
    await gw.waitFor(/serial:.*: down[\s\S]*links: udp-listen:\S+ up in [1-9]\d* fr\/s/);
    pty = await PtyPair.start(dir, 'second');
    await gw.waitFor(/serial:.*second-a:57600: up[\s\S]*serial:.*second-a:57600: up/, 15_000);
    expect(gw.stderr).not.toMatch(/system 1\/1: lost/);
    await sim.stop();
    await pty.stop();
  });
});

describe('mavgate run --config', () => {
  it('reads links and options from YAML', async () => {
    const port = await freeUdpPort();
    const path = join(dir, 'gateway.yaml');
    writeFileSync(path, `links:\n  - udp-listen:127.0.0.1:${port}\nstatus_interval_ms: 200\ngateway_node:\n  heartbeat: false\n`);
    const gw = start(['run', '--config', path]);
    await gw.waitFor(new RegExp(`link udp-listen:127\\.0\\.0\\.1:${port}: up`));
    expect(await gw.stop()).toBe(0);
  });

  it.each([
    ['links: udp:1.2.3.4:5', /links: Invalid input: expected array, received string/],
    ['links:\n  - "bogus:1"', /links\[0\]: endpoint "bogus:1": unknown kind "bogus"/],
    ['gateway_node:\n  sysid: 300', /gateway_node\.sysid: Too big: expected number to be <=255/],
    ['status_interval: 5', /Unrecognized key: "status_interval"/],
    ['links: [', /not valid YAML/],
    // A value inside a union: the key inside it and what is accepted, never zod's bare "Invalid input".
    ['links:\n  - endpoint: udp:127.0.0.1:14560\n    coalesce: maybe', /: links\[0\]\.coalesce: expected true, false or a datagram size in bytes \(280 to 65507\)\n/],
    ['gcs:\n  - endpoint: udp:127.0.0.1:14550\n    coalesce: maybe', /: gcs\[0\]\.coalesce: expected true, false or a datagram size in bytes \(280 to 65507\)\n/],
    ['links:\n  - 5', /: links\[0\]: expected an endpoint \(udp-listen:HOST:PORT, serial:DEVICE:BAUD, …\), or the keys endpoint, signing, drop_unknown, coalesce, receive_buffer_bytes\n/],
    ['server:\n  tls:\n    directory: 5', /: server\.tls\.directory: Invalid input: expected string, received number\n/],
    ['recording: true', /: recording: expected false \(no recording\), or the keys directory, /],
  ])('refuses %j with an error naming the key', async (yaml, message) => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, yaml);
    const run = await runMavgate(['run', '--config', path]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^mavgate: ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
    expect(run.stderr).toMatch(message);
  });

  it('exits 2 for a config file that does not exist', async () => {
    const run = await runMavgate(['run', '--config', join(dir, 'none.yaml')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot read config .*none\.yaml: no such file/);
  });
});
