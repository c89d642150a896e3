/**
 * `mavgate run`: the gateway, from a config file or flags. With no link it starts the
 * built-in simulated vehicle in-process, so a newcomer sees live telemetry at once.
 */
import type { Endpoint } from '../links/endpoint.js';
import { MAV_TYPE } from '../mavlink/enums.js';
import { AuditLog } from '../residency/audit-log.js';
import { EgressGate } from '../residency/gate.js';
import { defaultPolicy } from '../residency/policy.js';
import type { ClientServices } from '../server/client-services.js';
import type { MqttSink } from '../sinks/mqtt-sink.js';
import type { Recorder } from '../sinks/recorder.js';
import { Gateway } from '../gateway/gateway.js';
import { udpBackend, UdpLink } from '../links/udp-link.js';
import { checkRecording } from './input.js';
import { type Logger, summarisingLogger } from './log.js';
import type { RunConfig } from './run-config.js';
import type { OnboardLogService } from '../sinks/onboard-logs/log-service.js';
import { loadKey } from '../sinks/key-file.js';
import { clientStatus, recordingReports, recordingStatus, startClients, startMqtt, startOnboardLogs, startRecorder } from './run-services.js';
import { StatusLine } from './status.js';
import { simulatedWarning } from './simulated.js';
import { describeTokenChanges } from './token-watch.js';

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
export async function startGateway(config: RunConfig, logLine: Logger, reloadConfig?: () => Promise<RunConfig>): Promise<RunningGateway> {
  // Events that can come with every frame are written once, then counted.
  const log = summarisingLogger(logLine);
  const links: Endpoint[] = config.links.length > 0 ? config.links : [{ kind: 'sim', text: 'sim' }];
  if (config.links.length === 0) {
    const why = config.configFile ? `${config.configFile} has no links: and no --link was given` : 'no link given';
    log('warn', `${why}: starting the built-in simulated vehicle (use --link, or links: in the config file, to connect a real one)`);
  }
  // A file that is not a recording would play nothing while the gateway ran on: refused before anything starts.
  for (const link of links) if (link.kind === 'replay') await checkRecording(link.path, config.replay?.key ?? null);
  const simulated = simulatedWarning(links);
  if (simulated) log('warn', simulated);
  // One gate for the whole run: it holds the policy in force, and a reload changes it there.
  const gate = new EgressGate(config.policy ?? defaultPolicy());
  // With a policy, every decision is audited, in a directory the policy itself approves.
  let audit: AuditLog | null = null;
  if (config.policy) {
    const grant = gate.grantDirectory('audit.directory', config.policy.auditDirectory);
    audit = new AuditLog(grant, { newChain: config.newAuditChain === true });
    gate.attachAudit(audit, grant);
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
    } else if (e.type === 'revoked') {
      log('warn', `link ${e.link.endpoint.text}: closed: ${e.refusal.message}`);
    } else if (e.type === 'notice') {
      log(e.level, e.message);
    } else if (e.type === 'vehicle') {
      const c = e.event.component;
      // Ground stations, cameras and mavgate's own heartbeat are not vehicles: one line when first heard, if not ours.
      if (!c.isVehicle) {
        const own = c.sysid === gateway.node.options.sysid && c.compid === gateway.node.options.compid;
        if (e.event.type === 'seen' && !own) log('info', `${c.heartbeat!.type === MAV_TYPE.GCS ? 'ground station' : 'component'} ${c.sysid}/${c.compid}: heard (not a vehicle)`);
        return;
      }
      const who = () => `system ${c.sysid}/${c.compid}`;
      const hb = c.heartbeat!;
      if (e.event.type === 'seen') log('info', `${who()}: heartbeat, ${hb.mode}, ${hb.armed ? 'armed' : 'disarmed'}`);
      if (e.event.type === 'lost') log('warn', `${who()}: lost (no heartbeat for 3 s)`);
      if (e.event.type === 'back') log('info', `${who()}: back`);
      // A heartbeat may change the mode on every frame (a broken or hostile vehicle): one line, then a count,
      // and the line is only made when it is written.
      if (e.event.type === 'mode') log('info', () => `${who()}: ${hb.mode}, ${hb.armed ? 'armed' : 'disarmed'}`, (c.sysid << 8) | c.compid);
    } else {
      const error = e.error instanceof Error ? e.error : new Error(String(e.error));
      log('error', `internal error (relay continues): ${error.stack ?? error.message}`, `internal error ${error.message}`);
    }
  });
  gateway.monitor.events$.subscribe((e) => {
    if (e.type === 'diagnosis') log('warn', `link ${e.endpoint}: ${e.repeat ? 'still: ' : ''}${e.diagnosis.message}`);
    else log('info', `link ${e.endpoint}: frames get through again`);
  });
  let recorder: Recorder | null = null;
  try {
    recorder = config.recording ? await startRecorder(gateway, gate, config.recording, log) : null;
  } catch (err) {
    audit?.close();
    throw err;
  }
  // Through the variable: a recorder started again after a reload takes over.
  gateway.router.onFrame((frame, from) => recorder?.observe(frame, from.endpoint.role === 'link'));
  const auditHead = audit ? () => audit!.chainHead : undefined;
  // Signal handlers before start-up: a signal that arrives while links open must not kill the process.
  let clients: ClientServices | null = null;
  let mqttSink: MqttSink | null = null;
  let onboardLogs: OnboardLogService | null = null;
  const statusLine = new StatusLine(gateway, Date.now, () => [
    ...(clients ? [clientStatus(clients)] : []),
    ...(recorder ? [recordingStatus(recorder.stats())] : []),
  ]);
  // The status line is asked for (a period, SIGUSR1): never summarised.
  const printStatus = () => logLine('info', statusLine.render());
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
        let revoked = 0;
        const newPolicy = next.policy !== undefined && next.policy.sha256 !== gate.policy.sha256;
        if (newPolicy) {
          // Synchronous: what the new policy refuses is off the router before the next frame.
          revoked = gate.applyPolicy(next.policy!, (error) => log('error', `new policy: ${error instanceof Error ? error.message : String(error)}`)).revoked.length;
        }
        const r = await gateway.reload(next.links.length > 0 ? next.links : links);
        for (const why of [...r.refused, ...r.failed]) log('warn', why);
        // A sink a policy refused before starts again once the policy in force approves it.
        if (recorder?.stats().state === 'refused' && config.recording) recorder = await restart('recording', () => startRecorder(gateway, gate, config.recording!, log)) ?? recorder;
        if (mqttSink?.revoked && config.mqtt) mqttSink = await restart('mqtt', () => startMqtt(gateway, config.mqtt!, log, auditHead)) ?? mqttSink;
        if (clients) {
          const tokens = describeTokenChanges(clients.applyTokens(next.server.tokens));
          if (tokens) log('info', `SIGHUP: ${tokens}`);
          await clients.tls?.check();
        }
        log('info', `SIGHUP: reloaded${newPolicy ? ` with a new policy (${revoked} grant(s) revoked)` : ''}: ${r.added.length} link(s) added, ${r.removed.length} removed, ${r.refused.length} refused, ${r.failed.length} failed`);
      } catch (err) {
        log('error', `SIGHUP: configuration not reloaded, the running one stays: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
  };
  /** Starts a sink again; a refusal (the policy still refuses it) is logged, not fatal. */
  const restart = async <T>(what: string, start: () => T | Promise<T>): Promise<T | null> => {
    try {
      const started = await start();
      log('info', `${what}: started again: the policy in force approves it`);
      return started;
    } catch (err) {
      log('warn', `${what}: still not started: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
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
    if (config.mqtt) mqttSink = await startMqtt(gateway, config.mqtt, log, auditHead);
    if (config.server.listen || config.server.gcs.length > 0) {
      const key = config.recording?.keyFile ? loadKey(config.recording.keyFile) : null;
      onboardLogs = await startOnboardLogs(gateway, key);
      const recordings = config.recording ? await recordingReports(gateway, () => recorder?.directory ?? null, key) : undefined;
      clients = await startClients(gateway, () => ({ recorder, mqttSink }), config, log, { logs: onboardLogs, ...(recordings ? { recordings } : {}) });
    }
  } catch (err) {
    unhook();
    await onboardLogs?.stop();
    await mqttSink?.stop();
    if (gatewayUp) await gateway.stop();
    await recorder?.close();
    audit?.close();
    throw err;
  }
  started = true;
  log('info', `running: ${gateway.links.length} link(s); SIGUSR1 prints the status${reloadConfig ? ', SIGHUP reloads the configuration' : ''}`);
  sayUdpBackend(gateway, log);

  return {
    gateway,
    recorder,
    clients,
    async stop() {
      unhook();
      await clients?.stop();
      await onboardLogs?.stop();
      await gateway.stop();
      log('info', 'stopped: links closed');
      if (recorder) {
        await recorder.close();
        const { recorded, unwritten, dropped, refused } = recorder.stats();
        const lost = [unwritten ? `${unwritten} could not be written` : '', dropped ? `${dropped} dropped while the disk lagged` : '', refused ? `${refused} refused by the policy` : ''].filter(Boolean);
        log(lost.length ? 'warn' : 'info', `recording closed: ${recorded} frames in ${recorder.directory}${lost.length ? ` (frames not recorded: ${lost.join(', ')})` : ''}`);
      }
      // Last before the audit log closes: the broker keeps the final chain head as a witness.
      await mqttSink?.stop();
      if (audit) {
        const head = audit.close();
        log('info', `audit log ${audit.path}: chain head seq ${head.seq} ${head.hash}`);
      }
      log.flush();
    },
  };
}

/** Which UDP links run on Node's dgram instead of the native path, and why (a build that failed, MAVGATE_UDP). */
function sayUdpBackend(gateway: Gateway, log: Logger): void {
  if (udpBackend.warning) log('warn', udpBackend.warning);
  const onDgram = gateway.links.flatMap(({ link }) => (link instanceof UdpLink && link.backendReason ? [`${link.endpoint.text} (${link.backendReason})`] : []));
  if (onDgram.length > 0) log('info', `UDP on Node's dgram, not the native recvmmsg path: ${onDgram.join('; ')}`);
}
