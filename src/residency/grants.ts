/**
 * Grants: what the egress gate hands out when it approves a destination, a listener, a
 * device or a directory. The functions that open sockets, serial ports and files take a
 * grant, and a grant can only come from the gate (a branded type, and a registry checked
 * at run time).
 *
 * A grant is not approved once and for all: it holds only while the policy in force
 * approves it. When a new policy is loaded, the gate judges every live grant again; one
 * it now refuses is revoked, and its holders learn it at once (before anything more is
 * sent), so they can close. A revoked grant can no longer be used (`assertGrant` throws).
 */
import { ResidencyRefusal } from './refusal.js';
import type { Verdict } from './verdicts.js';

declare const granted: unique symbol;

/** What a holder of a grant is told when the policy in force changes. */
export interface GrantWatcher {
  /** The new policy still approves the grant: rebuild what depends on its rule (filters, meters, peers). */
  changed?(): void;
  /** The new policy refuses the grant: stop sending now, then close. */
  revoked?(refusal: ResidencyRefusal): void;
}

interface Branded {
  readonly [granted]: true;
  readonly rule: string;
  /** How the configuration names what asked for it (`links[1] udp:…`), as the audit log does. */
  readonly entry: string;
}

export type Protocol = 'udp' | 'tcp';
/** Send to a checked address (never re-resolve: no DNS-rebinding window). */
export type ConnectGrant = Branded & { readonly kind: 'connect'; readonly protocol: Protocol; readonly host: string; readonly address: string; readonly port: number };
export type ListenGrant = Branded & {
  readonly kind: 'listen';
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  /**
   * Whether a peer that reached the listener may be answered, by the policy in force now:
   * a listener sends its telemetry back to its peers, so each one is an egress
   * destination. Refusals are audited once per address and policy.
   */
  readonly acceptsPeer: (address: string, port: number) => boolean;
};
export type DeviceGrant = Branded & { readonly kind: 'device'; readonly path: string };
/** A directory, by its real path when granted. */
export type DirectoryGrant = Branded & { readonly kind: 'directory'; readonly path: string };
/** The built-in simulated vehicle or a replayed recording: in the same process, no egress at all. */
export type InProcessGrant = Branded & { readonly kind: 'in-process' };
export type Grant = ConnectGrant | ListenGrant | DeviceGrant | DirectoryGrant | InProcessGrant;

/** The fields of a grant before the gate brands it. */
export type GrantFields<G extends Grant> = Omit<G, typeof granted>;

interface GrantRecord {
  /** What the grant is for, as the audit log names it. */
  readonly destination: string;
  /** The grant judged again under the policy in force (a directory: by its real path now). */
  readonly judge: () => Verdict;
  /** Told when `checkGrant` finds the grant refused for now (the gate audits it). */
  readonly onRefused: (refusal: ResidencyRefusal) => void;
  readonly watchers: Set<GrantWatcher>;
  revoked: ResidencyRefusal | null;
  released: boolean;
}

const records = new WeakMap<object, GrantRecord>();

/**
 * Brands `fields` as a grant. Only the gate calls this (the source-scan test keeps it
 * so); `judge` says whether the policy in force still approves it.
 */
export function mintGrant<G extends Grant>(fields: GrantFields<G>, destination: string, judge: () => Verdict, onRefused: (refusal: ResidencyRefusal) => void): G {
  const grant = Object.freeze({ ...fields }) as G;
  records.set(grant, { destination, judge, onRefused, watchers: new Set(), revoked: null, released: false });
  return grant;
}

function recordOf(grant: Grant): GrantRecord {
  const record = records.get(grant);
  if (!record) throw new Error('not a grant from the egress gate');
  return record;
}

/** Throws unless `grant` was issued by a gate, is of the kind expected, and has not been revoked. */
export function assertGrant<K extends Grant['kind']>(grant: Grant, kind: K): asserts grant is Extract<Grant, { kind: K }> {
  const record = records.get(grant);
  if (!record || grant.kind !== kind) throw new Error(`not a ${kind} grant from the egress gate`);
  if (record.revoked) throw record.revoked;
}

/**
 * Judges `grant` now, before a use that must not go wrong (a file created in a granted
 * directory that may have been replaced by a symlink since): throws the refusal, told to
 * the gate, when the policy in force or the real path no longer approves it. Unlike a
 * revocation this holds only while the cause lasts.
 */
export function checkGrant(grant: Grant): void {
  const record = recordOf(grant);
  if (record.revoked) throw record.revoked;
  const verdict = record.judge();
  if (verdict.approved) return;
  const refusal = new ResidencyRefusal(grant.entry, record.destination, verdict.rule, verdict.reason);
  record.onRefused(refusal);
  throw refusal;
}

/** Tells `watcher` when the policy in force changes what `grant` may do; returns a function that stops telling. */
export function watchGrant(grant: Grant, watcher: GrantWatcher): () => void {
  const { watchers } = recordOf(grant);
  watchers.add(watcher);
  return () => watchers.delete(watcher);
}

/** The holder is done with the grant (its link or sink closed): it is no longer judged. */
export function releaseGrant(grant: Grant): void {
  recordOf(grant).released = true;
}

export function isRevoked(grant: Grant): boolean {
  return recordOf(grant).revoked !== null;
}

/** Whether the gate should judge this grant again (issued, not released, not revoked). */
export function isLive(grant: Grant): boolean {
  const record = records.get(grant);
  return record !== undefined && !record.released && record.revoked === null;
}

/**
 * Judges `grant` under the policy in force. Refused: revoked, and its watchers told
 * synchronously, so nothing more is sent before they stop. Returns the refusal, or null.
 */
export function rejudgeGrant(grant: Grant, onWatcherError: (err: unknown) => void): ResidencyRefusal | null {
  const record = recordOf(grant);
  if (record.revoked || record.released) return record.revoked;
  const verdict = record.judge();
  if (!verdict.approved) record.revoked = new ResidencyRefusal(grant.entry, record.destination, verdict.rule, `${verdict.reason} (under the policy in force now)`);
  // One holder that fails must not keep the others from learning it.
  for (const w of [...record.watchers]) {
    try {
      if (record.revoked) w.revoked?.(record.revoked);
      else w.changed?.();
    } catch (err) {
      onWatcherError(err);
    }
  }
  return record.revoked;
}

export function destinationOf(grant: Grant): string {
  return recordOf(grant).destination;
}
