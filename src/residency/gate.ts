/**
 * The egress gate: the one module that decides whether mavgate may send to a network
 * address, listen on one, open a local device, or write in a directory. What it approves
 * it hands out as a grant; the functions that open sockets, serial ports and files take a
 * grant, and a grant can only come from here (a branded type, and a registry checked at
 * run time). Every decision goes to the audit log once one is attached.
 */
import { lookup } from 'node:dns/promises';
import { mkdirSync, realpathSync } from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import type { MessageRegistry } from '../mavlink/index.js';
import { ClassTable } from './data-classes.js';
import { buildEgressFilter, type EgressFilter } from './egress-filter.js';
import { EgressMeter } from './egress-meter.js';
import { type DestinationRule, PolicyError, type ResidencyPolicy, type Role } from './policy.js';
import { assertGrant, type ConnectGrant, type DeviceGrant, type DirectoryGrant, type Grant, type GrantFields, type InProcessGrant, isLive, type ListenGrant, mintGrant, type Protocol, rejudgeGrant, releaseGrant } from './grants.js';
import { ResidencyRefusal } from './refusal.js';
import { addressInRange, bracketedHost, brokerTransportRefusal, isIpLiteral, judgeClient, judgeClientServer, judgeDestination, judgeDirectory, judgeListener, type Verdict } from './verdicts.js';

export { assertGrant, checkGrant, releaseGrant, watchGrant, type ConnectGrant, type DeviceGrant, type DirectoryGrant, type Grant, type GrantWatcher, type InProcessGrant, type ListenGrant, type Protocol } from './grants.js';
export { EXIT_RESIDENCY, ResidencyRefusal } from './refusal.js';

/** Where the gate writes its decisions: the audit log, attached once it is open. */
export interface AuditTrail {
  append(event: string, details: Record<string, unknown>): unknown;
}

/** What a new policy changed: the grants it revoked. */
export interface PolicyChange {
  revoked: ResidencyRefusal[];
}

export type Resolver = (host: string) => Promise<string[]>;
const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Events the dashboard lists as refusals. */
const REFUSALS = new Set(['refused', 'revoked', 'peer_refused', 'client_refused', 'client_refused_message', 'control_refused', 'signing_rejected', 'recording_error', 'recording_dropping']);
const RECENT_REFUSALS = 20;

export class EgressGate {
  private audit: AuditTrail | null = null;
  /** The grant the audit log was opened with: a new policy must keep approving it. */
  private auditGrant: DirectoryGrant | null = null;
  /** The newest refusals (whether or not an audit log is attached), newest last. */
  readonly recentRefusals: { at: string; event: string; details: Record<string, unknown> }[] = [];
  private current: ResidencyPolicy;
  private directoryRoots: Map<string, string>;
  private classes: { policy: ResidencyPolicy; table: ClassTable } | null = null;
  /** Grants handed out and not yet released or revoked: judged again by every new policy. */
  private readonly live = new Set<Grant>();
  /** Bumped by every new policy: what was refused under the old one is judged (and audited) afresh. */
  private epoch = 0;
  /** Told of every new policy: what is judged per connection rather than by a grant (clients). */
  private readonly policyWatchers = new Set<() => void>();

  constructor(policy: ResidencyPolicy, private readonly resolveHost: Resolver = systemResolver) {
    this.current = policy;
    this.directoryRoots = rootsOf(this.current);
  }

  /** The policy in force: every decision, at grant time and after, is made against it. */
  get policy(): ResidencyPolicy {
    return this.current;
  }

  /** From now on every decision is recorded; the policy itself first. `grant` is the directory the log lives in. */
  attachAudit(audit: AuditTrail, grant?: DirectoryGrant): void {
    this.audit = audit;
    this.auditGrant = grant ?? null;
    this.recordPolicy();
  }

  private recordPolicy(): void {
    const p = this.current;
    this.record('policy_loaded', { source: p.source, policy_sha256: p.sha256, site: p.site, jurisdiction: p.jurisdiction });
  }

  /** Records an event in the audit log, if there is one (links up and down, say). */
  record(event: string, details: Record<string, unknown>): void {
    this.audit?.append(event, details);
    if (REFUSALS.has(event)) {
      this.recentRefusals.push({ at: new Date().toISOString(), event, details });
      if (this.recentRefusals.length > RECENT_REFUSALS) this.recentRefusals.shift();
    }
  }

  /**
   * A new policy takes force (a reload). Every live grant is judged again, synchronously:
   * one the new policy refuses is revoked and audited, and its holders stop before
   * anything more is sent; the others are told to rebuild what depends on their rule.
   * A policy that would refuse the running audit log's own directory is itself refused
   * (the log cannot move while it is being written): nothing changes, and it throws.
   */
  applyPolicy(next: ResidencyPolicy, onHolderError: (err: unknown) => void = (err) => { throw err; }): PolicyChange {
    const roots = rootsOf(next);
    if (this.auditGrant) {
      const verdict = judgeDirectory(next, this.auditGrant.path, roots);
      if (!verdict.approved) {
        const refusal = new ResidencyRefusal('audit.directory', this.auditGrant.path, verdict.rule, `${verdict.reason}; the audit log cannot move while mavgate runs: restart with the new policy to move it`);
        this.record('policy_refused', { source: next.source, policy_sha256: next.sha256, reason: refusal.message });
        throw refusal;
      }
    }
    this.current = next;
    this.epoch++;
    this.directoryRoots = roots;
    this.recordPolicy();
    const revoked: ResidencyRefusal[] = [];
    for (const grant of [...this.live]) {
      const refusal = rejudgeGrant(grant, onHolderError);
      if (refusal) {
        revoked.push(refusal);
        this.record('revoked', { entry: refusal.entry, destination: refusal.destination, rule: refusal.rule, reason: refusal.reason });
      }
      if (!isLive(grant)) this.live.delete(grant);
    }
    for (const watcher of [...this.policyWatchers]) {
      try {
        watcher();
      } catch (err) {
        onHolderError(err);
      }
    }
    return { revoked };
  }

  /** Calls `listener` synchronously after each new policy took force and its grants were judged; returns a function that stops it. */
  watchPolicy(listener: () => void): () => void {
    this.policyWatchers.add(listener);
    return () => this.policyWatchers.delete(listener);
  }

  async grantConnect(entry: string, protocol: Protocol, host: string, port: number): Promise<ConnectGrant> {
    const destination = `${protocol}:${bracketedHost(host)}:${port}`;
    let addresses: string[];
    try {
      addresses = isIpLiteral(host) ? [host] : await this.resolveHost(host);
    } catch (err) {
      return this.refuse(entry, destination, 'approved_sinks.networks', `cannot resolve ${host}: ${(err as Error).message}`);
    }
    if (addresses.length === 0) return this.refuse(entry, destination, 'approved_sinks.networks', `${host} resolves to nothing`);
    // Every address the name resolves to must be approved: any of them could be the one used.
    let verdict: Verdict | null = null;
    for (const address of addresses) {
      verdict = judgeDestination(this.current, address, port);
      if (!verdict.approved) return this.refuse(entry, `${destination} (${address})`, verdict.rule, verdict.reason);
    }
    const address = addresses[0]!;
    // Judged again by the address in use: the name is never resolved again.
    return this.issue<ConnectGrant>({ kind: 'connect', protocol, host, address, port, rule: verdict!.rule, entry }, destination, () => judgeDestination(this.current, address, port));
  }

  /**
   * A message broker (`mqtt://` or `mqtts://` URL, its host and port already read): a
   * network destination like any other, reached in the clear only on this machine.
   */
  async grantBroker(entry: string, broker: string, host: string, port: number): Promise<ConnectGrant> {
    const grant = await this.grantConnect(entry, 'tcp', host, port);
    const refusal = brokerTransportRefusal(new URL(broker).protocol, grant.address);
    if (!refusal) return grant;
    releaseGrant(grant);
    this.live.delete(grant);
    return this.refuse(entry, broker, 'mqtt transport', refusal);
  }

  /**
   * The client server's listener: a listen grant that also holds only while its transport
   * is allowed (plain HTTP beyond loopback only when the policy says so, which is audited
   * at every start), under this policy and every later one.
   */
  async grantClientServer(entry: string, host: string, port: number, tls: boolean): Promise<ListenGrant> {
    const grant = await this.grantListen(entry, 'tcp', host, port, (address) => judgeClientServer(this.current, address, tls));
    if (!tls && this.current.plaintextLan && judgeClientServer(this.current, grant.address, false).rule === 'server.plaintext_lan') {
      this.record('plaintext_lan', { entry, address: grant.address, port, rule: 'server.plaintext_lan' });
    }
    return grant;
  }

  /** `alsoJudge`: a further rule the listener must pass, now and under every later policy. */
  async grantListen(entry: string, protocol: Protocol, host: string, port: number, alsoJudge?: (address: string) => Verdict): Promise<ListenGrant> {
    const destination = `${protocol}-listen:${bracketedHost(host)}:${port}`;
    const address = isIpLiteral(host) ? host : (await this.resolveHost(host).catch(() => []))[0];
    if (!address) return this.refuse(entry, destination, 'listen', `cannot resolve ${host}`);
    const judge = (): Verdict => {
      const listener = judgeListener(this.current, address);
      return listener.approved && alsoJudge ? alsoJudge(address) : listener;
    };
    const verdict = judge();
    if (!verdict.approved) return this.refuse(entry, destination, verdict.rule, verdict.reason);
    let refusedPeers = new Set<string>();
    let refusedUnder = this.epoch;
    const acceptsPeer = (peer: string, peerPort: number): boolean => {
      const v = judgeDestination(this.current, peer, peerPort);
      if (refusedUnder !== this.epoch) {
        refusedPeers = new Set();
        refusedUnder = this.epoch;
      }
      if (!v.approved && !refusedPeers.has(peer)) {
        refusedPeers.add(peer);
        this.record('peer_refused', { entry, listener: destination, peer: `${peer}:${peerPort}`, rule: v.rule, reason: v.reason });
      }
      return v.approved;
    };
    return this.issue<ListenGrant>({ kind: 'listen', protocol, address, port, rule: verdict.rule, entry, acceptsPeer }, destination, judge);
  }

  /**
   * May a ground-control client connect from `address` with `role`? Its network must be
   * one of the policy's client networks, and allow that role. Refusals are audited.
   */
  admitClient(entry: string, address: string, role: Role): Verdict {
    const network = judgeClient(this.current, address);
    const verdict: Verdict = !network.approved || network.roles.includes(role)
      ? network
      : { approved: false, rule: network.rule, reason: `a ${role} may not connect from ${address} (${network.rule} allows ${network.roles.join(', ')})` };
    if (!verdict.approved) this.record('client_refused', { entry, address, role, rule: verdict.rule, reason: verdict.reason });
    return verdict;
  }

  /** A local serial device: it carries telemetry to the vehicle, not off the premises. */
  grantDevice(entry: string, path: string): DeviceGrant {
    return this.issue<DeviceGrant>({ kind: 'device', path, rule: 'local device', entry }, `serial:${path}`, () => ({ approved: true, rule: 'local device' }));
  }

  /** The simulated vehicle, or a recording played back: in the process, no egress. */
  grantInProcess(entry: string, destination = 'sim', rule = 'in-process simulated vehicle'): InProcessGrant {
    return this.issue<InProcessGrant>({ kind: 'in-process', rule, entry }, destination, () => ({ approved: true, rule }));
  }

  /**
   * The data classes of the gateway's registry, with the policy's moves applied (built
   * once per policy). A move of an unknown message is a policy error.
   */
  classTable(registry: MessageRegistry): ClassTable {
    if (this.classes?.policy === this.current) return this.classes.table;
    for (const name of Object.keys(this.current.classOverrides)) {
      if (!registry.byName(name)) throw new PolicyError(this.current.source, `classes.${name}`, 'no such message in the dialects in use');
    }
    this.classes = { policy: this.current, table: new ClassTable(registry, this.current.classOverrides) };
    return this.classes.table;
  }

  get auditing(): boolean {
    return this.audit !== null;
  }

  /**
   * What a granted destination may receive under the policy in force, and a meter of
   * what it got. For a network destination, the first rule whose network holds its
   * address applies; with none (and for devices, listeners, the in-process vehicle)
   * every class goes unredacted. Holders ask again when a new policy takes force.
   */
  egressFor(grant: Grant, registry: MessageRegistry): { filter: EgressFilter; meter: EgressMeter; rule: DestinationRule | undefined } {
    assertGrant(grant, grant.kind);
    const rule = grant.kind === 'connect' ? this.current.rules.find((r) => r.range !== null && addressInRange(grant.address, r.range)) : undefined;
    if (rule) this.record('rule_applied', { entry: grant.entry, rule: rule.key, classes: [...rule.classes], redact: Object.fromEntries(rule.redact) });
    return this.egress(rule, registry);
  }

  /**
   * What every client of `role` may receive (the first `to: role:…` rule), and a meter:
   * the plug-in point for the client server, which asks once per connected client.
   */
  egressForRole(role: Role, registry: MessageRegistry): { filter: EgressFilter; meter: EgressMeter; rule: DestinationRule | undefined } {
    return this.egress(this.current.rules.find((r) => r.role === role), registry);
  }

  private egress(rule: DestinationRule | undefined, registry: MessageRegistry): { filter: EgressFilter; meter: EgressMeter; rule: DestinationRule | undefined } {
    const meter = new EgressMeter();
    return { filter: buildEgressFilter(rule, this.classTable(registry), registry, meter), meter, rule };
  }

  /**
   * A directory for telemetry files: its real path (symlinks and `..` resolved) must be
   * inside an approved one. Created if missing. Judged again by its real path whenever a
   * file is created in it or it is recreated (`checkGrant`): a directory replaced by a
   * symlink pointing elsewhere is refused then, not followed.
   */
  grantDirectory(entry: string, path: string): DirectoryGrant {
    const real = realpathOfPossiblyMissing(resolve(path));
    const verdict = judgeDirectory(this.current, real, this.directoryRoots);
    if (!verdict.approved) return this.refuse(entry, path, verdict.rule, verdict.reason);
    mkdirSync(real, { recursive: true, mode: 0o700 });
    return this.issue<DirectoryGrant>({ kind: 'directory', path: real, rule: verdict.rule, entry }, path, () => {
      const now = realpathOfPossiblyMissing(real);
      if (now !== real) return { approved: false, rule: 'approved_sinks.directories', reason: `${real} now leads to ${now} (replaced by a symlink?): not followed` };
      return judgeDirectory(this.current, real, this.directoryRoots);
    });
  }

  private issue<G extends Grant>(fields: GrantFields<G>, destination: string, judge: () => Verdict): G {
    // A refusal found at use (checkGrant) is audited once until the grant is approved again.
    let refusedAt = -1;
    const grant = mintGrant<G>(fields, destination, () => {
      const verdict = judge();
      if (verdict.approved) refusedAt = -1;
      return verdict;
    }, (refusal) => {
      if (refusedAt === this.epoch) return;
      refusedAt = this.epoch;
      this.record('refused', { entry: refusal.entry, destination: refusal.destination, rule: refusal.rule, reason: refusal.reason });
    });
    this.live.add(grant);
    this.record('granted', { entry: grant.entry, destination, kind: grant.kind, rule: grant.rule });
    return grant;
  }

  private refuse(entry: string, destination: string, rule: string, reason: string): never {
    this.record('refused', { entry, destination, rule, reason });
    throw new ResidencyRefusal(entry, destination, rule, reason);
  }
}

/** The real paths of a policy's approved directories that exist. */
function rootsOf(policy: ResidencyPolicy): Map<string, string> {
  const roots = new Map<string, string>();
  for (const d of policy.directories) {
    try {
      roots.set(d.key, realpathSync(d.path));
    } catch {
      // Not created yet.
    }
  }
  return roots;
}

/** The real path of `path`, or of its nearest existing ancestor with the rest appended. */
function realpathOfPossiblyMissing(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    if (parent === path) return path;
    return join(realpathOfPossiblyMissing(parent), basename(path));
  }
}
