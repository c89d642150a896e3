/**
 * One pilot in control at a time. A pilot takes control explicitly, holds it while its
 * traffic keeps renewing the lease, and loses it by releasing, by going quiet past the
 * timeout, or by disconnecting. Another pilot is refused with the holder's name; an admin
 * may take over. Every change is reported (the hub logs and audits it).
 */
import type { Role } from '../residency/policy.js';

export interface LeaseHolder {
  /** The token name: a pilot's several connections (a browser's tabs, REST and WebSocket) share one lease. */
  principal: string;
  role: Role;
  /** The connection that took it: its disconnect releases the lease. Null when taken over REST. */
  session: string | null;
  since: number;
  renewedAt: number;
}

export type ControlEvent =
  | { type: 'taken'; holder: LeaseHolder; from?: LeaseHolder }
  | { type: 'released'; holder: LeaseHolder; why: 'released' | 'timeout' | 'disconnected' }
  | { type: 'refused'; principal: string; holder: LeaseHolder };

export type TakeResult = { ok: true; holder: LeaseHolder } | { ok: false; reason: string };

export class ControlLease {
  private current: LeaseHolder | null = null;

  constructor(
    readonly timeoutMs: number,
    private readonly onEvent: (event: ControlEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get holder(): LeaseHolder | null {
    this.expire();
    return this.current;
  }

  holds(principal: string): boolean {
    return this.holder?.principal === principal;
  }

  /** Takes control; an admin with `force` takes it from another holder. */
  take(principal: string, role: Role, session: string | null, force = false): TakeResult {
    if (role === 'observer') return { ok: false, reason: 'observers cannot take control' };
    const held = this.holder;
    const t = this.now();
    if (held && held.principal === principal) {
      held.renewedAt = t;
      if (session) held.session = session;
      return { ok: true, holder: held };
    }
    if (held && !(force && role === 'admin')) {
      this.onEvent({ type: 'refused', principal, holder: held });
      return { ok: false, reason: `control is held by ${held.principal} (${held.role}) since ${new Date(held.since).toISOString()}; ${role === 'admin' ? 'take over with force' : 'ask them to release it, or an admin can take over'}` };
    }
    const holder: LeaseHolder = { principal, role, session, since: t, renewedAt: t };
    this.current = holder;
    this.onEvent(held ? { type: 'taken', holder, from: held } : { type: 'taken', holder });
    return { ok: true, holder };
  }

  /** Releases control if `principal` holds it; false otherwise. */
  release(principal: string): boolean {
    if (!this.holds(principal)) return false;
    this.end('released');
    return true;
  }

  /** Traffic from the holder keeps the lease alive. */
  renew(principal: string): void {
    const held = this.holder;
    if (held?.principal === principal) held.renewedAt = this.now();
  }

  /** A connection closed: the lease it took goes with it. */
  disconnected(session: string): void {
    if (this.current?.session === session) this.end('disconnected');
  }

  /** Ends a lease whose holder went quiet; called on every read and by the hub's timer. */
  expire(): void {
    if (this.current && this.now() - this.current.renewedAt > this.timeoutMs) this.end('timeout');
  }

  private end(why: 'released' | 'timeout' | 'disconnected'): void {
    const holder = this.current!;
    this.current = null;
    this.onEvent({ type: 'released', holder, why });
  }
}
