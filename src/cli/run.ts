/**
 * `mavgate run`: the gateway, from a config file or flags. With no link it starts the
 * built-in simulated vehicle in-process, so a newcomer sees live telemetry at once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Endpoint } from '../links/endpoint.js';
import { AuditLog } from '../residency/audit-log.js';
import { EgressGate } from '../residency/gate.js';
import { defaultPolicy } from '../residency/policy.js';
import type { ClientServices } from '../server/client-services.js';
import { loadKey } from '../sinks/key-file.js';
import { Recorder, type RecorderStats } from '../sinks/recorder.js';
import { InputError } from './errors.js';
import { Gateway } from './gateway.js';
import type { Logger } from './log.js';
import type { MqttConfig, RecordingConfig, RunConfig } from './run-config.js';
import type { MqttSink } from '../sinks/mqtt-sink.js';
import { StatusLine } from './status.js';

/** The recorder, in a directory the gate grants (refused: exit 3), with the policy's labels on every file. */
function startRecorder(gateway: Gateway, gate: EgressGate, config: RecordingConfig, log: Logger): Recorder {
  const { policy } = gate;
  const directory = config.directory ?? join(policy.directories[0]?.path ?? 'mavgate-data', 'recordings');
  const key = config.keyFile ? loadKey(config.keyFile) : null;
  const grant = gate.grantDirectory('recording.directory', directory);
  return new Recorder(
    grant,
    { site: policy.site, jurisdiction: policy.jurisdiction, policySha256: policy.sha256, gatewayVersion: version },
    gateway.registry,
    gateway.state,
    {
      flushIntervalMs: config.flushIntervalMs,
      ...(config.rotateBytes !== undefined ? { rotateBytes: config.rotateBytes } : {}),
      ...(config.rotateMs !== undefined ? { rotateMs: config.rotateMs } : {}),
      retention: { ...(config.retainMs !== undefined ? { maxAgeMs: config.retainMs } : {}), ...(config.retainBytes !== undefined ? { maxTotalBytes: config.retainBytes } : {}) },
      queueBytes: 64 * 1024 * 1024,
      key,
    },
    { audit: (event, details) => gate.record(event, details), log },
  );
}

function clientStatus(c: ClientServices): string {
  const sessions = [...c.hub.sessions.values()].filter((s) => s.kind !== 'rest');
  const holder = c.hub.lease.holder;
  return `clients ${sessions.length}${holder ? ` control ${holder.principal}` : ''}`;
}

function recordingStatus(r: RecorderStats): string {
  const mb = r.files.reduce((n, f) => n + f.bytes, 0) / 1e6;
  const parts = [`rec ${r.state === 'error' ? `ERROR ${r.error}` : `${r.files.length} file(s) ${mb.toFixed(1)} MB`}`];
  if (r.dropped > 0) parts.push(`DROPPED ${r.dropped}`);
  if (r.queuedBytes > 1e6) parts.push(`waiting ${(r.queuedBytes / 1e6).toFixed(1)} MB`);
  return parts.join(' ');
}

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The client server and GCS endpoints; their configuration errors are the user's to fix (exit 2). */
/** The MQTT sink: the broker granted by the gate (refused: exit 3), its settings checked (exit 2). */
async function startMqtt(gateway: Gateway, config: MqttConfig, log: Logger): Promise<MqttSink> {
  const { MqttSink, MqttConfigError } = await import('../sinks/mqtt-sink.js');
  const spoolDirectory = config.spoolDirectory ?? join(gateway.gate.policy.directories[0]?.path ?? 'mavgate-data', 'mqtt-spool');
  try {
    return await MqttSink.start(gateway, { ...config, spoolDirectory }, gateway.gate.policy.site, log);
  } catch (err) {
    if (err instanceof MqttConfigError) throw new InputError(err.message);
    throw err;
  }
}

async function startClients(gateway: Gateway, recorder: Recorder | null, mqttSink: MqttSink | null, config: RunConfig, log: Logger): Promise<ClientServices> {
  const [{ ClientServices, ServerConfigError }, { PermissionError }] = await Promise.all([import('../server/client-services.js'), import('../server/permissions.js')]);
  try {
    const parts = {
      registry: gateway.registry, router: gateway.router, state: gateway.state, node: gateway.node,
      get gate() {
        return gateway.gate;
      },
      stats: () => ({ ...gateway.stats(), ...(recorder ? { recording: recorder.stats() } : {}), ...(mqttSink ? { mqtt: mqttSink.stats() } : {}) }),
    };
    return await ClientServices.start(parts, config.server, version, log);
  } catch (err) {
    if (err instanceof PermissionError || err instanceof ServerConfigError) throw new InputError(err.message);
    throw err;
  }
}

export interface RunningGateway {
  gateway: Gateway;
  recorder: Recorder | null;
  /** The client server and ground-station endpoints (null with --no-server and no --gcs). */
  clients: ClientServices | null;
  /** Closes links and flushes; resolves when everything is shut. */
  stop(): Promise<void>;
}

/**
 * Starts the gateway. With `reloadConfig`, SIGHUP reads the configuration again and
 * applies it: links added or removed, and a new policy judged against every link.
 */
export async function startGateway(config: RunConfig, log: Logger, reloadConfig?: () => Promise<RunConfig>): Promise<RunningGateway> {
  const links: Endpoint[] = config.links.length > 0 ? config.links : [{ kind: 'sim', text: 'sim' }];
  if (config.links.length === 0) log('info', 'no link given: starting the built-in simulated vehicle (use --link to connect a real one)');
  const gate = new EgressGate(config.policy ?? defaultPolicy());
  // With a policy, every decision is audited, in a directory the policy itself approves.
  const audit = config.policy ? new AuditLog(gate.grantDirectory('audit.directory', config.policy.auditDirectory)) : null;
  if (audit) {
    gate.attachAudit(audit);
    log('info', `audit log: ${audit.path}`);
  }
  const gateway = new Gateway({
    gate,
    links,
    ...(config.dialects ? { dialects: config.dialects } : {}),
    ...(config.dedupWindowMs !== undefined ? { dedupWindowMs: config.dedupWindowMs } : {}),
    node: config.node,
    ...(config.replay ? { replay: config.replay } : {}),
    ...(config.fleetTls ? { fleetTls: config.fleetTls } : {}),
  });
  gateway.events$.subscribe((e) => {
    if (e.type === 'link') {
      const level = e.state.status === 'error' || (e.state.status === 'down' && e.state.reason !== 'closed') ? 'warn' : 'info';
      log(level, `link ${e.link.endpoint.text}: ${e.state.status}${e.state.reason ? ` (${e.state.reason})` : ''}`);
    } else if (e.type === 'vehicle') {
      const c = e.event.component;
      const who = `system ${c.sysid}/${c.compid}`;
      if (e.event.type === 'seen') log('info', `${who}: heartbeat, ${c.heartbeat!.mode}, ${c.heartbeat!.armed ? 'armed' : 'disarmed'}`);
      if (e.event.type === 'lost') log('warn', `${who}: lost (no heartbeat for 3 s)`);
      if (e.event.type === 'back') log('info', `${who}: back`);
      if (e.event.type === 'mode') log('info', `${who}: ${c.heartbeat!.mode}, ${c.heartbeat!.armed ? 'armed' : 'disarmed'}`);
    } else {
      log('error', `internal error (relay continues): ${e.error instanceof Error ? e.error.stack : String(e.error)}`);
    }
  });
  let recorder: Recorder | null = null;
  try {
    recorder = config.recording ? startRecorder(gateway, gate, config.recording, log) : null;
  } catch (err) {
    audit?.close();
    throw err;
  }
  if (recorder) {
    const r = recorder;
    gateway.router.onFrame((frame, from) => r.observe(frame, from.endpoint.role === 'link'));
  }
  // Signal handlers before start-up: a signal that arrives while links open must not kill the process.
  let clients: ClientServices | null = null;
  let mqttSink: MqttSink | null = null;
  const statusLine = new StatusLine(gateway, Date.now, () => [
    ...(clients ? [clientStatus(clients)] : []),
    ...(recorder ? [recordingStatus(recorder.stats())] : []),
  ]);
  const printStatus = () => log('info', statusLine.render());
  const timer = config.statusIntervalMs > 0 ? setInterval(printStatus, config.statusIntervalMs) : null;
  const onRequest = () => printStatus();
  process.on('SIGUSR1', onRequest);
  let started = false;
  const onReload = () => {
    if (!reloadConfig) return log('info', 'SIGHUP: nothing to reload (no --config or --policy)');
    if (!started) return log('info', 'SIGHUP: still starting; send it again once the links are up');
    void (async () => {
      try {
        const next = await reloadConfig();
        let gate: EgressGate | undefined;
        if (next.policy && next.policy.sha256 !== gateway.gate.policy.sha256) {
          gate = new EgressGate(next.policy);
          if (audit) gate.attachAudit(audit);
        }
        const r = await gateway.reload(next.links.length > 0 ? next.links : links, gate);
        for (const why of [...r.refused, ...r.failed]) log('warn', why);
        log('info', `SIGHUP: reloaded${gate ? ' with a new policy' : ''}: ${r.added.length} link(s) added, ${r.removed.length} removed, ${r.refused.length} refused, ${r.failed.length} failed`);
      } catch (err) {
        log('error', `SIGHUP: configuration not reloaded, the running one stays: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
  };
  process.on('SIGHUP', onReload);
  const unhook = () => {
    if (timer) clearInterval(timer);
    process.off('SIGUSR1', onRequest);
    process.off('SIGHUP', onReload);
  };
  let gatewayUp = false;
  try {
    await gateway.start();
    gatewayUp = true;
    if (config.mqtt) mqttSink = await startMqtt(gateway, config.mqtt, log);
    if (config.server.listen || config.server.gcs.length > 0) clients = await startClients(gateway, recorder, mqttSink, config, log);
  } catch (err) {
    unhook();
    await mqttSink?.stop();
    if (gatewayUp) await gateway.stop();
    await recorder?.close();
    audit?.close();
    throw err;
  }
  started = true;
  log('info', `running: ${gateway.links.length} link(s); SIGUSR1 prints the status${reloadConfig ? ', SIGHUP reloads the configuration' : ''}`);

  return {
    gateway,
    recorder,
    clients,
    async stop() {
      unhook();
      await clients?.stop();
      await mqttSink?.stop();
      await gateway.stop();
      log('info', 'stopped: links closed');
      if (recorder) {
        await recorder.close();
        log('info', `recording closed: ${recorder.stats().recorded} frames in ${recorder.directory}`);
      }
      if (audit) {
        const head = audit.close();
        log('info', `audit log ${audit.path}: chain head seq ${head.seq} ${head.hash}`);
      }
    },
  };
}
