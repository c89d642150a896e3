/**
 * MAVLink 2 signing on one vehicle link: what comes in must be signed with the link's key
 * (`requireSigned`; a few messages radios cannot sign excepted), what goes out is signed
 * with the link's id (`sign`). Counted per link; each kind of rejection audited, at most
 * once a minute with the count since the last record. The key never leaves this object.
 *
 * A vehicle whose signing clock is more than a minute behind mavgate's (an autopilot that
 * booted without GPS time) starts a stream mavgate must refuse as stale. The specification's
 * cure is that a signing peer moves its clock forward when it receives a newer signed
 * frame, so mavgate sends one (its own heartbeat, signed) when the link comes up and when
 * it finds a stream stale, and says so in the log.
 */
import type { Frame } from '../mavlink/frame.js';
import type { MessageRegistry } from '../mavlink/registry.js';
import { FrameSigner, SIGNING_EPOCH_MS, signatureTimestamp, SignatureVerifier, type VerifyResult } from '../mavlink/signing.js';

export interface SigningSettings {
  key: Buffer;
  /** Sign every frame mavgate sends on the link. */
  sign: boolean;
  /** Drop incoming frames that are unsigned, badly signed, replayed or from a stale stream. */
  requireSigned: boolean;
  /** The link id in mavgate's signatures (0–255). */
  linkId: number;
  /** Messages let through unsigned (SiK radios cannot sign their RADIO_STATUS). */
  allowUnsigned: readonly string[];
}

export const DEFAULT_ALLOW_UNSIGNED: readonly string[] = ['RADIO_STATUS', 'RADIO'];

export interface SigningCounters {
  signedAccepted: number;
  unsignedAllowed: number;
  unsignedDropped: number;
  badSignature: number;
  replayed: number;
  /** Signed frames refused because their stream started more than a minute behind: the sender's signing clock is old. */
  staleStream: number;
  /** Signed frames sent to move a vehicle's signing clock forward (at link up, on a stale stream). */
  clockNudges: number;
  /** Signed frames that left on the link. */
  signedOut: number;
  /** Frames sent unsigned because they cannot be signed (MAVLink 1, unknown message ids, already signed by a client). */
  unsignableOut: number;
}

const AUDIT_EVERY_MS = 60_000;
/** A stale stream gets at most one signed frame this often: its every frame is stale until one arrives. */
const NUDGE_EVERY_MS = 1000;
const KIND: Record<Exclude<VerifyResult, 'ok'>, keyof SigningCounters> = {
  unsigned: 'unsignedDropped', 'bad-signature': 'badSignature', replayed: 'replayed', 'old-stream': 'staleStream',
};

/** What a signed link needs of the gateway beyond its key. */
export interface SigningHooks {
  /** A decision for the audit log. */
  audit: (event: string, details: Record<string, unknown>) => void;
  /** What is happening, for the operator's log. */
  tell: (level: 'info' | 'warn', message: string) => void;
  /** Sends one signed frame on the link now (it was handed the signed bytes); false when it could not. */
  nudge: (signed: Buffer) => boolean;
  /** mavgate's own frame to sign and send as a nudge (its heartbeat). */
  nudgeFrame: () => Buffer;
}

export class LinkSigning {
  readonly counters: SigningCounters = {
    signedAccepted: 0, unsignedAllowed: 0, unsignedDropped: 0, badSignature: 0, replayed: 0, staleStream: 0, clockNudges: 0, signedOut: 0, unsignableOut: 0,
  };
  /** Signs nudges always, and everything sent when `sign` is set. */
  private readonly signer: FrameSigner;
  private readonly signAll: boolean;
  private readonly verifier: SignatureVerifier | null;
  private readonly allowed: ReadonlySet<string>;
  private readonly audited = new Map<string, { at: number; since: number }>();
  private lastNudgeAt = -Infinity;
  /** Sources whose stream was found stale and not yet accepted since: told once, and again when they recover. */
  private readonly stale = new Set<string>();

  constructor(
    settings: SigningSettings,
    registry: MessageRegistry,
    private readonly entry: string,
    private readonly hooks: SigningHooks,
    private readonly clock: () => number = Date.now,
  ) {
    this.signer = new FrameSigner(settings.key, settings.linkId, registry, clock);
    this.signAll = settings.sign;
    this.verifier = settings.requireSigned ? new SignatureVerifier(settings.key, clock) : null;
    this.allowed = new Set(settings.allowUnsigned);
  }

  /**
   * Sends one signed frame, so that a vehicle whose signing clock is behind moves it
   * forward to mavgate's. Called when the link comes up, and (at most once a second) while
   * the vehicle's stream is stale.
   */
  nudge(): void {
    const signed = this.signer.sign(this.hooks.nudgeFrame());
    this.lastNudgeAt = this.clock();
    if (signed && this.hooks.nudge(signed)) {
      this.counters.clockNudges++;
      this.counters.signedOut++;
    }
  }

  /**
   * Whether an incoming frame may go on to the router: `verified` (signed with the key),
   * `allowed` (unsigned, but on the allow-list, or signatures not required), or `refused`.
   */
  accept(frame: Frame): 'verified' | 'allowed' | 'refused' {
    if (!this.verifier) return 'allowed';
    const result = this.verifier.verify(frame);
    if (result === 'ok') {
      this.counters.signedAccepted++;
      if (this.stale.size > 0 && this.stale.delete(`${frame.sysid}/${frame.compid}`)) {
        this.hooks.tell('info', `link ${this.entry}: signed frames from ${frame.sysid}/${frame.compid} accepted again: its signing clock caught up`);
      }
      return 'verified';
    }
    if (result === 'old-stream') this.staleStream(frame);
    if (result === 'unsigned' && this.allowed.has(frame.name ?? '')) {
      this.counters.unsignedAllowed++;
      return 'allowed';
    }
    this.counters[KIND[result]]++;
    this.record(result, frame);
    return 'refused';
  }

  /**
   * Sends outgoing frame bytes with `write`: a signed copy with `sign`, or the bytes as they
   * are when they cannot be signed. Counts what left, not what was attempted.
   */
  send(bytes: Buffer, write: (bytes: Buffer) => boolean): boolean {
    if (!this.signAll) return write(bytes);
    const signed = this.signer.sign(bytes);
    if (!write(signed ?? bytes)) return false;
    if (signed) this.counters.signedOut++;
    else this.counters.unsignableOut++;
    return true;
  }

  /** A stream that started more than a minute behind: told once, nudged at most once a second. */
  private staleStream(frame: Frame): void {
    const source = `${frame.sysid}/${frame.compid}`;
    if (!this.stale.has(source)) {
      this.stale.add(source);
      const behindS = Math.round((this.clock() - (SIGNING_EPOCH_MS + signatureTimestamp(frame) / 100)) / 1000);
      this.hooks.tell('warn', `link ${this.entry}: ${source} signs with a clock ${behindS} s behind mavgate's (an autopilot booted without GPS time?): `
        + 'its frames are dropped as a stale stream until it moves its clock forward; sending it a signed frame so that it does');
    }
    if (this.clock() - this.lastNudgeAt >= NUDGE_EVERY_MS) this.nudge();
  }

  private record(kind: string, frame: Frame): void {
    const now = this.clock();
    const last = this.audited.get(kind);
    if (last && now - last.at < AUDIT_EVERY_MS) {
      last.since++;
      return;
    }
    this.audited.set(kind, { at: now, since: 0 });
    this.hooks.audit('signing_rejected', { link: this.entry, kind, source: `${frame.sysid}/${frame.compid}`, message: frame.name ?? `#${frame.msgid}`, ...(last ? { rejected_since_last_record: last.since + 1 } : {}) });
  }
}
