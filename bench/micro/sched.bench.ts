// The cost of one scheduling decision, per scheduler, with 2, 16 and 256 destinations: what a new
// connection pays on top of the connection-table miss. Linear schedulers (lc, wlc, sed, nq, fo, ovf) walk
// the whole list; hashing ones (sh, dh, mh) do not; lblc/lblcr add a cache lookup keyed by the VIP.
import { IpProto } from '../../src/constants.js';
import { Dest, Fwd } from '../../src/dest/dest.js';
import { Stats } from '../../src/dest/stats.js';
import { createScheduler, SchedFlag, type SchedInput, schedulerNames } from '../../src/sched/index.js';
import type { BenchCase, BenchGroup, BenchModule } from '../types.js';

const DEST_COUNTS = [2, 16, 256] as const;
/** Distinct packets cycled through, so hashing schedulers see many clients and lblc many addresses. */
const POOL = 1024;

// Picks land here, where any importer could read them, so that V8 cannot drop the calls as dead code.
export const sink = { value: 0 };

/** Deterministic pseudo-random numbers (xorshift32): the same inputs on every run. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** `count` destinations with weights 1..8 and some load, so least-connection scans compare real numbers. */
function destinations(count: number): Dest[] {
  const next = rng(count * 7919);
  const stats = new Stats();
  const dests: Dest[] = [];
  for (let i = 0; i < count; i++) {
    const d = new Dest(i, (10 << 24) + 0x10000 + i, 80, Fwd.masq, 1 + (next() % 8), stats);
    d.activeConns = next() % 64;
    d.inactConns = next() % 512;
    dests.push(d);
  }
  return dests;
}

function packets(): SchedInput[] {
  const next = rng(12345);
  const out: SchedInput[] = [];
  for (let i = 0; i < POOL; i++) {
    out.push({
      saddr: next(),
      sport: 1024 + (next() % 60000),
      // 64 distinct VIPs: lblc/lblcr mostly hit their cache, as on a busy service.
      daddr: (192 << 24) + (168 << 16) + (1 << 8) + (i % 64),
      dport: 80,
      proto: IpProto.tcp,
    });
  }
  return out;
}

function scheduleGroup(count: number): BenchGroup {
  const dests = destinations(count);
  const inputs = packets();
  const reps = count === 256 ? 200 : 2000;
  const cases: BenchCase[] = [];
  for (const name of schedulerNames) {
    const flags = name === 'mh' || name === 'sh' ? SchedFlag.sched1 : 0;
    const sched = createScheduler(name, flags, { now: () => 0 })!;
    sched.update(dests);
    let at = 0;
    cases.push({
      name,
      reps,
      fn: () => {
        let acc = 0;
        for (let r = 0; r < reps; r++) {
          const picked = sched.pick(inputs[at]!);
          at = (at + 1) & (POOL - 1);
          if (picked !== null) acc += picked.id;
        }
        sink.value += acc;
      },
    });
  }
  return {
    title: `${count} destinations`,
    note: 'One operation is one `pick()` for a new connection (sh and mh with their fallback flag set).',
    cases,
  };
}

const sched: BenchModule = {
  title: 'Schedulers',
  description:
    'Nanoseconds per scheduling decision for every IPVS scheduler, at 2, 16 and 256 destinations. ' +
    'Destinations carry weights 1..8 and random connection counts; packets come from 1024 clients and 64 VIPs.',
  groups: () => DEST_COUNTS.map(scheduleGroup),
};

export default sched;
