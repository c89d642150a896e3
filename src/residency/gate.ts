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
import type { AuditLog } from './audit-log.js';
import { ClassTable } from './data-classes.js';
import { buildEgressFilter, type EgressFilter } from './egress-filter.js';
import { EgressMeter } from './egress-meter.js';
import { type DestinationRule, PolicyError, type ResidencyPolicy, type Role } from './policy.js';
import { addressInRange, brokerTransportRefusal, isIpLiteral, judgeClient, judgeDestination, judgeDirectory, judgeListener, type Verdict } from './verdicts.js';

declare const granted: unique symbol;
interface Branded { readonly [granted]: true; readonly rule: string; readonly entry: string }

export type Protocol = 'udp' | 'tcp';
/** Send to a checked address (never re-resolve: no DNS-rebinding window). */
export type ConnectGrant = Branded & { readonly kind: 'connect'; readonly protocol: Protocol; readonly host: string; readonly address: string; readonly port: number };
export type ListenGrant = Branded & {
  readonly kind: 'listen';
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  /**
   * Whether a peer that reached the listener may be answered: a listener sends its
   * telemetry back to its peers, so each one is an egress destination the policy must
   * approve. Refusals are audited once per address.
   */
  readonly acceptsPeer: (address: string, port: number) => boolean;
};
export type DeviceGrant = Branded & { readonly kind: 'device'; readonly path: string };
export type DirectoryGrant = Branded & { readonly kind: 'directory'; readonly path: string };
/** The built-in simulated vehicle or a replayed recording: in the same process, no egress at all. */
export type InProcessGrant = Branded & { readonly kind: 'in-process' };
export type Grant = ConnectGrant | ListenGrant | DeviceGrant | DirectoryGrant | InProcessGrant;

const issued = new WeakSet<object>();

/** Throws unless `grant` was issued by a gate and is of the kind expected. */
export function assertGrant<K extends Grant['kind']>(grant: Grant, kind: K): asserts grant is Extract<Grant, { kind: K }> {
  if (!issued.has(grant) || grant.kind !== kind) throw new Error(`not a ${kind} grant from the egress gate`);
}

export const EXIT_RESIDENCY = 3;

export class ResidencyRefusal extends Error {
  readonly exitCode = EXIT_RESIDENCY;
  constructor(readonly entry: string, readonly destination: string, readonly rule: string, readonly reason: string) {
    super(`residency policy refuses ${entry}: ${destination}: ${reason} (rule: ${rule})`);
    this.name = 'ResidencyRefusal';
  }
}

export type Resolver = (host: string) => Promise<string[]>;
const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Events the dashboard lists as refusals. */
const REFUSALS = new Set(['refused', 'peer_refused', 'client_refused', 'client_refused_message', 'control_refused', 'signing_rejected', 'recording_error', 'recording_dropping']);
const RECENT_REFUSALS = 20;

export class EgressGate {
  private audit: AuditLog | null = null;
  /** The newest refusals (whether or not an audit log is attached), newest last. */
  readonly recentRefusals: { at: string; event: string; details: Record<string, unknown> }[] = [];
  private readonly directoryRoots = new Map<string, string>();
  private classes: ClassTable | undefined;

  constructor(readonly policy: ResidencyPolicy, private readonly resolveHost: Resolver = systemResolver) {
    for (const d of policy.directories) {
      try {
        this.directoryRoots.set(d.key, realpathSync(d.path));
      } catch {
        // Not created yet: judged by its path as written until it exists.
      }
    }
  }

  /** From now on every decision is recorded; the policy itself first. */
  attachAudit(audit: AuditLog): void {
    this.audit = audit;
    audit.append('policy_loaded', { source: this.policy.source, policy_sha256: this.policy.sha256, site: this.policy.site, jurisdiction: this.policy.jurisdiction });
  }

  /** Records an event in the audit log, if there is one (links up and down, say). */
  record(event: string, details: Record<string, unknown>): void {
    this.audit?.append(event, details);
    if (REFUSALS.has(event)) {
      this.recentRefusals.push({ at: new Date().toISOString(), event, details });
      if (this.recentRefusals.length > RECENT_REFUSALS) this.recentRefusals.shift();
    }
  }

  async grantConnect(entry: string, protocol: Protocol, host: string, port: number): Promise<ConnectGrant> {
    const destination = `${protocol}:${host}:${port}`;
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
      verdict = judgeDestination(this.policy, address, port);
      if (!verdict.approved) return this.refuse(entry, `${destination} (${address})`, verdict.rule, verdict.reason);
    }
    return this.issue({ kind: 'connect', protocol, host, address: addresses[0]!, port, rule: verdict!.rule, entry }, destination);
  }

  /**
   * A message broker (`mqtt://` or `mqtts://` URL, its host and port already read): a
   * network destination like any other, reached in the clear only on this machine.
   */
  async grantBroker(entry: string, broker: string, host: string, port: number): Promise<ConnectGrant> {
    const grant = await this.grantConnect(entry, 'tcp', host, port);
    const refusal = brokerTransportRefusal(new URL(broker).protocol, grant.address);
    return refusal ? this.refuse(entry, broker, 'mqtt transport', refusal) : grant;
  }

  async grantListen(entry: string, protocol: Protocol, host: string, port: number): Promise<ListenGrant> {
    const destination = `${protocol}-listen:${host}:${port}`;
    const address = isIpLiteral(host) ? host : (await this.resolveHost(host).catch(() => []))[0];
    if (!address) return this.refuse(entry, destination, 'listen', `cannot resolve ${host}`);
    const verdict = judgeListener(this.policy, address);
    if (!verdict.approved) return this.refuse(entry, destination, verdict.rule, verdict.reason);
    const refusedPeers = new Set<string>();
    const acceptsPeer = (peer: string, peerPort: number): boolean => {
      const v = judgeDestination(this.policy, peer, peerPort);
      if (!v.approved && !refusedPeers.has(peer)) {
        refusedPeers.add(peer);
        this.record('peer_refused', { entry, listener: destination, peer: `${peer}:${peerPort}`, rule: v.rule, reason: v.reason });
      }
      return v.approved;
    };
    return this.issue({ kind: 'listen', protocol, address, port, rule: verdict.rule, entry, acceptsPeer }, destination);
  }

  /**
   * May a ground-control client connect from `address` with `role`? Its network must be
   * one of the policy's client networks, and allow that role. Refusals are audited.
   */
  admitClient(entry: string, address: string, role: Role): Verdict {
    const network = judgeClient(this.policy, address);
    const verdict: Verdict = !network.approved || network.roles.includes(role)
      ? network
      : { approved: false, rule: network.rule, reason: `a ${role} may not connect from ${address} (${network.rule} allows ${network.roles.join(', ')})` };
    if (!verdict.approved) this.record('client_refused', { entry, address, role, rule: verdict.rule, reason: verdict.reason });
    return verdict;
  }

  /** A local serial device: it carries telemetry to the vehicle, not off the premises. */
  grantDevice(entry: string, path: string): DeviceGrant {
    return this.issue({ kind: 'device', path, rule: 'local device', entry }, `serial:${path}`);
  }

  /** The simulated vehicle, or a recording played back: in the process, no egress. */
  grantInProcess(entry: string, destination = 'sim', rule = 'in-process simulated vehicle'): InProcessGrant {
    return this.issue({ kind: 'in-process', rule, entry }, destination);
  }

  /**
   * The data classes of the gateway's registry, with the policy's moves applied (built
   * once; a gate serves one gateway). A move of an unknown message is a policy error.
   */
  classTable(registry: MessageRegistry): ClassTable {
    if (this.classes) return this.classes;
    for (const name of Object.keys(this.policy.classOverrides)) {
      if (!registry.byName(name)) throw new PolicyError(this.policy.source, `classes.${name}`, 'no such message in the dialects in use');
    }
    this.classes = new ClassTable(registry, this.policy.classOverrides);
    return this.classes;
  }

  get auditing(): boolean {
    return this.audit !== null;
  }

  /**
   * What a granted destination may receive, and a meter of what it got. For a network
   * destination, the first rule whose network holds its address applies; with none (and
   * for devices, listeners, the in-process vehicle) every class goes unredacted.
   */
  egressFor(grant: Grant, registry: MessageRegistry): { filter: EgressFilter; meter: EgressMeter; rule: DestinationRule | undefined } {
    if (!issued.has(grant)) throw new Error('not a grant from the egress gate');
    const rule = grant.kind === 'connect' ? this.policy.rules.find((r) => r.range !== null && addressInRange(grant.address, r.range)) : undefined;
    if (rule) this.record('rule_applied', { entry: grant.entry, rule: rule.key, classes: [...rule.classes], redact: Object.fromEntries(rule.redact) });
    return this.egress(rule, registry);
  }

  /**
   * What every client of `role` may receive (the first `to: role:…` rule), and a meter:
   * the plug-in point for the client server, which asks once per connected client.
   */
  egressForRole(role: Role, registry: MessageRegistry): { filter: EgressFilter; meter: EgressMeter; rule: DestinationRule | undefined } {
    return this.egress(this.policy.rules.find((r) => r.role === role), registry);
  }

  private egress(rule: DestinationRule | undefined, registry: MessageRegistry): { filter: EgressFilter; meter: EgressMeter; rule: DestinationRule | undefined } {
    const meter = new EgressMeter();
    return { filter: buildEgressFilter(rule, this.classTable(registry), registry, meter), meter, rule };
  }

  /** A directory for telemetry files: its real path (symlinks and `..` resolved) must be inside an approved one. Created if missing. */
  grantDirectory(entry: string, path: string): DirectoryGrant {
    const real = realpathOfPossiblyMissing(resolve(path));
    const verdict = judgeDirectory(this.policy, real, this.directoryRoots);
    if (!verdict.approved) return this.refuse(entry, path, verdict.rule, verdict.reason);
    mkdirSync(real, { recursive: true, mode: 0o700 });
    return this.issue({ kind: 'directory', path: real, rule: verdict.rule, entry }, path);
  }

  private issue<G extends Grant>(fields: Omit<G, typeof granted>, destination: string): G {
    const grant = Object.freeze({ ...fields }) as G;
    issued.add(grant);
    this.record('granted', { entry: grant.entry, destination, kind: grant.kind, rule: grant.rule });
    return grant;
  }

  private refuse(entry: string, destination: string, rule: string, reason: string): never {
    this.record('refused', { entry, destination, rule, reason });
    throw new ResidencyRefusal(entry, destination, rule, reason);
  }
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
