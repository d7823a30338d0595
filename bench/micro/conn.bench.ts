// The connection table's per-packet costs at 1k, 64k and 1M entries: a lookup that hits, a lookup that
// misses, and an insert (paired with the delete that keeps the table at its size), plus the table's memory
// per connection. Keys are random and visited in random order, so the large tables pay their cache misses.

import { ConnTable } from '../../src/conn/table.js';
import { IpProto } from '../../src/constants.js';
import { DestRegistry, Fwd } from '../../src/dest/dest.js';
import { Stats } from '../../src/dest/stats.js';
import type { BenchGroup, BenchModule, CaseResult } from '../types.js';

const SIZES = [1 << 10, 1 << 16, 1 << 20] as const;
/** Lookups or inserts per call of a case: enough to make the timer read negligible. */
const REPS = 1024;
const VIP = 0x0a000064;
const RIP = 0xac100001;

// Results land here, where any importer could read them, so that V8 cannot drop the calls as dead code.
export const sink = { value: 0 };

/** Deterministic pseudo-random numbers (xorshift32): the same keys on every run. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const label = (n: number): string => (n >= 1 << 20 ? `${n >>> 20}M` : `${n >>> 10}k`);

/** Bytes per connection of the largest table, recorded when it is built (summarize() only gets timings). */
let bytesPerConn = 0;
let largestCapacity = 0;

function sizeGroup(size: number): BenchGroup {
  const registry = new DestRegistry();
  const dest = registry.create(RIP, 80, Fwd.masq, 1, new Stats());
  // Room for one call's inserts on top of `size` live entries.
  const table = new ConnTable(size + REPS, registry, { seed: 0x9e3779b9 });
  if (table.capacity > largestCapacity) {
    largestCapacity = table.capacity;
    bytesPerConn = table.byteLength / table.capacity;
  }
  const next = rng(size);
  const caddr = new Uint32Array(size);
  const cport = new Uint16Array(size);
  for (let k = 0; k < size; k++) {
    caddr[k] = next();
    cport[k] = 1024 + (next() % 64000);
    table.insert(IpProto.tcp, caddr[k]!, cport[k]!, VIP, 80, RIP, 80, dest.id, 0);
  }
  // Live keys picked at random, laid out in visiting order: a datapath has its key in the packet, so
  // reading the key should not cost the benchmark a cache miss. Misses use fresh random keys.
  const hitAddr = new Uint32Array(1 << 16);
  const hitPort = new Uint16Array(1 << 16);
  for (let k = 0; k < hitAddr.length; k++) {
    const pick = next() % size;
    hitAddr[k] = caddr[pick]!;
    hitPort[k] = cport[pick]!;
  }
  const missAddr = new Uint32Array(1 << 16);
  for (let k = 0; k < missAddr.length; k++) missAddr[k] = next();
  const newAddr = new Uint32Array(1 << 16);
  for (let k = 0; k < newAddr.length; k++) newAddr[k] = next();
  const mask = hitAddr.length - 1;
  let cursor = 0;
  const now = 1; // nothing expires during the run (entries live until 3000 ms)

  return {
    title: `${label(size)} entries`,
    note: `A table holding ${label(size)} live TCP connections (capacity ${table.capacity}, ${table.bucketCount} buckets).`,
    cases: [
      {
        name: `lookup hit (${label(size)})`,
        reps: REPS,
        fn: () => {
          let acc = 0;
          for (let r = 0; r < REPS; r++) {
            const k = (cursor + r) & mask;
            acc += table.lookupIn(IpProto.tcp, hitAddr[k]!, hitPort[k]!, VIP, 80, now);
          }
          cursor = (cursor + REPS) & mask;
          sink.value = acc;
        },
      },
      {
        name: `lookup miss (${label(size)})`,
        reps: REPS,
        fn: () => {
          let acc = 0;
          for (let r = 0; r < REPS; r++) {
            acc += table.lookupIn(IpProto.tcp, missAddr[(cursor + r) & mask]!, 4242, VIP, 80, now);
          }
          cursor = (cursor + REPS) & mask;
          sink.value = acc;
        },
      },
      {
        name: `insert + delete (${label(size)})`,
        reps: REPS,
        fn: () => {
          let acc = 0;
          for (let r = 0; r < REPS; r++) {
            const i = table.insert(IpProto.tcp, newAddr[(cursor + r) & mask]!, 5555, VIP, 80, RIP, 80, dest.id, now);
            acc += i;
            table.expireEntry(i, now);
          }
          cursor = (cursor + REPS) & mask;
          sink.value = acc;
        },
      },
    ],
  };
}

const conn: BenchModule = {
  title: 'Connection table',
  description:
    'ConnTable (src/conn/table.ts): chained hash over structure-of-arrays typed arrays. One operation is one ' +
    'lookup, or one insert plus the delete that keeps the table at its size (the delete unlinks from the ' +
    'chain and updates the destination counters). Keys are random and visited in random order.',
  groups: () => SIZES.map(sizeGroup),
  summarize(results: CaseResult[]): string[] {
    const median = (name: string) => results.find((r) => r.name === name)?.medianNs ?? Number.NaN;
    const lines = [
      `Memory: ${bytesPerConn.toFixed(1)} bytes per connection at ${largestCapacity} slots, counting every typed array including the buckets (target <= 128).`,
    ];
    for (const op of ['lookup hit', 'lookup miss', 'insert + delete']) {
      const small = median(`${op} (1k)`);
      const large = median(`${op} (1M)`);
      lines.push(`${op}: ${small.toFixed(1)} ns at 1k, ${large.toFixed(1)} ns at 1M (x${(large / small).toFixed(2)}).`);
    }
    return lines;
  },
};

export default conn;
