/**
 * What `mavgate run` starts next to the gateway (the recorder, the MQTT sink, the client
 * server), each with its settings checked and its refusals typed, and their parts of the
 * status line.
 */
import { realpathSync } from 'node:fs';
import { DATA_CLASSES } from '../residency/data-classes.js';
import { isRevoked } from '../residency/grants.js';
import { dataDirectory, type ResidencyPolicy, type Role } from '../residency/policy.js';
import type { DirectoryGrant, EgressGate } from '../residency/gate.js';
import type { ClientServices } from '../server/client-services.js';
import type { AfterFlight } from '../server/http-server.js';
import { loadKey } from '../sinks/key-file.js';
import type { MqttSink } from '../sinks/mqtt-sink.js';
import type { RecordingReports } from '../sinks/flight-report/recording-reports.js';
import type { OnboardLogService } from '../sinks/onboard-logs/log-service.js';
import type { Recorder, RecorderStats } from '../sinks/recorder.js';
import type { TokenEntry } from '../server/tokens.js';
import { TlsFileError } from '../server/settings.js';
import type { RecordingLabels } from '../sinks/recording-file.js';
import { InputError } from './errors.js';
import { isSimulatedSource } from './simulated.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Logger } from './log.js';
import type { MqttConfig, RecordingConfig, RunConfig } from './run-config.js';
import { version } from './version.js';

/** What every file mavgate writes says about where it was made. */
export function labelsOf(policy: ResidencyPolicy): RecordingLabels {
  return { site: policy.site, jurisdiction: policy.jurisdiction, policySha256: policy.sha256, gatewayVersion: version };
}

/**
 * Onboard logs downloaded by the gateway for its clients, into `logs/` of the policy's
 * data directory, encrypted when recordings are. The directory is granted by the gate in
 * force for each request, so a reloaded policy applies to the next download. Loaded with
 * the client server (a relay without one does not pay for it).
 */
export async function startOnboardLogs(gateway: Gateway, key: Buffer | null): Promise<OnboardLogService> {
  const [{ LogStore }, { OnboardLogService }] = await Promise.all([import('../sinks/onboard-logs/log-store.js'), import('../sinks/onboard-logs/log-service.js')]);
  const directory = dataDirectory(gateway.gate.policy, 'logs');
  const grant = directoryGrant(gateway, 'logs directory', () => directory);
  return new OnboardLogService({
    registry: gateway.registry,
    router: gateway.router,
    state: gateway.state,
    directory,
    openStore: () => new LogStore(grant(), labelsOf(gateway.gate.policy), key),
    // The gateway's system, with a ground station's component id of its own: its sequence numbers are its own.
    source: { sysid: gateway.node.options.sysid, compid: 190 },
    audit: (event, details) => gateway.gate.record(event, details),
  });
}

/**
 * A directory granted when first needed, and asked for again only once a new policy
 * revoked the grant (each grant is audited: asking at every request would flood the log).
 */
function directoryGrant(gateway: Gateway, entry: string, directory: () => string): () => DirectoryGrant {
  let grant: DirectoryGrant | null = null;
  return () => {
    const path = directory();
    if (!grant || isRevoked(grant) || grant.path !== realDirectory(path)) grant = gateway.gate.grantDirectory(entry, path);
    return grant;
  };
}

function realDirectory(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * The recordings' reports for the dashboard: the recorder's directory (whichever recorder
 * runs now), reports kept in `reports/`. A report shows everything unredacted, so only a
 * role whose residency rule lets every class through as it is may read one.
 */
export async function recordingReports(gateway: Gateway, recordings: () => string | null, key: Buffer | null): Promise<RecordingReports> {
  const { RecordingReports } = await import('../sinks/flight-report/recording-reports.js');
  const reports = directoryGrant(gateway, 'reports directory', () => dataDirectory(gateway.gate.policy, 'reports'));
  const recorded = directoryGrant(gateway, 'recording.directory', () => recordings() ?? dataDirectory(gateway.gate.policy, 'recordings'));
  return new RecordingReports({
    recordings: recorded,
    reports,
    key,
    generator: `mavgate ${version}`,
    mayRead: (reader) => {
      const rule = gateway.gate.egressForRole(reader.role as Role, gateway.registry).rule;
      if (!rule || (rule.classes.size === DATA_CLASSES.length && rule.redact.size === 0)) return null;
      return `a report shows every class of data unredacted, and the residency rule for the ${reader.role} role (${rule.key}) withholds or redacts some: a role without such a rule may read reports`;
    },
  });
}

/** The recorder, in a directory the gate grants (refused: exit 3), with the policy's labels on every file. Loaded when recording. */
export async function startRecorder(gateway: Gateway, gate: EgressGate, config: RecordingConfig, log: Logger): Promise<Recorder> {
  const { DEFAULT_RECORDER, Recorder } = await import('../sinks/recorder.js');
  const directory = config.directory ?? dataDirectory(gate.policy, 'recordings');
  const key = config.keyFile ? loadKey(config.keyFile) : null;
  const grant = gate.grantDirectory('recording.directory', directory);
  return new Recorder(
    grant,
    labelsOf(gate.policy),
    gateway.registry,
    gateway.state,
    {
      flushIntervalMs: config.flushIntervalMs,
      ...(config.rotateBytes !== undefined ? { rotateBytes: config.rotateBytes } : {}),
      ...(config.rotateMs !== undefined ? { rotateMs: config.rotateMs } : {}),
      retention: { ...(config.retainMs !== undefined ? { maxAgeMs: config.retainMs } : {}), ...(config.retainBytes !== undefined ? { maxTotalBytes: config.retainBytes } : {}) },
      queueBytes: DEFAULT_RECORDER.queueBytes,
      key,
    },
    {
      audit: (event, details) => gate.record(event, details),
      log,
      simulated: (sysid) => gateway.links.some((h) => isSimulatedSource(h.link.endpoint) && h.port.systems.has(sysid)),
    },
  );
}

/** Connected clients, and REST callers apart (each is listed until it has been quiet for a minute, as `/health` counts it). */
export function clientStatus(c: ClientServices): string {
  const sessions = [...c.hub.sessions.values()];
  const rest = sessions.filter((s) => s.kind === 'rest').length;
  const holder = c.hub.lease.holder;
  return `clients ${sessions.length - rest}${rest ? ` (+${rest} REST)` : ''}${holder ? ` control ${holder.principal}` : ''}`;
}

export function recordingStatus(r: RecorderStats): string {
  const mb = r.files.reduce((n, f) => n + f.bytes, 0) / 1e6;
  const parts = [`rec ${r.state === 'error' ? `ERROR ${r.error}` : `${r.files.length} file(s) ${mb.toFixed(1)} MB`}`];
  if (r.dropped > 0) parts.push(`DROPPED ${r.dropped}`);
  if (r.queuedBytes > 1e6) parts.push(`waiting ${(r.queuedBytes / 1e6).toFixed(1)} MB`);
  return parts.join(' ');
}

/** The MQTT sink: the broker granted by the gate (refused: exit 3), its settings checked (exit 2). */
export async function startMqtt(gateway: Gateway, config: MqttConfig, log: Logger, auditHead?: () => { seq: number; hash: string }): Promise<MqttSink> {
  const { MqttSink, MqttConfigError } = await import('../sinks/mqtt-sink.js');
  const spoolDirectory = config.spoolDirectory ?? dataDirectory(gateway.gate.policy, 'mqtt-spool');
  try {
    const parts = { registry: gateway.registry, router: gateway.router, state: gateway.state, gate: gateway.gate, ...(auditHead ? { auditHead } : {}) };
    return await MqttSink.start(parts, { ...config, spoolDirectory }, gateway.gate.policy.site, log);
  } catch (err) {
    if (err instanceof MqttConfigError) throw new InputError(err.message);
    throw err;
  }
}

/** The client server and GCS endpoints; their configuration errors are the user's to fix (exit 2). */
/** `sinks` gives the recorder and the MQTT sink running now (a reload can start them again); `afterFlight`, onboard logs and reports. */
export async function startClients(gateway: Gateway, sinks: () => { recorder: Recorder | null; mqttSink: MqttSink | null }, config: RunConfig, log: Logger, afterFlight: AfterFlight = {}): Promise<ClientServices> {
  const [{ ClientServices, ServerConfigError }, { PermissionError }] = await Promise.all([import('../server/client-services.js'), import('../server/permissions.js')]);
  try {
    const parts = {
      registry: gateway.registry, router: gateway.router, state: gateway.state, node: gateway.node, monitor: gateway.monitor, history: gateway.history,
      get gate() {
        return gateway.gate;
      },
      stats: () => {
        const { recorder, mqttSink } = sinks();
        return { ...gateway.stats(), ...(recorder ? { recording: recorder.stats() } : {}), ...(mqttSink ? { mqtt: mqttSink.stats() } : {}) };
      },
      afterFlight,
    };
    const { configPath } = config;
    // The YAML writer is loaded only when there is a config file to keep tokens in (which loaded YAML already).
    const writeToken = configPath ? (await import('./token.js')).writeToken : null;
    const persistToken = configPath && writeToken ? (entry: TokenEntry) => writeToken(configPath, entry) : undefined;
    return await ClientServices.start(parts, config.server, version, log, persistToken ? { persistToken } : {});
  } catch (err) {
    if (err instanceof PermissionError || err instanceof ServerConfigError) throw new InputError(err.message);
    if (err instanceof TlsFileError) throw new InputError(`server.tls: ${err.message}`);
    throw err;
  }
}
