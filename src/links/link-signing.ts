/**
 * MAVLink 2 signing on one vehicle link: what comes in must be signed with the link's key
 * (`requireSigned`; a few messages radios cannot sign excepted), what goes out is signed
 * with the link's id (`sign`). Counted per link; each kind of rejection audited, at most
 * once a minute with the count since the last record. The key never leaves this object.
 */
import type { Frame } from '../mavlink/frame.js';
import type { MessageRegistry } from '../mavlink/registry.js';
import { FrameSigner, SignatureVerifier, type VerifyResult } from '../mavlink/signing.js';

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
  signedOut: number;
  /** Frames sent unsigned because they cannot be signed (MAVLink 1, unknown message ids, already signed by a client). */
  unsignableOut: number;
}

const AUDIT_EVERY_MS = 60_000;
const KIND: Record<Exclude<VerifyResult, 'ok'>, keyof SigningCounters> = {
  unsigned: 'unsignedDropped', 'bad-signature': 'badSignature', replayed: 'replayed', 'old-stream': 'replayed',
};

export class LinkSigning {
  readonly counters: SigningCounters = { signedAccepted: 0, unsignedAllowed: 0, unsignedDropped: 0, badSignature: 0, replayed: 0, signedOut: 0, unsignableOut: 0 };
  private readonly signer: FrameSigner | null;
  private readonly verifier: SignatureVerifier | null;
  private readonly allowed: ReadonlySet<string>;
  private readonly audited = new Map<string, { at: number; since: number }>();

  constructor(
    settings: SigningSettings,
    registry: MessageRegistry,
    private readonly entry: string,
    private readonly audit: (event: string, details: Record<string, unknown>) => void,
    private readonly clock: () => number = Date.now,
  ) {
    this.signer = settings.sign ? new FrameSigner(settings.key, settings.linkId, registry, clock) : null;
    this.verifier = settings.requireSigned ? new SignatureVerifier(settings.key, clock) : null;
    this.allowed = new Set(settings.allowUnsigned);
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
      return 'verified';
    }
    if (result === 'unsigned' && this.allowed.has(frame.name ?? '')) {
      this.counters.unsignedAllowed++;
      return 'allowed';
    }
    this.counters[KIND[result]]++;
    this.record(result, frame);
    return 'refused';
  }

  /** What to send for outgoing frame bytes: a signed copy, or the bytes as they are when they cannot be signed. */
  outgoing(bytes: Buffer): Buffer {
    if (!this.signer) return bytes;
    const signed = this.signer.sign(bytes);
    if (signed) this.counters.signedOut++;
    else this.counters.unsignableOut++;
    return signed ?? bytes;
  }

  private record(kind: string, frame: Frame): void {
    const now = this.clock();
    const last = this.audited.get(kind);
    if (last && now - last.at < AUDIT_EVERY_MS) {
      last.since++;
      return;
    }
    this.audited.set(kind, { at: now, since: 0 });
    this.audit('signing_rejected', { link: this.entry, kind, source: `${frame.sysid}/${frame.compid}`, message: frame.name ?? `#${frame.msgid}`, ...(last ? { rejected_since_last_record: last.since + 1 } : {}) });
  }
}
