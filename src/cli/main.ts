#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=1 --v8-pool-size=1
/**
 * The mavgate executable: parses the command line and hands over to the commands; all
 * behaviour lives in the layers below, where tests call it directly.
 */
import { Command, CommanderError, Option } from 'commander';
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TransportEndpoint } from '../links/create-link.js';
import { DEFAULT_UDP_RECEIVE_BUFFER_BYTES, type Endpoint, EndpointError, linkProfiles, parseEndpoint } from '../links/endpoint.js';
import { DEFAULT_ALLOW_UNSIGNED } from '../links/link-signing.js';
import { LinkError } from '../links/link.js';
import { DIALECTS, UnknownDialectError } from '../mavlink/dialects.js';
import { AuditLogError } from '../residency/audit-log.js';
import { ResidencyRefusal } from '../residency/gate.js';
import { defaultPolicy, PolicyError, type ResidencyPolicy } from '../residency/policy.js';
import { KeyFileError, loadKey } from '../sinks/key-file.js';
import { EXIT_OK, EXIT_RESIDENCY, EXIT_USAGE, InputError } from './errors.js';
import { stderrLogger } from './log.js';
import { NODE_FLAGS, nodeEnvAssignments } from './node-flags.js';
import { version } from './version.js';
import { DEFAULT_RECORDING, DEFAULT_RUN_CONFIG, DEFAULT_SPOOL_BYTES, type RunConfig } from './run-config.js';
import { parseGcsFlag, parseListen } from './server-flags.js';
import { DEFAULT_RENEW_DAYS } from '../server/settings.js';
import { parseDuration } from '../server/tokens.js';

// Each command loads its modules when it runs, so that `--help` and a UDP-only gateway
// do not pay for what they do not use (node-gyp bindings, schema and YAML libraries).

function dialectList(value: string): string[] {
  return value.split(',').map((d) => d.trim()).filter(Boolean);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function numberOption(flag: string, { min, max, integer }: { min: number; max: number; integer?: boolean }) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new InputError(`${flag}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** --speed of replay: a factor, or max; the error names both. */
function speedOption(value: string): number | 'max' {
  if (value === 'max') return 'max';
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0.01 || n > 1000) throw new InputError(`--speed: expected max, or a number from 0.01 to 1000, got "${value}"`);
  return n;
}

function durationOption(flag: string) {
  return (value: string): number => {
    try {
      return parseDuration(value);
    } catch (err) {
      throw new InputError(`${flag}: ${(err as Error).message}`);
    }
  };
}

/** Resolves when the process is asked to stop (Ctrl-C, systemd, kill). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

async function loadPolicy(path: string | undefined): Promise<ResidencyPolicy | undefined> {
  return path ? (await import('../residency/policy-file.js')).loadPolicyFile(path) : undefined;
}

interface RunFlags {
  policy?: string;
  config?: string;
  link: string[];
  dialect?: string[];
  heartbeat?: boolean;
  requestStreams?: boolean;
  dedupWindow?: number;
  statusInterval?: number;
  listen?: string;
  /** commander's --no-server: false when given. */
  server: boolean;
  gcs: string[];
  origin: string[];
  /** A directory, or false for --no-record. */
  record?: string | false;
  recordKey?: string;
  signingKey?: string;
  sign?: boolean;
  requireSigned?: boolean;
  allowUnsigned?: string[];
  mqtt?: string;
  newAuditChain?: boolean;
  dropUnknown?: boolean;
  tls?: boolean;
  map?: string;
  /** commander's --no-coalesce: false when given. */
  coalesce?: boolean;
  udpReceiveBuffer?: number;
}

const inProcess = (e: Endpoint) => e.kind === 'sim' || e.kind === 'replay' || e.kind === 'fleet';

/** --no-coalesce (one frame per datagram or write, everywhere) and --udp-receive-buffer. */
function withSendOptions(links: Endpoint[], flags: RunFlags): Endpoint[] {
  return links.map((e) => {
    if (inProcess(e)) return e;
    const udp = e.kind === 'udp' || e.kind === 'udp-listen';
    return {
      ...e,
      ...(flags.coalesce === false ? { coalesce: false } : {}),
      ...(udp && flags.udpReceiveBuffer !== undefined ? { receiveBufferBytes: flags.udpReceiveBuffer } : {}),
    };
  });
}

/** --drop-unknown: every transport link drops frames it cannot check. */
function withDropUnknown(links: Endpoint[], flags: RunFlags): Endpoint[] {
  return flags.dropUnknown ? links.map((e) => (inProcess(e) ? e : { ...e, dropUnknown: true })) : links;
}

/** --signing-key with --sign and/or --require-signed: MAVLink 2 signing on every transport link. */
function withSigning(links: Endpoint[], flags: RunFlags): Endpoint[] {
  if (!flags.signingKey) {
    if (flags.sign || flags.requireSigned) throw new InputError('--sign and --require-signed need --signing-key FILE (mavgate key generate FILE)');
    return links;
  }
  if (!flags.sign && !flags.requireSigned) throw new InputError('--signing-key: say what to do with it: --sign (outgoing), --require-signed (incoming), or both');
  const key = loadKey(flags.signingKey);
  return links.map((endpoint, i) => inProcess(endpoint) ? endpoint : {
    ...endpoint,
    signing: { key, sign: flags.sign === true, requireSigned: flags.requireSigned === true, linkId: i, allowUnsigned: flags.allowUnsigned ?? DEFAULT_ALLOW_UNSIGNED },
  });
}

async function runConfig(flags: RunFlags): Promise<RunConfig> {
  const base = flags.config ? (await import('./config.js')).loadConfigFile(flags.config) : DEFAULT_RUN_CONFIG;
  const policy = (await loadPolicy(flags.policy)) ?? base.policy;
  return {
    ...base,
    ...(flags.config ? { configFile: flags.config } : {}),
    ...(policy ? { policy } : {}),
    links: withSendOptions(withDropUnknown(withSigning(flags.link.length > 0 ? flags.link.map(parseEndpoint) : base.links, flags), flags), flags),
    ...(flags.newAuditChain ? { newAuditChain: true } : {}),
    ...(flags.dialect ? { dialects: flags.dialect } : {}),
    ...(flags.dedupWindow !== undefined ? { dedupWindowMs: flags.dedupWindow } : {}),
    statusIntervalMs: flags.statusInterval ?? base.statusIntervalMs,
    server: {
      ...base.server,
      listen: !flags.server ? null : flags.listen !== undefined ? parseListen(flags.listen) : base.server.listen,
      gcs: (flags.gcs.length > 0 ? flags.gcs.map(parseGcsFlag) : base.server.gcs).map((g) => (flags.coalesce === false ? { ...g, endpoint: { ...g.endpoint, coalesce: false } } : g)),
      origins: [...base.server.origins, ...flags.origin],
      tls: flags.tls ? (base.server.tls ?? { source: 'local', renewDays: DEFAULT_RENEW_DAYS }) : base.server.tls,
      dashboard: { ...base.server.dashboard, ...(flags.map ? { mapFile: resolve(flags.map) } : {}) },
    },
    mqtt: flags.mqtt ? { ...(base.mqtt ?? { spoolMaxBytes: DEFAULT_SPOOL_BYTES }), broker: flags.mqtt } : base.mqtt,
    // Off with --no-record, or with `recording: false` in the config unless --record or --record-key asks for it.
    recording: flags.record === false || (base.recording === null && flags.record === undefined && flags.recordKey === undefined) ? null : {
      ...(base.recording ?? DEFAULT_RECORDING),
      ...(flags.record !== undefined ? { directory: resolve(flags.record) } : {}),
      ...(flags.recordKey !== undefined ? { keyFile: resolve(flags.recordKey) } : {}),
    },
    node: {
      ...base.node,
      ...(flags.heartbeat ? { heartbeat: true } : {}),
      ...(flags.requestStreams ? { requestStreams: true } : {}),
    },
  };
}

/** The options `run`, `replay` and `fleet` share: clients, ground stations, recording, the MQTT broker, signing. */
function addClientAndRecordingOptions(command: Command): Command {
  return command
    .option('--listen <host:port>', `where ground-control clients connect (HTTP, WebSocket); default ${DEFAULT_RUN_CONFIG.server.listen!.host}:${DEFAULT_RUN_CONFIG.server.listen!.port}`)
    .option('--no-server', 'no HTTP/WebSocket server for clients')
    .option('--tls', 'serve clients over HTTPS/WSS with the local certificate authority (mavgate tls init; made on first use), or server.tls of the config')
    .option('--map <file>', 'a raster MBTiles file (in an approved directory) drawn under the dashboard\'s track; nothing is fetched from anywhere')
    .option('--gcs <endpoint>', 'a ground station: udp:HOST:PORT or tcp:HOST:PORT to send to one that listens (QGroundControl on udp:127.0.0.1:14550), udp-listen:HOST:PORT or tcp-listen:HOST:PORT for ones that connect; [,as=TOKEN_NAME] gives them that token\'s role; repeat for several', collect, [])
    .option('--origin <url>', 'a browser origin allowed to connect besides the server\'s own, e.g. http://cockpit.local; repeat for several', collect, [])
    .option('--record <dir>', 'where flight recordings (.tlog) go; default: recordings/ in the policy\'s first approved directory (./mavgate-data)')
    .option('--no-record', 'do not record')
    .option('--record-key <file>', 'encrypt recordings with this key (mavgate key generate FILE)')
    .option('--mqtt <url>', 'publish to this on-premises MQTT broker: mqtt://127.0.0.1:1883 (loopback only) or mqtts:// (certificates in the config file)')
    .option('--signing-key <file>', 'MAVLink 2 signing key for every vehicle link (mavgate key generate FILE; mavgate key setup gives it to the vehicle)')
    .option('--sign', 'sign every frame sent to the vehicle (with --signing-key)')
    .option('--require-signed', 'drop unsigned, badly signed and replayed frames from the vehicle (with --signing-key)')
    .option('--allow-unsigned <names>', `messages let through unsigned with --require-signed (default ${DEFAULT_ALLOW_UNSIGNED.join(',')})`, dialectList);
}

export function buildProgram(): Command {
  const program = new Command('mavgate')
    .description('MAVLink ground-control gateway with data-residency enforcement')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText('after', `
Examples:
  $ mavgate run                                         # simulated vehicle, dashboard on http://127.0.0.1:8088/
  $ mavgate run --link serial:/dev/ttyUSB0:57600        # a SiK telemetry radio
  $ mavgate run --policy /etc/mavgate/policy.yaml --link udp:192.168.10.20:14550   # exit 3 if not approved
  $ mavgate replay mavgate-data/recordings/FLIGHT.tlog  # a recording, as if live
  $ mavgate report mavgate-data/recordings/FLIGHT.tlog  # the post-flight report
  $ mavgate audit verify /var/lib/mavgate/audit/audit.jsonl
  $ mavgate run --help                                  # each command has its own options and examples`);

  program
    .command('decode')
    .description('decode a .tlog (or, with --raw, a raw MAVLink byte stream) to JSON Lines on stdout')
    .argument('<file>', 'the file to read, or - for standard input')
    .option('--raw', 'the input is a raw MAVLink byte stream, not a .tlog', false)
    .option('--key <file>', 'the key of an encrypted recording (.tlog.enc)')
    .addOption(
      new Option('--dialect <names>', `comma-separated dialects (default: all of ${DIALECTS.join(', ')})`).argParser(dialectList),
    )
    .addHelpText(
      'after',
      `
One JSON object per frame on stdout; a summary (frames, per version, CRC errors,
unknown message ids, bytes skipped, torn last record) on stderr.

Examples:
  $ mavgate decode flight.tlog > flight.jsonl
  $ mavgate decode --raw capture.bin | jq 'select(.name == "HEARTBEAT")'
  $ cat flight.tlog | mavgate decode - | head`,
    )
    .action(async (file: string, opts: { raw: boolean; dialect?: string[]; key?: string }) => {
      const { runDecode } = await import('./decode.js');
      const key = opts.key ? loadKey(opts.key) : undefined;
      await runDecode(
        { input: file, raw: opts.raw, ...(opts.dialect ? { dialects: opts.dialect } : {}), ...(key ? { key } : {}) },
        { stdout: process.stdout, stderr: process.stderr },
      );
    });

  const run = program
    .command('run')
    .description('run the gateway: vehicle links, routing, status (with no --link: the built-in simulated vehicle)')
    .option('-c, --config <file>', 'YAML configuration file (flags override it)')
    .option('-p, --policy <file>', 'residency policy (YAML); default: loopback and ./mavgate-data only, no audit log')
    .option('-l, --link <endpoint>', 'a vehicle link; repeat for several (replaces the config file\'s links)', collect, [])
    .addOption(new Option('--dialect <names>', 'comma-separated dialects (default: all)').argParser(dialectList))
    .option('--heartbeat', `send the gateway's own HEARTBEAT (sysid ${DEFAULT_RUN_CONFIG.node.sysid}); off by default, see README`)
    .option('--request-streams', 'ask each autopilot for telemetry, even with no ground station connected')
    .option('--dedup-window <ms>', 'drop copies arriving through redundant links within this window, e.g. 100 (default 0: off)', numberOption('--dedup-window', { min: 0, max: 10_000, integer: true }))
    .option('--status-interval <ms>', 'status line period (0: only on SIGUSR1)', numberOption('--status-interval', { min: 0, max: 3_600_000, integer: true }))
    .option('--new-audit-chain', 'begin a new audit chain when the old log is lost or damaged (its first record names what was lost; a damaged log is kept beside it)')
    .option('--drop-unknown', 'drop frames of message ids the dialects in use do not define, on every vehicle link (they cannot be checked; see README)')
    .option('--no-coalesce', 'send every frame in a datagram (or write) of its own, on every link and ground-station endpoint; by default the frames ready in one turn of the event loop leave together (see README)')
    .option('--udp-receive-buffer <bytes>', `the receive buffer of every UDP link (default ${DEFAULT_UDP_RECEIVE_BUFFER_BYTES}; the kernel caps it at net.core.rmem_max)`, numberOption('--udp-receive-buffer', { min: 4096, max: 1 << 30, integer: true }))
    .addHelpText(
      'after',
      `
Endpoints:
  serial:DEVICE:BAUD          a serial port (serial:/dev/ttyUSB0:57600); waits for a device not plugged in yet
  udp-listen:HOST:PORT        UDP server (udp-listen:127.0.0.1:14560; 0.0.0.0 only with a policy listing it)
  udp:HOST:PORT               UDP client to a fixed address
  tcp:HOST:PORT               TCP client, reconnecting (ArduPilot SITL: tcp:127.0.0.1:5760)
  tcp-listen:HOST:PORT        TCP server
  profile:NAME[:ARG]          a link profile from hardware/profiles.json (${Object.keys(linkProfiles()).join(', ')}),
                              e.g. profile:sik:/dev/ttyUSB0
  replay:FILE                 a recording played back as a vehicle (mavgate replay FILE does it with a progress bar)
  sim                         the built-in simulated vehicle (the default with no --link)

Examples:
  $ mavgate run                                         # simulated vehicle, live status
  $ mavgate run --link serial:/dev/ttyUSB0:57600        # a SiK telemetry radio
  $ mavgate run --link udp-listen:127.0.0.1:14560       # a vehicle or SITL sending to 14560 (14550 is QGroundControl's)
  $ mavgate run --link tcp:127.0.0.1:5760 --request-streams
  $ mavgate run --link serial:/dev/ttyUSB0:57600 --link serial:/dev/ttyUSB1:57600 --dedup-window 100   # redundant radios
  $ mavgate run --gcs udp:127.0.0.1:14550,as=qgc          # QGroundControl with its defaults, as the token "qgc"
  $ mavgate run --config /etc/mavgate/gateway.yaml
  $ mavgate run --policy /etc/mavgate/policy.yaml --link udp:192.168.10.20:14550   # exit 3 if not approved`,
    );
  addClientAndRecordingOptions(run).action(async (flags: RunFlags) => {
      const log = stderrLogger();
      // Listen for signals first: a stop asked for during start-up must still close the links.
      const stopAsked = untilSignal();
      const config = await runConfig(flags);
      const { startGateway } = await import('./run.js');
      const running = await startGateway(config, log, flags.config || flags.policy ? () => runConfig(flags) : undefined);
      const unwatch = flags.config && running.clients ? (await import('./token-watch.js')).watchTokens(flags.config, () => runConfig(flags), running.clients, log) : () => {};
      const signal = await stopAsked;
      unwatch();
      log('info', `${signal}: closing links`);
      await running.stop();
    });

  const fleet = program
    .command('fleet')
    .description('the operations room: every vehicle of every gateway publishing to an on-premises MQTT broker, on one dashboard and API (read-only)')
    .requiredOption('--broker <url>', 'the broker: mqtt://127.0.0.1:1883 (loopback only) or mqtts://HOST:8883 (certificates under mqtt: in --config)')
    .option('--site <name>', 'one site only (default: every site)')
    .option('-c, --config <file>', 'YAML configuration file (server, tokens, mqtt certificates)')
    .option('-p, --policy <file>', 'residency policy approving the broker and the clients; default: loopback only')
    .option('--status-interval <ms>', 'status line period (0: only on SIGUSR1)', numberOption('--status-interval', { min: 0, max: 3_600_000, integer: true }))
    .addHelpText('after', `
Examples:
  $ mavgate fleet --broker mqtt://127.0.0.1:1883                 # dashboard on http://127.0.0.1:8088/
  $ mavgate fleet --broker mqtts://ops.agency.local:8883 --config ops.yaml --policy ops-policy.yaml --site team-3`);
  addClientAndRecordingOptions(fleet).action(async (flags: RunFlags & { broker: string; site?: string }) => {
    const log = stderrLogger();
    const stopAsked = untilSignal();
    const endpoint = parseEndpoint(`fleet:${flags.broker}${flags.site ? `/${flags.site}` : ''}`);
    const base = await runConfig({ ...flags, link: [], record: flags.record ?? false });
    const tls = base.mqtt?.caFile && base.mqtt.certFile && base.mqtt.keyFile ? { caFile: base.mqtt.caFile, certFile: base.mqtt.certFile, keyFile: base.mqtt.keyFile } : undefined;
    if (flags.broker.startsWith('mqtts:') && !tls) throw new InputError('--broker mqtts://: give the CA, certificate and key under mqtt: (ca_file, cert_file, key_file) in --config');
    const config: RunConfig = { ...base, links: [endpoint], mqtt: null, ...(tls ? { fleetTls: tls } : {}) };
    const { startGateway } = await import('./run.js');
    const running = await startGateway(config, log);
    const signal = await stopAsked;
    log('info', `${signal}: closing`);
    await running.stop();
  });

  const replay = program
    .command('replay')
    .description('play a recording into the gateway as a vehicle link, so clients and ground stations see the flight again')
    .argument('<file>', 'the recording (.tlog, or .tlog.enc with --key)')
    .option('--speed <factor>', 'playback speed: 1 (as recorded), 4, … or max', speedOption, 1)
    .option('--loop', 'start again at the end', false)
    .option('--key <file>', 'the key of an encrypted recording')
    .option('-c, --config <file>', 'YAML configuration file (its links are not used)')
    .option('-p, --policy <file>', 'residency policy (YAML); default: loopback and ./mavgate-data only')
    .option('-l, --link <endpoint>', 'also relay to this link (a ground station on udp:127.0.0.1:14550, say); repeat for several', collect, [])
    .option('--status-interval <ms>', 'status line period when not on a terminal (0: none)', numberOption('--status-interval', { min: 0, max: 3_600_000, integer: true }))
    .addHelpText('after', `
A progress bar on a terminal; plain status lines otherwise. Nothing is recorded unless --record is given.

Examples:
  $ mavgate replay flight.tlog                                   # clients on ws://127.0.0.1:8088 see the flight
  $ mavgate replay flight.tlog --speed 4 --link udp:127.0.0.1:14550   # QGroundControl listening on 14550
  $ mavgate replay flight.tlog.enc --key team.key --speed max --loop`);
  addClientAndRecordingOptions(replay).action(async (file: string, flags: RunFlags & { speed: number | 'max'; loop: boolean; key?: string }) => {
    const log = stderrLogger();
    const stopAsked = untilSignal();
    const replayEndpoint = { kind: 'replay' as const, text: `replay:${file}`, path: file };
    // A bar where progress is shown (a terminal), status lines where it is not.
    const tty = (await import('./progress.js')).showsProgress();
    const base = await runConfig({ ...flags, record: flags.record ?? false });
    const config: RunConfig = {
      ...base,
      links: [replayEndpoint, ...(flags.link.length > 0 ? base.links : [])],
      replay: { speed: flags.speed, loop: flags.loop, key: flags.key ? loadKey(flags.key) : null },
      statusIntervalMs: flags.statusInterval ?? (tty ? 0 : base.statusIntervalMs),
    };
    const { startGateway } = await import('./run.js');
    const running = await startGateway(config, log);
    const { watchReplay } = await import('./replay.js');
    const watching = watchReplay(running.gateway, flags.speed, tty);
    const ended = await Promise.race([stopAsked, watching.finished.then(() => 'end of the recording')]);
    watching.stop();
    log('info', `${ended}: closing links`);
    await running.stop();
  });

  program
    .command('sim')
    .description('run the simulated vehicle (a small ArduPilot copter) on a UDP, TCP or serial endpoint')
    .option('-l, --link <endpoint>', 'where the vehicle talks', 'udp:127.0.0.1:14550')
    .option('-p, --policy <file>', 'residency policy (YAML) approving the endpoint; default: loopback only')
    .option('--sysid <id>', 'the vehicle\'s system id', numberOption('--sysid', { min: 1, max: 255, integer: true }), 1)
    .option('--rate <factor>', 'multiply every telemetry rate', numberOption('--rate', { min: 0.01, max: 1000 }), 1)
    .option('--loss <p>', 'probability of dropping an outgoing frame', numberOption('--loss', { min: 0, max: 1 }), 0)
    .option('--damage <p>', 'probability of damaging one byte of an outgoing frame', numberOption('--damage', { min: 0, max: 1 }), 0)
    .option('--seed <n>', 'seed for loss and damage', numberOption('--seed', { min: 0, max: 2 ** 32 - 1, integer: true }), 1)
    .option('--mqtt <url>', 'publish to this on-premises MQTT broker: mqtt://127.0.0.1:1883 (loopback only) or mqtts:// (certificates in the config file)')
    .option('--signing-key <file>', 'sign from the start with this key (as after SETUP_SIGNING) and ignore unsigned frames')
    .option('--signing-clock-behind <seconds>', 'with --signing-key: start the signing clock this far behind (an autopilot booted without GPS time); it catches up on a newer signed frame', numberOption('--signing-clock-behind', { min: 0, max: 10 * 365 * 86400 }))
    .option('--log-drop <p>', 'probability of leaving out a chunk (LOG_DATA) of an onboard log download', numberOption('--log-drop', { min: 0, max: 0.9 }), 0)
    .option('--log-rate <bytes/s>', 'onboard log download speed at most', numberOption('--log-rate', { min: 1000, max: 1e9, integer: true }), 8_000_000)
    .addHelpText(
      'after',
      `
The vehicle holds four onboard logs (4 kB to 24 MB, synthetic content) for mavgate logs.
Without --signing-key the vehicle starts signing when it receives SETUP_SIGNING (mavgate key setup).

Examples:
  $ mavgate sim                                    # sends to a gateway or GCS on udp 127.0.0.1:14550
  $ mavgate sim --link tcp-listen:127.0.0.1:5760   # serves MAVLink like ArduPilot SITL
  $ mavgate sim --link serial:/dev/pts/7:57600 --loss 0.05 --damage 0.01`,
    )
    .action(async (opts: { link: string; policy?: string; sysid: number; rate: number; loss: number; damage: number; seed: number; signingKey?: string; signingClockBehind?: number; logDrop: number; logRate: number }) => {
      const endpoint = parseEndpoint(opts.link);
      if (endpoint.kind === 'sim' || endpoint.kind === 'replay' || endpoint.kind === 'fleet') throw new InputError('--link: the simulated vehicle needs a transport endpoint (udp:, tcp-listen:, serial:, …)');
      const log = stderrLogger();
      const stopAsked = untilSignal();
      const { startSim } = await import('./sim.js');
      const policy = (await loadPolicy(opts.policy)) ?? defaultPolicy();
      const sim = await startSim(endpoint as TransportEndpoint, {
        sysid: opts.sysid, rate: opts.rate, loss: opts.loss, damage: opts.damage, seed: opts.seed, ...(opts.signingKey ? { signingKey: loadKey(opts.signingKey) } : {}),
        ...(opts.signingClockBehind !== undefined ? { signingClockBehindMs: opts.signingClockBehind * 1000 } : {}),
        logs: { drop: opts.logDrop, bytesPerSecond: opts.logRate },
      }, policy);
      log('info', `simulated vehicle ${opts.sysid}/1 on ${endpoint.text}`);
      sim.link.state$.subscribe((s) => log('info', `link ${endpoint.text}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`));
      await stopAsked;
      await sim.stop();
    });

  const audit = program.command('audit').description('the tamper-evident audit log')
    .addHelpText('after', `
Examples:
  $ mavgate audit verify /var/lib/mavgate/audit/audit.jsonl
  $ mavgate audit verify audit.jsonl --witness witness.json`);
  audit
    .command('verify')
    .description('check an audit log: its hash chain, and its end against the head kept beside it')
    .argument('<file>', 'the audit log (JSON Lines)')
    .option('--head <file>', 'check the end against this head instead of <file>.head (e.g. the head printed at shutdown)')
    .option('--witness <file>', 'also check against a head kept elsewhere (the retained mavgate/SITE/gateway/audit-head message of the fleet broker, saved to a file): the log must still hold that record')
    .addHelpText(
      'after',
      `
Exit codes:
  0  the chain is intact and its end matches the head (and the witness, if given)
  1  a record was edited, removed, inserted or reordered, the newest records were
     removed, or the log no longer holds what the witness saw (names the first bad record)
  4  the chain is intact but NOTHING VOUCHES FOR ITS END: no head file beside the log
     and no --head or --witness given, so records cut from the end would go unnoticed

Examples:
  $ mavgate audit verify /var/lib/mavgate/audit/audit.jsonl
  $ mavgate audit verify audit.jsonl --head saved-head.json
  $ mosquitto_sub -h ops.lan -t mavgate/site-a/gateway/audit-head -C 1 > witness.json
  $ mavgate audit verify audit.jsonl --witness witness.json`,
    )
    .action(async (file: string, opts: { head?: string; witness?: string }) => {
      const { verifyAuditFile } = await import('./audit.js');
      process.exitCode = verifyAuditFile(file, opts);
    });

  const residency = program.command('residency').description('residency: where telemetry went')
    .addHelpText('after', `
Examples:
  $ mavgate residency report --policy /etc/mavgate/policy.yaml
  $ mavgate residency report --audit mavgate-data/audit/audit.jsonl --since 2026-11-25`);
  residency
    .command('report')
    .description('print where telemetry went, from the audit log: policies, destinations and what they received by class, refusals')
    .option('--audit <file>', 'the audit log to report on')
    .option('-p, --policy <file>', 'or: the policy whose audit directory holds the log')
    .option('--since <time>', 'only records from this time on (ISO 8601, e.g. 2026-11-25 or 2026-11-25T09:00:00Z)')
    .addHelpText('after', `
Examples:
  $ mavgate residency report --policy /etc/mavgate/policy.yaml
  $ mavgate residency report --audit mavgate-data/audit/audit.jsonl --since 2026-11-25`)
    .action(async (opts: { audit?: string; policy?: string; since?: string }) => {
      const since = opts.since === undefined ? undefined : new Date(opts.since);
      if (since && Number.isNaN(since.getTime())) throw new InputError(`--since: "${opts.since}" is not a date or time (e.g. 2026-11-25 or 2026-11-25T09:00:00Z)`);
      const policy = await loadPolicy(opts.policy);
      const { AUDIT_FILE_NAME } = await import('../residency/audit-record.js');
      const path = opts.audit ?? (policy ? join(policy.auditDirectory, AUDIT_FILE_NAME) : undefined);
      if (!path) throw new InputError('give --audit FILE or --policy FILE');
      const { residencyReport } = await import('../residency/report.js');
      try {
        process.stdout.write(residencyReport(path, since));
      } catch (err) {
        throw new InputError(`cannot read audit log ${path}: ${(err as Error).message}`);
      }
    });

  const tokenCommand = program.command('token').description('client tokens: add, list, remove, rotate (each applied by a running gateway within seconds, and audited)')
    .addHelpText('after', `
Examples:
  $ mavgate token add --role pilot --expires 12h --config gateway.yaml alice
  $ mavgate token list --config gateway.yaml
  $ mavgate token rotate --config gateway.yaml alice
  $ mavgate token remove --config gateway.yaml alice`);
  tokenCommand
    .command('add')
    .description('create a token for a ground-control client; its hash goes into the config file, the token is printed once')
    .argument('<name>', 'who or what holds it (shown in logs, the audit log and control refusals)')
    .requiredOption('-c, --config <file>', 'the gateway config file to add it to (created if missing)')
    .addOption(new Option('--role <role>', 'what the holder may do').choices(['observer', 'pilot', 'admin']).default('observer'))
    .option('--system <id>', 'the system id the holder may send as', numberOption('--system', { min: 1, max: 255, integer: true }), 255)
    .option('--components <ids>', 'comma-separated component ids it may send as (default: any)')
    .option('--expires <duration>', 'stop accepting it after this long: 90m, 12h (a day\'s flying), 7d; default: never', durationOption('--expires'))
    .addHelpText('after', `
Examples:
  $ mavgate token add --role pilot --config gateway.yaml alice
  $ mavgate token add --role pilot --expires 12h --config gateway.yaml tablet-1
  $ mavgate token add --role pilot --components 190 --config gateway.yaml qgc   # QGroundControl only`)
    .action(async (name: string, opts: { config: string; role: 'observer' | 'pilot' | 'admin'; system: number; components?: string; expires?: number }) => {
      const components = (opts.components ?? '').split(',').filter(Boolean).map(numberOption('--components', { min: 0, max: 255, integer: true }));
      const { addToken } = await import('./token.js');
      const expires = opts.expires === undefined ? undefined : Date.now() + opts.expires;
      const token = addToken(opts.config, { name, role: opts.role, sources: [{ system: opts.system, components }], ...(expires !== undefined ? { expires } : {}) });
      process.stdout.write(`${token}\n`);
      process.stderr.write(`token "${name}" (${opts.role}) added to ${opts.config}${expires !== undefined ? `, valid until ${new Date(expires).toISOString()}` : ''}; it is shown only now: give it to the client (Authorization: Bearer …, ?token=…)\n`);
    });
  tokenCommand
    .command('list')
    .description('list the tokens in the config file: name, role, expiry (never the token itself)')
    .requiredOption('-c, --config <file>', 'the gateway config file')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { config: string; json?: boolean }) => {
      const { formatTokens, listTokens } = await import('./token.js');
      const rows = listTokens(opts.config, Date.now());
      process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatTokens(rows));
    });
  tokenCommand
    .command('remove')
    .description('remove a token: a running gateway disconnects its clients within seconds (audited)')
    .argument('<name>', 'the token to remove')
    .requiredOption('-c, --config <file>', 'the gateway config file')
    .action(async (name: string, opts: { config: string }) => {
      const { removeToken } = await import('./token.js');
      removeToken(opts.config, name);
      process.stderr.write(`token "${name}" removed from ${opts.config}; a running gateway disconnects its clients within seconds (or on SIGHUP)\n`);
    });
  tokenCommand
    .command('rotate')
    .description('give a token a new secret (same name, role and source ids); clients using the old one are disconnected')
    .argument('<name>', 'the token to rotate')
    .requiredOption('-c, --config <file>', 'the gateway config file')
    .option('--expires <duration>', 'and a new expiry from now: 12h, 7d (default: the one it had)', durationOption('--expires'))
    .addHelpText('after', `
Examples:
  $ mavgate token rotate --config gateway.yaml alice            # a leaked token: the old one stops working
  $ mavgate token rotate --config gateway.yaml tablet-1 --expires 12h`)
    .action(async (name: string, opts: { config: string; expires?: number }) => {
      const { rotateToken } = await import('./token.js');
      const token = rotateToken(opts.config, name, opts.expires === undefined ? undefined : Date.now() + opts.expires);
      process.stdout.write(`${token}\n`);
      process.stderr.write(`token "${name}" rotated in ${opts.config}; the new one is shown only now; clients using the old one are disconnected within seconds (or on SIGHUP)\n`);
    });

  program
    .command('pair')
    .description('pair a tablet or phone in one step: a token (with an expiry) and a QR code that opens the dashboard, or Cockpit, with it')
    .argument('<name>', 'the device or its user (shown in logs, the audit log and control refusals)')
    .requiredOption('-c, --config <file>', 'the gateway config file the token goes into (created if missing)')
    .option('-p, --policy <file>', 'residency policy (where the TLS files are); default: ./mavgate-data')
    .addOption(new Option('--role <role>', 'what the device may do').choices(['observer', 'pilot', 'admin']).default('observer'))
    .option('--expires <duration>', 'how long the pairing lasts', durationOption('--expires'), parseDuration('12h'))
    .option('--url <url>', 'how the tablet reaches this server, e.g. https://192.168.10.5:8443 (default: server.hosts or the listen address of the config)')
    .option('--cockpit <url>', 'the code opens Cockpit served at this address, pointed at mavgate\'s socket (default: server.cockpit; none: the dashboard)')
    .addHelpText('after', `
Examples:
  $ mavgate pair --role pilot --config gateway.yaml tablet-1                # the dashboard, for 12 h
  $ mavgate pair --role observer --expires 7d --config gateway.yaml ops-phone
  $ mavgate pair --role pilot --cockpit https://cockpit.local/ --config gateway.yaml pilot-tablet`)
    .action(async (name: string, opts: { config: string; policy?: string; role: 'observer' | 'pilot' | 'admin'; expires: number; url?: string; cockpit?: string }) => {
      const { existsSync } = await import('node:fs');
      const base = existsSync(opts.config) ? await runConfig({ config: opts.config, link: [], server: true, gcs: [], origin: [], ...(opts.policy ? { policy: opts.policy } : {}) }) : DEFAULT_RUN_CONFIG;
      const { describePairing, pairDevice } = await import('./pair.js');
      const cockpit = opts.cockpit ?? base.server.cockpit;
      const request = { configPath: opts.config, config: base, name, role: opts.role, expiresMs: opts.expires, now: Date.now(), ...(opts.url ? { url: opts.url } : {}), ...(cockpit ? { cockpit } : {}) };
      process.stdout.write(describePairing(pairDevice(request), request));
    });

  const tls = program.command('tls').description('TLS for the client server: the local certificate authority and the server certificate')
    .addHelpText('after', `
Examples:
  $ mavgate tls init --config gateway.yaml
  $ mavgate run --tls --listen 192.168.10.5:8443`);
  tls
    .command('init')
    .description('create the local certificate authority (kept if there is one) and a server certificate for the names clients use, keys owner-only, in an approved directory')
    .option('-c, --config <file>', 'the gateway config (server.listen, server.hosts, server.tls.directory)')
    .option('-p, --policy <file>', 'residency policy approving the directory; default: ./mavgate-data')
    .option('--host <name>', 'another host name or address clients use; repeat for several', collect, [])
    .addHelpText('after', `
Examples:
  $ mavgate tls init --config gateway.yaml                  # names from server.hosts and server.listen
  $ mavgate tls init --host mavgate.local --host 192.168.10.5
  $ mavgate run --tls --listen 192.168.10.5:8443`)
    .action(async (opts: { config?: string; policy?: string; host: string[] }) => {
      const config = await runConfig({ link: [], server: true, gcs: [], origin: [], ...(opts.config ? { config: opts.config } : {}), ...(opts.policy ? { policy: opts.policy } : {}) });
      const { describeTlsInit, initTls } = await import('./tls.js');
      process.stdout.write(describeTlsInit(await initTls(config, opts.host)));
    });

  program
    .command('export')
    .description('export a recording (.tlog, or .tlog.enc with --key) to JSON Lines, CSV, GPX or KML, in a directory the policy approves')
    .argument('<file>', 'the recording')
    .addOption(new Option('--format <format>', 'what to write').choices(['jsonl', 'csv', 'gpx', 'kml']).makeOptionMandatory())
    .option('--out <path>', 'the file to write (csv: a directory, one file per message type); default: exports/ in ./mavgate-data or the policy\'s first approved directory')
    .option('--messages <names>', 'comma-separated message names to export (jsonl, csv)', dialectList)
    .option('--sysid <id>', 'the vehicle whose track to export (gpx, kml); default: the first one', numberOption('--sysid', { min: 1, max: 255, integer: true }))
    .option('--key <file>', 'the key of an encrypted recording')
    .option('-p, --policy <file>', 'residency policy approving the output directory; default: ./mavgate-data only')
    .addHelpText('after', `
Examples:
  $ mavgate export flight.tlog --format gpx --out mavgate-data/flight.gpx
  $ mavgate export flight.tlog --format csv --messages ATTITUDE,VFR_HUD
  $ mavgate export flight.tlog.enc --key team.key --format kml`)
    .action(async (file: string, opts: { format: 'jsonl' | 'csv' | 'gpx' | 'kml'; out?: string; messages?: string[]; sysid?: number; key?: string; policy?: string }) => {
      const { runExport } = await import('./export.js');
      const policy = (await loadPolicy(opts.policy)) ?? defaultPolicy();
      const result = await runExport({
        input: file, format: opts.format, policy,
        ...(opts.out !== undefined ? { out: opts.out } : {}),
        ...(opts.messages ? { messages: opts.messages } : {}),
        ...(opts.sysid !== undefined ? { sysid: opts.sysid } : {}),
        ...(opts.key ? { key: loadKey(opts.key) } : {}),
      });
      process.stderr.write(`${result.out}: ${JSON.stringify(result.summary)}\n`);
    });

  const keyCommand = program.command('key').description('keys for encrypted recordings and MAVLink 2 signing')
    .addHelpText('after', `
Examples:
  $ mavgate key generate /etc/mavgate/recording.key
  $ mavgate key setup --link serial:/dev/ttyACM0:115200 --key /etc/mavgate/signing.key`);
  keyCommand
    .command('generate')
    .description('write a new 32-byte key (64 hex digits) readable by its owner only; never overwrites')
    .argument('<file>', 'where to write it')
    .addHelpText('after', `
Examples:
  $ mavgate key generate /etc/mavgate/recording.key     # then: mavgate run --record-key /etc/mavgate/recording.key
  $ mavgate key generate /etc/mavgate/signing.key       # then: mavgate key setup --link … --key /etc/mavgate/signing.key`)
    .action(async (file: string) => {
      const { generateKeyFile } = await import('./key.js');
      generateKeyFile(file);
      process.stderr.write(`key written to ${file} (mode 600); keep a copy somewhere safe: recordings sealed with it cannot be read without it\n`);
    });

  keyCommand
    .command('setup')
    .description('give a vehicle the signing key (SETUP_SIGNING) over a trusted link, and check that it now signs')
    .requiredOption('-l, --link <endpoint>', 'the link to the vehicle: a USB serial port (serial:/dev/ttyACM0:115200), or another with --trusted')
    .requiredOption('--key <file>', 'the signing key (mavgate key generate FILE)')
    .option('--trusted', 'the link is not serial but you trust it (the key crosses it in the clear)', false)
    .option('-p, --policy <file>', 'residency policy approving the link; default: loopback only')
    .option('--timeout <ms>', 'how long to wait for the vehicle, then for its first signed frame', numberOption('--timeout', { min: 100, max: 600_000, integer: true }), 10_000)
    .addHelpText('after', `
Examples:
  $ mavgate key generate /etc/mavgate/signing.key
  $ mavgate key setup --link serial:/dev/ttyACM0:115200 --key /etc/mavgate/signing.key
  $ mavgate run --link serial:/dev/ttyUSB0:57600 --signing-key /etc/mavgate/signing.key --sign --require-signed`)
    .action(async (opts: { link: string; key: string; trusted: boolean; policy?: string; timeout: number }) => {
      const endpoint = parseEndpoint(opts.link);
      if (endpoint.kind === 'sim' || endpoint.kind === 'replay' || endpoint.kind === 'fleet') throw new InputError('--link: the vehicle must be on a serial, UDP or TCP link');
      const { setupSigning, KeySetupError } = await import('./key-setup.js');
      const policy = (await loadPolicy(opts.policy)) ?? defaultPolicy();
      try {
        const vehicle = await setupSigning({ endpoint, key: loadKey(opts.key), trusted: opts.trusted, policy, timeoutMs: opts.timeout }, (m) => process.stderr.write(`${m}\n`));
        process.stderr.write(`vehicle ${vehicle.sysid}/${vehicle.compid} now signs with this key; run with --signing-key ${opts.key} --sign --require-signed\n`);
      } catch (err) {
        if (!(err instanceof KeySetupError)) throw err;
        process.stderr.write(`mavgate: ${err.message}\n`);
        process.exitCode = 1;
      }
    });

  const logs = program.command('logs').description('the vehicle\'s onboard logs (ArduPilot .bin, PX4 .ulg): list them, and download them into an approved directory')
    .addHelpText('after', `
Examples:
  $ mavgate logs list
  $ mavgate logs download --latest --token $ADMIN_TOKEN
  $ mavgate logs download --all --link serial:/dev/ttyACM0:115200`);
  const logSource = (command: Command) => command
    .option('--gateway <url>', 'the running gateway to ask (its client API)', process.env.MAVGATE_GATEWAY ?? 'http://127.0.0.1:8088')
    .option('--token <token>', 'a token whose role may download logs (admin by default); default: $MAVGATE_TOKEN')
    .option('-l, --link <endpoint>', 'instead of a gateway: straight on this link to the vehicle (serial:…, udp:…, tcp:…), as key setup does')
    .option('--sysid <id>', 'the vehicle (default: the one vehicle heard)', numberOption('--sysid', { min: 1, max: 255, integer: true }))
    .option('-p, --policy <file>', 'residency policy approving the link and the directory (--link), or the gateway\'s address (default: loopback and ./mavgate-data only)')
    .option('-c, --config <file>', 'with --link: the gateway config whose policy and recording key apply')
    .option('--key <file>', 'with --link: encrypt the logs at rest with this key (default: the config\'s recording key, if any)')
    .option('--timeout <ms>', 'with --link: how long to wait for the vehicle', numberOption('--timeout', { min: 100, max: 600_000, integer: true }), 10_000);
  type LogSourceFlags = { gateway: string; token?: string; link?: string; sysid?: number; policy?: string; config?: string; key?: string; timeout: number };
  const linkOptions = async (flags: LogSourceFlags, out?: string) => {
    const endpoint = parseEndpoint(flags.link!);
    if (endpoint.kind === 'sim' || endpoint.kind === 'replay' || endpoint.kind === 'fleet') throw new InputError('--link: the vehicle must be on a serial, UDP or TCP link');
    const base = flags.config ? (await import('./config.js')).loadConfigFile(flags.config) : null;
    const policy = (await loadPolicy(flags.policy)) ?? base?.policy;
    const keyFile = flags.key ?? base?.recording?.keyFile;
    return {
      endpoint: endpoint as TransportEndpoint, policy: policy ?? defaultPolicy(), audit: policy !== undefined, key: keyFile ? loadKey(keyFile) : null,
      ...(out !== undefined ? { out: resolve(out) } : {}), ...(flags.sysid !== undefined ? { sysid: flags.sysid } : {}), timeoutMs: flags.timeout,
    };
  };
  const gatewayOptions = async (flags: LogSourceFlags) => {
    for (const [flag, given] of [['--config', flags.config], ['--key', flags.key]] as const) {
      if (given !== undefined) throw new InputError(`${flag} applies with --link; through a gateway, its own key and directory apply`);
    }
    const token = flags.token ?? process.env.MAVGATE_TOKEN;
    const policy = (await loadPolicy(flags.policy)) ?? defaultPolicy();
    return { url: flags.gateway, policy, ...(token ? { token } : {}), ...(flags.sysid !== undefined ? { sysid: flags.sysid } : {}) };
  };
  const logsFailed = async (task: () => Promise<unknown>) => {
    const { LogsFailed } = await import('./logs.js');
    try {
      await task();
    } catch (err) {
      if (!(err instanceof LogsFailed)) throw err;
      process.stderr.write(`mavgate: ${err.message}\n`);
      process.exitCode = 1;
    }
  };
  logSource(logs.command('list').description('list the vehicle\'s onboard logs, marking those already downloaded'))
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  $ mavgate logs list                                   # through the gateway on http://127.0.0.1:8088
  $ mavgate logs list --link serial:/dev/ttyACM0:115200  # straight over USB`)
    .action(async (flags: LogSourceFlags & { json?: boolean }) => {
      const logsModule = await import('./logs.js');
      const output = { out: (t: string) => process.stdout.write(t), err: process.stderr };
      await logsFailed(async () => (flags.link
        ? logsModule.listOnLink(await linkOptions(flags), flags.json === true, output)
        : logsModule.listThroughGateway(await gatewayOptions(flags), flags.json === true, output)));
    });
  logSource(logs.command('download').description('download onboard logs into an approved directory (logs/ of the policy\'s data directory), continuing a partial download where it stopped'))
    .argument('[ids...]', 'the log ids (mavgate logs list shows them)')
    .option('--latest', 'the newest log')
    .option('--all', 'every log')
    .option('--out <dir>', 'with --link: where the logs go, in a directory the policy approves (default: logs/ in ./mavgate-data or the policy\'s first approved directory)')
    .addHelpText('after', `
Each log is written with a sidecar (vehicle, log id, size, time, SHA-256), encrypted at rest
when recordings are, and audited. A download that stops (a dropped link, Ctrl-C) keeps what
arrived: the same command continues it. Exit code 1 when a download did not complete.

Examples:
  $ mavgate logs download --latest --token $ADMIN_TOKEN            # the gateway downloads into its logs/
  $ mavgate logs download 3 4 --link tcp:127.0.0.1:5760            # straight from ArduPilot SITL
  $ mavgate logs download --all --link serial:/dev/ttyACM0:115200 --config /etc/mavgate/gateway.yaml`)
    .action(async (ids: string[], flags: LogSourceFlags & { latest?: boolean; all?: boolean; out?: string }) => {
      const chosen = [ids.length > 0, flags.latest === true, flags.all === true].filter(Boolean).length;
      if (chosen !== 1) throw new InputError('say which logs: their ids, --latest or --all (one of them)');
      const selection = flags.all ? 'all' as const : flags.latest ? 'latest' as const : ids.map(numberOption('log id', { min: 0, max: 0xffff, integer: true }));
      if (flags.out !== undefined && !flags.link) throw new InputError('--out applies with --link; the gateway downloads into its own logs directory');
      const logsModule = await import('./logs.js');
      const output = { out: (t: string) => process.stdout.write(t), err: process.stderr };
      await logsFailed(async () => (flags.link
        ? logsModule.downloadOnLink(await linkOptions(flags, flags.out), selection, output)
        : logsModule.downloadThroughGateway(await gatewayOptions(flags), selection, output)));
    });

  program
    .command('report')
    .description('the post-flight report of a recording: one self-contained HTML file (summary, plots, track, timeline) in a directory the policy approves')
    .argument('<file>', 'the recording (.tlog, or .tlog.enc with --key)')
    .option('--out <file>', 'the HTML file to write (default: reports/NAME.html in ./mavgate-data or the policy\'s first approved directory)')
    .option('--key <file>', 'the key of an encrypted recording')
    .option('-p, --policy <file>', 'residency policy approving the output directory; default: ./mavgate-data only')
    .addHelpText('after', `
The report opens offline in any browser: nothing in it is fetched from anywhere. Its
figures (flight time, distance, altitudes, speeds, battery) are over the flights, from
arming to disarming; its SHA-256 check compares the file with its sidecar.

Examples:
  $ mavgate report mavgate-data/recordings/local_sys1_20261125T093000Z.tlog
  $ mavgate report flight.tlog.enc --key team.key --out mavgate-data/reports/flight.html`)
    .action(async (file: string, opts: { out?: string; key?: string; policy?: string }) => {
      const { runReport } = await import('./report.js');
      const policy = (await loadPolicy(opts.policy)) ?? defaultPolicy();
      const result = await runReport({ input: file, key: opts.key ? loadKey(opts.key) : null, policy, ...(opts.out !== undefined ? { out: opts.out } : {}) });
      process.stderr.write(`${result.out}: ${result.flights} flight(s), ${result.records} frames, ${(result.bytes / 1e6).toFixed(2)} MB\n`);
    });

  program
    .command('decrypt')
    .description('an encrypted recording (.tlog.enc) back to a plain .tlog, in a directory the policy approves')
    .argument('<in>', 'the encrypted recording')
    .argument('<out>', 'the plain tlog to write (must not exist)')
    .requiredOption('--key <file>', 'the recording key')
    .option('-p, --policy <file>', 'residency policy approving the output directory; default: ./mavgate-data only')
    .addHelpText('after', `
A wrong key or a modified recording is exit 2, and nothing is written.

Examples:
  $ mavgate decrypt --key team.key mavgate-data/recordings/local_sys1_20261125T093000Z.tlog.enc mavgate-data/flight.tlog
  $ mavgate decrypt --key /etc/mavgate/recording.key --policy /etc/mavgate/policy.yaml IN.tlog.enc /var/lib/mavgate/exports/flight.tlog`)
    .action(async (input: string, output: string, opts: { key: string; policy?: string }) => {
      const key = loadKey(opts.key);
      const policy = (await loadPolicy(opts.policy)) ?? defaultPolicy();
      const { decryptFile } = await import('./decrypt.js');
      const result = await decryptFile(input, output, key, policy);
      process.stderr.write(`${output}: ${result.bytes} bytes${result.closedCleanly ? '' : '; the recording was not closed cleanly (a crash?): everything up to its last whole chunk was written'}\n`);
    });

  const hardware = program.command('hardware').description('files for the machine mavgate runs on: udev rules, a systemd unit')
    .addHelpText('after', `
Examples:
  $ mavgate hardware udev | sudo tee /etc/udev/rules.d/99-mavgate.rules
  $ mavgate hardware systemd --policy /etc/mavgate/policy.yaml > /etc/systemd/system/mavgate.service`);
  hardware
    .command('udev')
    .description('print udev rules (stable /dev/mavgate/<kind>-<serial> names, dialout access) from hardware/devices.json')
    .addHelpText('after', `
Example:
  $ mavgate hardware udev | sudo tee /etc/udev/rules.d/99-mavgate.rules && sudo udevadm control --reload && sudo udevadm trigger
  $ mavgate run --link serial:/dev/mavgate/radio-A10K1234:57600`)
    .action(async () => {
      const [{ udevRules }, { loadDeviceTable }] = await Promise.all([import('../hardware/udev-rules.js'), import('../links/ports.js')]);
      process.stdout.write(udevRules(loadDeviceTable()));
    });
  hardware
    .command('systemd')
    .description('print a hardened systemd unit whose firewall (IPAddressAllow) and writable paths are exactly the policy\'s')
    .requiredOption('-p, --policy <file>', 'the residency policy, as installed on the box')
    .option('-c, --config <file>', 'the gateway config, as installed on the box')
    .option('--user <name>', 'the user the service runs as', 'mavgate')
    .option('--exec <path>', 'the mavgate executable as installed on the box (default: node and this mavgate, by their real paths)')
    .addHelpText('after', `
Example:
  $ mavgate hardware systemd --policy /etc/mavgate/policy.yaml --config /etc/mavgate/gateway.yaml > /etc/systemd/system/mavgate.service
  $ systemd-analyze verify /etc/systemd/system/mavgate.service && systemctl enable --now mavgate`)
    .action(async (opts: { policy: string; config?: string; user: string; exec?: string }) => {
      const { systemdUnit } = await import('../hardware/systemd-unit.js');
      // Node by its absolute path (systemd's PATH need not hold the node that `#!/usr/bin/env` found here), with mavgate's Node flags.
      const exec = opts.exec ? [resolve(opts.exec)] : [process.execPath, ...NODE_FLAGS, realpathSync(process.argv[1]!)];
      const policy = (await loadPolicy(opts.policy))!;
      const args = [...(opts.config ? ['--config', resolve(opts.config)] : []), '--policy', resolve(opts.policy), '--status-interval', '0'];
      process.stdout.write(systemdUnit(policy, { exec, args, user: opts.user, environment: nodeEnvAssignments() }));
    });

  program
    .command('ports')
    .description('list serial ports, marking the ones that look like autopilots or telemetry radios')
    .option('--json', 'print JSON instead of a table')
    .addHelpText('after', `
Examples:
  $ mavgate ports                                      # path, USB ids, maker, serial number, what it looks like
  $ mavgate ports --json | jq -r '.[] | select(.match.kind == "radio") | .path'`)
    .action(async (opts: { json?: boolean }) => {
      const { listSerialPorts } = await import('../links/ports.js');
      const ports = await listSerialPorts();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(ports, null, 2)}\n`);
        return;
      }
      if (ports.length === 0) {
        process.stdout.write('no serial ports found\n');
        return;
      }
      for (const p of ports) {
        const ids = p.vendorId ? `${p.vendorId}:${p.productId ?? '????'}` : '-';
        const what = p.match ? `${p.match.kind}: ${p.match.name}` : '';
        process.stdout.write(`${p.path.padEnd(16)} ${ids.padEnd(10)} ${(p.manufacturer ?? '').padEnd(20)} ${(p.serialNumber ?? '').padEnd(18)} ${what}\n`);
      }
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof ResidencyRefusal) {
      process.stderr.write(`mavgate: ${err.message}\n`);
      return EXIT_RESIDENCY;
    }
    if (err instanceof AuditLogError) {
      process.stderr.write(`mavgate: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof InputError || err instanceof UnknownDialectError || err instanceof EndpointError || err instanceof LinkError || err instanceof PolicyError || err instanceof KeyFileError) {
      process.stderr.write(`mavgate: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // A reader that went away (`| head`) is not an error of ours.
  if (err.code === 'EPIPE') process.exit(EXIT_OK);
  throw err;
});

process.exitCode = await main(process.argv);
