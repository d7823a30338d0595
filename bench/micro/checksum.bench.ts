// Where does the C checksum shim pay off? JS inetChecksum against one native call per region, and a JS
// loop against one batched native call, at the frame sizes the datapath sees (64, 576, 1500 bytes).
import { loadNative } from '../../src/native.js';
import { inetChecksum } from '../../src/wire/checksum.js';
import type { BenchCase, BenchGroup, BenchModule, CaseResult } from '../types.js';

const native = loadNative();

const SIZES = [64, 576, 1500] as const;
const BATCH_FRAMES = [8, 32, 256] as const;
const BATCH_SIZES = [64, 1500] as const;
const PARTIAL_FRAMES = [32, 256] as const;
/** Enough bytes per timed call that the timer read is noise; fewer reps for bigger work. */
const BYTES_PER_SAMPLE = 64 * 1024;
/** Distinct frames cycled through, so that one hot cache line does not flatter the figures. */
const POOL = 64;

// Results land here, where any importer could read them, so that V8 cannot drop the calls as dead code.
export const sink = { value: 0 };

/** Deterministic filler (xorshift32): the same bytes on every run. */
function fill(buf: Uint8Array, seed: number): void {
  let x = seed | 1;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
}

function repsFor(bytesPerOp: number): number {
  return Math.max(1, Math.round(BYTES_PER_SAMPLE / bytesPerOp));
}

/** `count` frames of `size` bytes packed back to back, with offset and length arrays. */
function frames(count: number, size: number) {
  const buf = new Uint8Array(count * size);
  fill(buf, count * 7919 + size);
  const offs = new Uint32Array(count);
  const lens = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    offs[i] = i * size;
    lens[i] = size;
  }
  return { buf, offs, lens };
}

function singleRegionGroup(size: number): BenchGroup {
  const { buf } = frames(POOL, size);
  const reps = repsFor(size);
  return {
    title: `One region of ${size} B`,
    note: 'One operation is the checksum of one region.',
    cases: [
      {
        name: 'JS inetChecksum',
        reps,
        fn: () => {
          let acc = 0;
          for (let r = 0; r < reps; r++) acc ^= inetChecksum(buf, (r % POOL) * size, size);
          sink.value ^= acc;
        },
      },
      {
        name: 'native checksum (one call per region)',
        reps,
        fn: () => {
          let acc = 0;
          for (let r = 0; r < reps; r++) acc ^= native.checksum(buf, (r % POOL) * size, size);
          sink.value ^= acc;
        },
      },
    ],
  };
}

function batchGroup(count: number, size: number): BenchGroup {
  const { buf, offs, lens } = frames(count, size);
  const out = new Uint16Array(count);
  const reps = repsFor(count * size);
  const cases: BenchCase[] = [
    {
      name: 'JS loop of inetChecksum',
      reps,
      items: count,
      fn: () => {
        for (let r = 0; r < reps; r++) {
          for (let i = 0; i < count; i++) out[i] = inetChecksum(buf, i * size, size);
        }
        sink.value ^= out[0] as number;
      },
    },
    {
      name: 'native checksumBatch (one call)',
      reps,
      items: count,
      fn: () => {
        for (let r = 0; r < reps; r++) native.checksumBatch(buf, offs, lens, out, count);
        sink.value ^= out[0] as number;
      },
    },
  ];
  return {
    title: `Batch of ${count} × ${size} B`,
    note: `One operation checksums ${count} regions of ${size} B.`,
    cases,
  };
}

/** UDP frames in the CHECKSUM_PARTIAL state, as veth hands locally generated traffic to AF_PACKET. */
function partialGroup(count: number, size: number): BenchGroup {
  const { buf, offs, lens } = frames(count, size);
  const l4Len = size - 14 - 20;
  const status = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const f = i * size;
    buf[f + 12] = 0x08;
    buf[f + 13] = 0x00;
    buf[f + 14] = 0x45;
    buf[f + 16] = (size - 14) >> 8;
    buf[f + 17] = (size - 14) & 0xff;
    buf[f + 20] = 0;
    buf[f + 21] = 0;
    buf[f + 23] = 17;
  }
  const reps = repsFor(count * size);
  return {
    title: `completePartial, batch of ${count} × ${size} B UDP`,
    note:
      `One operation completes ${count} CHECKSUM_PARTIAL frames. The JS row only sums each L4 segment at a ` +
      'known offset, with no header parsing, so it is a lower bound for a JS version.',
    cases: [
      {
        name: 'JS inetChecksum per L4 segment',
        reps,
        items: count,
        fn: () => {
          for (let r = 0; r < reps; r++) {
            for (let i = 0; i < count; i++) {
              const l4 = i * size + 34;
              // The field already holds the pseudo-header sum, so the sum over the segment is all that is left.
              const c = inetChecksum(buf, l4, l4Len) || 0xffff;
              buf[l4 + 6] = c >> 8;
              buf[l4 + 7] = c & 0xff;
            }
          }
          sink.value ^= buf[40] as number;
        },
      },
      {
        name: 'native completePartial (one call)',
        reps,
        items: count,
        fn: () => {
          for (let r = 0; r < reps; r++) {
            status.fill(1);
            sink.value ^= native.completePartial(buf, offs, lens, status, count);
          }
        },
      },
    ],
  };
}

function find(results: CaseResult[], group: string, namePrefix: string): CaseResult | undefined {
  return results.find((r) => r.group === group && r.name.startsWith(namePrefix));
}

function ns(v: number): string {
  return v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : v.toFixed(0);
}

function summarize(results: CaseResult[]): string[] {
  const lines: string[] = [];
  const single = SIZES.map((size) => {
    const js = find(results, `One region of ${size} B`, 'JS');
    const c = find(results, `One region of ${size} B`, 'native');
    return { size, js, c };
  });
  const parts = single.map(({ size, js, c }) =>
    js && c ? `${size} B: JS ${ns(js.medianNs)} ns, native ${ns(c.medianNs)} ns` : `${size} B: missing`,
  );
  const firstWin = single.find(({ js, c }) => js && c && c.medianNs < js.medianNs);
  lines.push(
    firstWin
      ? `One call per region: native is faster from ${firstWin.size} B on (${parts.join('; ')}).`
      : `One call per region: native never beats JS at these sizes (${parts.join('; ')}); the crossing costs more than the sum.`,
  );
  for (const size of BATCH_SIZES) {
    const per = BATCH_FRAMES.map((count) => {
      const js = find(results, `Batch of ${count} × ${size} B`, 'JS');
      const c = find(results, `Batch of ${count} × ${size} B`, 'native');
      return { count, js, c };
    });
    const text = per
      .map(({ count, js, c }) =>
        js && c ? `${count}: ${(js.medianNs / c.medianNs).toFixed(1)}× (${ns(c.medianNs / count)} ns/frame)` : '',
      )
      .filter(Boolean)
      .join(', ');
    const firstWin = per.find(({ js, c }) => js && c && c.medianNs < js.medianNs);
    lines.push(
      `Batches of ${size} B frames, native speed-up over the JS loop by batch size: ${text}. ` +
        (firstWin ? `The batched shim pays off from ${firstWin.count} frames.` : 'It does not pay off here.'),
    );
  }
  const partial = PARTIAL_FRAMES.flatMap((count) =>
    BATCH_SIZES.map((size) => {
      const group = `completePartial, batch of ${count} × ${size} B UDP`;
      const js = find(results, group, 'JS');
      const c = find(results, group, 'native');
      return js && c ? `${count} × ${size} B: ${(js.medianNs / c.medianNs).toFixed(1)}×` : '';
    }),
  ).filter(Boolean);
  lines.push(`completePartial against the JS lower bound, speed-up: ${partial.join(', ')}.`);
  const one64 = find(results, 'One region of 64 B', 'native');
  const batch64 = find(results, `Batch of ${BATCH_FRAMES[BATCH_FRAMES.length - 1]} × 64 B`, 'native');
  if (one64 && batch64) {
    const perFrame = batch64.medianNs / (batch64.items || 1);
    lines.push(
      `Cost of one JS→C crossing, estimated as a 64 B native call minus the per-frame cost inside a batch: ` +
        `${ns(Math.max(0, one64.medianNs - perFrame))} ns.`,
    );
  }
  return lines;
}

const checksumBench: BenchModule = {
  title: 'Internet checksum: JS vs the C shim',
  description:
    'JS `inetChecksum` (src/wire/checksum.ts) against the addon (native/checksum.cc): one call per region, ' +
    'one batched call for many regions, and `completePartial` on CHECKSUM_PARTIAL UDP frames. Inputs are ' +
    'deterministic pseudo-random bytes.',
  groups: () => [
    ...SIZES.map(singleRegionGroup),
    ...BATCH_SIZES.flatMap((size) => BATCH_FRAMES.map((count) => batchGroup(count, size))),
    ...BATCH_SIZES.flatMap((size) => PARTIAL_FRAMES.map((count) => partialGroup(count, size))),
  ],
  summarize,
};

export default checksumBench;
