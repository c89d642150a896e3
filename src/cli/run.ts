/**
 * `mavgate run`: the gateway, from a config file or flags. With no link it starts the
 * built-in simulated vehicle in-process, so a newcomer sees live telemetry at once.
 */
import { readFileSync } from 'node:fs';
import { AuditLog } from '../residency/audit-log.js';
import { EgressGate } from '../residency/gate.js';
import { defaultPolicy } from '../residency/policy.js';
import { Gateway } from './gateway.js';
import type { Logger } from './log.js';
import type { RunConfig } from './run-config.js';
import { StatusLine } from './status.js';
import { InputError } from './errors.js';
import type { ClientServices } from '../server/client-services.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The client server and GCS endpoints; their configuration errors are the user's to fix (exit 2). */
async function startClients(gateway: Gateway, config: RunConfig, log: Logger): Promise<ClientServices> {
  const [{ ClientServices, ServerConfigError }, { PermissionError }] = await Promise.all([import('../server/client-services.js'), import('../server/permissions.js')]);
  try {
    return await ClientServices.start(gateway, config.server, version, log);
  } catch (err) {
    if (err instanceof PermissionError || err instanceof ServerConfigError) throw new InputError(err.message);
    throw err;
  }
}

export interface RunningGateway {
  gateway: Gateway;
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
  const links = config.links.length > 0 ? config.links : [{ kind: 'sim' as const, text: 'sim' }];
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
  // Signal handlers before start-up: a signal that arrives while links open must not kill the process.
  const statusLine = new StatusLine(gateway);
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
  let clients: ClientServices | null = null;
  let gatewayUp = false;
  try {
    await gateway.start();
    gatewayUp = true;
    if (config.server.listen || config.server.gcs.length > 0) clients = await startClients(gateway, config, log);
  } catch (err) {
    unhook();
    if (gatewayUp) await gateway.stop();
    audit?.close();
    throw err;
  }
  started = true;
  log('info', `running: ${gateway.links.length} link(s); SIGUSR1 prints the status${reloadConfig ? ', SIGHUP reloads the configuration' : ''}`);

  return {
    gateway,
    clients,
    async stop() {
      unhook();
      await clients?.stop();
      await gateway.stop();
      log('info', 'stopped: links closed');
      if (audit) {
        const head = audit.close();
        log('info', `audit log ${audit.path}: chain head seq ${head.seq} ${head.hash}`);
      }
    },
  };
}
