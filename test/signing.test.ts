/** MAVLink 2 signing: the specification's definition, an independent implementation's frames, replay protection. */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Frame, FrameDecoder, FrameSigner, SignatureVerifier, SIGNING_EPOCH_MS, signingTimestamp } from '../src/mavlink/index.js';
import { corpusFile, HAS_CORPUS, CORPUS_SKIP_NOTE } from './helpers/corpus.js';
import { attitude, frame, heartbeat, registry } from './helpers/frames.js';

const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

function frames(bytes: Buffer): Frame[] {
  const out: Frame[] = [];
  new FrameDecoder(registry, (f) => out.push(f.clone())).push(bytes);
  return out;
}

describe('signing as the specification defines it', () => {
  it('appends link id, a 48-bit timestamp in 10 µs units since 2015, and SHA-256(key ‖ header ‖ payload ‖ CRC ‖ link id ‖ timestamp)[0..6]', () => {
    const nowMs = Date.UTC(2026, 10, 25, 12, 0, 0);
    const signer = new FrameSigner(key, 7, registry, () => nowMs);
    const unsigned = heartbeat(3);
    const signed = signer.sign(unsigned)!;
    expect(signed.length).toBe(unsigned.length + 13);
    expect(signed[2]! & 1).toBe(1);
    const body = signed.subarray(0, unsigned.length);
    const block = signed.subarray(unsigned.length);
    expect(block[0]).toBe(7);
    const timestamp = block.readUIntLE(1, 6);
    expect(timestamp).toBe((nowMs - Date.UTC(2015, 0, 1)) * 100);
    // Independently: the hash over the frame as sent (flag set, CRC redone) and the first 7 bytes of the block.
    const expected = createHash('sha256').update(key).update(body).update(block.subarray(0, 7)).digest().subarray(0, 6);
    expect(block.subarray(7)).toEqual(expected);
    // The checksum was redone over the new incompat flags: the decoder accepts the frame.
    const [decoded] = frames(signed);
    expect(decoded).toMatchObject({ signed: true, name: 'HEARTBEAT', seq: 3 });
    expect(new SignatureVerifier(key, () => nowMs).verify(decoded!)).toBe('ok');
  });

  it('keeps timestamps strictly increasing, even within one clock tick', () => {
    const signer = new FrameSigner(key, 0, registry, () => SIGNING_EPOCH_MS + 1000);
    const stamps = [attitude(0), attitude(1), attitude(2)].map((f) => signer.sign(f)!).map((s) => s.readUIntLE(s.length - 12, 6));
    expect(stamps).toEqual([100_000, 100_001, 100_002]);
  });

  it('signs nothing it cannot: MAVLink 1, frames already signed', () => {
    const signer = new FrameSigner(key, 0, registry);
    expect(signer.sign(frame({ name: 'HEARTBEAT' }, { version: 1 }))).toBe(null);
    expect(signer.sign(signer.sign(heartbeat())!)).toBe(null);
  });

  it('verifies every frame it signs and refuses any one-byte change (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(255), fc.nat(), (k, linkId, flip) => {
      const signer = new FrameSigner(Buffer.from(k), linkId, registry, () => Date.now());
      const signed = signer.sign(attitude(1))!;
      expect(new SignatureVerifier(Buffer.from(k)).verify(frames(signed)[0]!)).toBe('ok');
      const tampered = Buffer.from(signed);
      const at = flip % tampered.length;
      tampered[at]! ^= 0x40;
      const seen = frames(tampered);
      // A flip in the header, payload or CRC fails the checksum (no frame); in the signature block, the signature.
      if (seen.length === 1 && seen[0]!.signed) expect(new SignatureVerifier(Buffer.from(k)).verify(seen[0]!)).not.toBe('ok');
    }));
  });

  it('refuses a replayed or stale timestamp on a stream, and a new stream more than a minute behind the newest', () => {
    let now = SIGNING_EPOCH_MS + 10 * 60_000;
    const verifier = new SignatureVerifier(key, () => now);
    const signerAt = (ms: number, linkId = 0) => new FrameSigner(key, linkId, registry, () => ms);
    const first = frames(signerAt(now).sign(attitude(0))!)[0]!;
    expect(verifier.verify(first)).toBe('ok');
    expect(verifier.verify(first)).toBe('replayed');
    expect(verifier.verify(frames(signerAt(now - 1000).sign(attitude(1))!)[0]!)).toBe('replayed');
    expect(verifier.verify(frames(signerAt(now - 30_000, 3).sign(attitude(2))!)[0]!)).toBe('ok');
    expect(verifier.verify(frames(signerAt(now - 120_000, 4).sign(attitude(3))!)[0]!)).toBe('old-stream');
    expect(verifier.verify(frames(heartbeat())[0]!)).toBe('unsigned');
    expect(new SignatureVerifier(randomBytes(32), () => now).verify(frames(signerAt(now).sign(attitude(4))!)[0]!)).toBe('bad-signature');
    now += 1;
    expect(signingTimestamp(now)).toBeGreaterThan(0);
  });
});

describe.skipIf(!HAS_CORPUS)(`frames signed by an independent implementation${CORPUS_SKIP_NOTE}`, () => {
  it('accepts exactly the frames pymavlink accepted, and refuses every tampered, replayed or stale one', () => {
    const meta = JSON.parse(readFileSync(corpusFile('signed', 'signed_stream.json'), 'utf8')) as { key_hex: string; frames: { offset: number; length: number; kind: string; accept: boolean }[] };
    const stream = readFileSync(corpusFile('signed', 'signed_stream.bin'));
    // pymavlink's receiver starts its clock at 0: the stream's 2024 timestamps are judged among themselves.
    const verifier = new SignatureVerifier(Buffer.from(meta.key_hex, 'hex'), () => SIGNING_EPOCH_MS);
    const verdicts = new Map<number, string>();
    new FrameDecoder(registry, (f) => verdicts.set(f.offset, verifier.verify(f))).push(stream);
    for (const f of meta.frames) {
      const verdict = verdicts.get(f.offset);
      if (f.kind === 'bad_crc') expect(verdict).toBeUndefined(); // the decoder drops it before signing is looked at
      else expect([f.kind, verdict === 'ok']).toEqual([f.kind, f.accept]);
    }
    expect([...verdicts.values()].filter((v) => v === 'ok')).toHaveLength(301);
  });
});
