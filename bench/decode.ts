/**
 * npm run bench:decode — the wire layer's throughput against node-mavlink and against
 * the ceiling (a bare table CRC over the same bytes), in one process, same bytes, runs
 * interleaved so that a noisy neighbour hurts every variant alike.
 *
 *   (a) mavgate: split + CRC validate
 *   (b) mavgate: split + validate + decode every payload to an object
 *   (c) node-mavlink: its stream pipeline (splitter + parser + protocol.data)
 *   (c0) node-mavlink: its splitter alone (split + CRC validate), for (a)'s ratio
 *   (d) a bare table CRC over the same bytes
 */
import { once } from 'node:events';
import * as nodeMavlink from 'node-mavlink';
import { crc16, FrameDecoder, FrameSigner, loadRegistry, SignatureVerifier, SIGNING_EPOCH_MS } from '../src/mavlink/index.js';
import { machine, markdownTable, median, range, saveResults } from './stats.js';
import { chunksOf, telemetryStream } from './telemetry.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 300_000);
const CHUNK_SIZES = [250, 1400, 65536];

const registry = loadRegistry();
const telemetry = telemetryStream(FRAMES);

type Variant = { key: string; label: string; run: (chunks: Buffer[]) => number | Promise<number> };

const nodeMavlinkRegistry: Record<number, unknown> = Object.assign(
  {},
  ...['minimal', 'standard', 'common', 'ardupilotmega', 'uavionix', 'icarous', 'asluav', 'development', 'ualberta', 'storm32'].map(
    (d) => (nodeMavlink as unknown as Record<string, { REGISTRY: object }>)[d]!.REGISTRY,
  ),
);

async function pipeChunks(head: NodeJS.WritableStream, tail: NodeJS.ReadableStream, chunks: Buffer[]): Promise<void> {
  const ended = once(tail, 'end');
  for (const chunk of chunks) if (!head.write(chunk)) await once(head, 'drain');
  head.end();
  await ended;
}

/** node-mavlink's stream pipeline (splitter + parser) over the chunks; counts the packets `accept` takes. */
async function nodeMavlinkPackets(chunks: Buffer[], accept: (packet: nodeMavlink.MavLinkPacket) => boolean): Promise<number> {
  let n = 0;
  const splitter = new nodeMavlink.MavLinkPacketSplitter();
  const parser = new nodeMavlink.MavLinkPacketParser();
  parser.on('data', (packet: nodeMavlink.MavLinkPacket) => { if (accept(packet)) n++; });
  splitter.pipe(parser);
  await pipeChunks(splitter, parser, chunks);
  return n;
}

const variants: Variant[] = [
  {
    key: 'a', label: '(a) mavgate split + CRC',
    run: (chunks) => {
      let n = 0;
      const decoder = new FrameDecoder(registry, () => { n++; });
      for (const c of chunks) decoder.push(c);
      return n;
    },
  },
  {
    key: 'b', label: '(b) mavgate split + CRC + decode',
    run: (chunks) => {
      let n = 0;
      const decoder = new FrameDecoder(registry, (f) => { if (f.decode() !== null) n++; });
      for (const c of chunks) decoder.push(c);
      return n;
    },
  },
  {
    key: 'c', label: '(c) node-mavlink splitter + parser + data',
    run: (chunks) => nodeMavlinkPackets(chunks, (packet) => {
      const clazz = nodeMavlinkRegistry[packet.header.msgid];
      if (!clazz) return false;
      packet.protocol.data(packet.payload, clazz as never);
      return true;
    }),
  },
  {
    key: 'c0', label: '(c0) node-mavlink splitter only',
    run: async (chunks) => {
      let n = 0;
      const splitter = new nodeMavlink.MavLinkPacketSplitter();
      splitter.on('data', () => { n++; });
      await pipeChunks(splitter, splitter, chunks);
      return n;
    },
  },
  {
    key: 'd', label: '(d) bare table CRC (ceiling)',
    run: (chunks) => {
      let crc = 0;
      for (const c of chunks) crc ^= crc16(c);
      return crc === -1 ? 0 : telemetry.frames;
    },
  },
];

interface Row { chunk: number; key: string; label: string; ms: number[]; frames: number }

async function measure(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const size of CHUNK_SIZES) {
    const chunks = chunksOf(telemetry.bytes, size);
    const bySize = variants.map((v) => ({ chunk: size, key: v.key, label: v.label, ms: [] as number[], frames: 0 }));
    for (let run = 0; run < RUNS + 1; run++) {
      for (const [i, v] of variants.entries()) {
        const t0 = process.hrtime.bigint();
        const frames = await v.run(chunks);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (run > 0) bySize[i]!.ms.push(ms); // the first round warms up the JIT
        bySize[i]!.frames = frames;
      }
    }
    rows.push(...bySize);
  }
  return rows;
}

/** Heap growth of (a) over millions of frames: the hot path should allocate nothing per frame. */
function heapPerMillionFrames(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return Number.NaN;
  const chunks = chunksOf(telemetry.bytes, 65536);
  let frames = 0;
  const decoder = new FrameDecoder(registry, () => { frames++; });
  for (const c of chunks) decoder.push(c); // warm-up
  gc();
  const before = process.memoryUsage().heapUsed;
  frames = 0;
  const rounds = Math.ceil(5_000_000 / telemetry.frames);
  for (let r = 0; r < rounds; r++) for (const c of chunks) decoder.push(c);
  const after = process.memoryUsage().heapUsed; // no gc: what the loop itself left behind
  return ((after - before) / frames) * 1e6;
}

const rows = await measure();
const heap = heapPerMillionFrames();
const mb = telemetry.bytes.length / 1e6;
const med = (size: number, key: string) => median(rows.find((r) => r.chunk === size && r.key === key)!.ms);

console.log(`\n## Decode benchmark — ${new Date().toISOString().slice(0, 10)}, ${machine()}`);
console.log(`${telemetry.frames} frames, ${mb.toFixed(1)} MB (10% MAVLink 1, ${telemetry.damaged} damaged), median of ${RUNS} runs (min–max)\n`);
console.log(markdownTable(
  ['chunk', 'variant', 'ms', 'MB/s', 'M frames/s'],
  rows.map((r) => {
    const m = median(r.ms);
    const [lo, hi] = range(r.ms);
    return [r.chunk, r.label, `${m.toFixed(1)} (${lo.toFixed(1)}–${hi.toFixed(1)})`, (mb / (m / 1e3)).toFixed(1), (r.frames / (m / 1e3) / 1e6).toFixed(2)];
  }),
));
console.log('\nRatios (higher is better for mavgate):\n');
console.log(markdownTable(
  ['chunk', '(a) / (d) ceiling', '(a) / (c0) node-mavlink splitter', '(b) / (c) node-mavlink pipeline'],
  CHUNK_SIZES.map((s) => [s, `${((med(s, 'd') / med(s, 'a')) * 100).toFixed(0)}%`, `${(med(s, 'c0') / med(s, 'a')).toFixed(1)}×`, `${(med(s, 'c') / med(s, 'b')).toFixed(1)}×`]),
));
console.log(`\nHeap growth in (a): ${Number.isNaN(heap) ? 'n/a (run with --expose-gc)' : `${Math.round(heap)} bytes per million frames`}`);
const intact = telemetry.frames - telemetry.damaged;
for (const s of CHUNK_SIZES) {
  const found = (k: string) => rows.find((r) => r.chunk === s && r.key === k)!.frames;
  console.log(
    `chunk ${s}: intact frames ${intact}; mavgate (b) decoded ${found('b')} (lost ${intact - found('b')}), ` +
      `(a) passed on ${found('a')} (incl. ${found('a') - found('b')} unverified: damage that hit a message id); ` +
      `node-mavlink (c) ${found('c')} (lost ${intact - found('c')})`,
  );
}
/**
 * Signed streams: every MAVLink 2 frame of the telemetry signed (1,400-byte reads, as UDP);
 * (s0) split + CRC, (s) split + CRC + signature check with replay protection, and
 * node-mavlink's splitter with its signature check (`signature.matches(key)`), same bytes.
 */
function signedStream(): { chunks: Buffer[]; frames: number; bytes: number } {
  const key = Buffer.alloc(32, 7);
  const signer = new FrameSigner(key, 0, registry, () => SIGNING_EPOCH_MS + 1e12);
  const frames: Buffer[] = [];
  new FrameDecoder(registry, (f) => {
    const signed = signer.sign(f.bytes());
    if (signed) frames.push(signed);
  }).push(telemetry.bytes);
  const bytes = Buffer.concat(frames);
  return { chunks: chunksOf(bytes, 1400), frames: frames.length, bytes: bytes.length };
}

async function measureSigned() {
  const key = Buffer.alloc(32, 7);
  const stream = signedStream();
  const signedVariants: Variant[] = [
    { key: 's0', label: '(s0) mavgate split + CRC, signed stream', run: (chunks) => variants[0]!.run(chunks) },
    {
      key: 's', label: '(s) mavgate split + CRC + verify signature',
      run: (chunks) => {
        let n = 0;
        const verifier = new SignatureVerifier(key, () => SIGNING_EPOCH_MS);
        const decoder = new FrameDecoder(registry, (f) => { if (verifier.verify(f) === 'ok') n++; });
        for (const c of chunks) decoder.push(c);
        return n;
      },
    },
    {
      key: 'sn', label: '(sn) node-mavlink splitter + parser + signature.matches',
      run: (chunks) => nodeMavlinkPackets(chunks, (packet) => packet.signature?.matches(key) === true),
    },
  ];
  const out = signedVariants.map((v) => ({ key: v.key, label: v.label, ms: [] as number[], frames: 0 }));
  for (let run = 0; run < RUNS + 1; run++) {
    for (const [i, v] of signedVariants.entries()) {
      const t0 = process.hrtime.bigint();
      const frames = await v.run(stream.chunks);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (run > 0) out[i]!.ms.push(ms);
      out[i]!.frames = frames;
    }
  }
  return { stream, rows: out };
}

const signed = await measureSigned();
console.log(`\n### Signed stream: ${signed.stream.frames} MAVLink 2 frames, all signed, ${(signed.stream.bytes / 1e6).toFixed(1)} MB, 1,400-byte reads, median of ${RUNS}\n`);
console.log(markdownTable(
  ['variant', 'ms', 'M frames/s', 'frames accepted'],
  signed.rows.map((r) => {
    const m = median(r.ms);
    const [lo, hi] = range(r.ms);
    return [r.label, `${m.toFixed(1)} (${lo.toFixed(1)}–${hi.toFixed(1)})`, (signed.stream.frames / (m / 1e3) / 1e6).toFixed(2), r.frames];
  }),
));
const sm = (k: string) => median(signed.rows.find((r) => r.key === k)!.ms);
console.log(`\nverification costs ${((sm('s') / sm('s0') - 1) * 100).toFixed(0)}% over split + CRC; ${(sm('sn') / sm('s')).toFixed(1)}× node-mavlink's`);
console.log(`Results: ${saveResults('decode', { date: new Date().toISOString(), machine: machine(), frames: telemetry.frames, bytes: telemetry.bytes.length, runs: RUNS, rows, heapBytesPerMillionFrames: heap, signed: { frames: signed.stream.frames, bytes: signed.stream.bytes, rows: signed.rows } })}`);
