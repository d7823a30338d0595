// The neighbour table's address index (open addressing with backward-shift deletion) against a plain Map:
// any sequence of resolutions, learned replies and failures leaves every address findable exactly while
// the model holds it, including addresses above 2^31 and ones that collide into the same probe run.
// Then its aging and gc against the kernel's rules (net/core/neighbour.c), on a fake clock in milliseconds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ArpConfig } from '../../src/config/director.js';
import {
  NeighbourTable,
  NeighState,
  NeighTimer,
  NO_NEIGH,
  REACHABLE_REDRAW_SECONDS,
} from '../../src/datapath/neighbours.js';

// A small capacity (index of 8 or 16 positions) so that probe runs overlap and wrap; addresses from a small
// pool, half of them >= 2^31.
const POOL = [0x0a000001, 0x0a000002, 0xc0a80001, 0xc0a80002, 0xfffffffe, 0x80000000, 0x7fffffff, 0x00000009];

const op = fc.oneof(
  fc.record({ kind: fc.constant('resolve' as const), ip: fc.constantFrom(...POOL) }),
  fc.record({ kind: fc.constant('learn' as const), ip: fc.constantFrom(...POOL) }),
  fc.record({ kind: fc.constant('fail' as const), ip: fc.constantFrom(...POOL) }),
);

describe('NeighbourTable index', () => {
  it('finds exactly the addresses it holds after any sequence of adds and removals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 200 }), (capacity, ops) => {
        const arp = {
          gcThresh1: capacity,
          gcThresh2: capacity,
          gcThresh3: capacity,
          gcStaleTime: 60,
          baseReachableTime: 30,
        };
        const table = new NeighbourTable({ queueCapacity: 8, ticksPerSecond: 1000, arp });
        const model = new Set<number>();
        const now = 0;
        // A new address in a full table makes room by evicting exactly one other (forced gc).
        const admit = (ip: number) => {
          if (model.has(ip)) return;
          if (model.size === capacity) {
            const gone = [...model].filter((m) => table.find(m, now) === NO_NEIGH);
            expect(gone).toHaveLength(1);
            model.delete(gone[0]!);
          }
          model.add(ip);
        };
        for (const o of ops) {
          if (o.kind === 'resolve') {
            const slot = table.resolve(o.ip, 0, now);
            expect(slot).not.toBe(NO_NEIGH);
            admit(o.ip);
          } else if (o.kind === 'learn') {
            // An ARP aimed at us creates the entry, making room if need be.
            table.learn(o.ip, 0x0200, 0x00000001, 0, true, now);
            expect(table.learned).toBe(true);
            admit(o.ip);
          } else {
            const slot = table.find(o.ip, now);
            if (slot !== NO_NEIGH) {
              table.fail(slot);
              model.delete(o.ip);
            }
          }
          expect(table.size).toBe(model.size);
          for (const ip of POOL) {
            const slot = table.find(ip, now);
            if (model.has(ip)) {
              expect(slot).not.toBe(NO_NEIGH);
              expect(table.ip[slot]).toBe(ip);
            } else {
              expect(slot).toBe(NO_NEIGH);
            }
          }
        }
      }),
      { numRuns: 500, seed: 11 },
    );
  });
});

const SECOND = 1000;
const KERNEL: ArpConfig = { gcThresh1: 128, gcThresh2: 512, gcThresh3: 1024, gcStaleTime: 60, baseReachableTime: 30 };

/** A table on a millisecond clock whose reachable_time is exactly base_reachable_time (random() = 0.5). */
function table(arp: Partial<ArpConfig> = {}, queueCapacity = 64): NeighbourTable {
  return new NeighbourTable({ queueCapacity, ticksPerSecond: SECOND, arp: { ...KERNEL, ...arp }, random: () => 0.5 });
}

const addr = (k: number) => (0x0a000000 + k) >>> 0;
const learnAt = (t: NeighbourTable, k: number, now: number) => t.learn(addr(k), 0x0200, k, 0, true, now);
const frame = new Uint8Array(60);

describe('NeighbourTable aging (REACHABLE -> STALE -> DELAY -> PROBE)', () => {
  it('keeps a neighbour reachable for reachable_time after its ARP, then stale but still usable', () => {
    const t = table();
    learnAt(t, 1, 0);
    const slot = t.find(addr(1), 29_999);
    expect(t.state[slot]).toBe(NeighState.reachable);
    expect(t.deadline[slot]).toBe(30 * SECOND);
    expect(t.find(addr(1), 30 * SECOND)).toBe(slot);
    expect(t.state[slot]).toBe(NeighState.stale);
    expect(t.resolved(slot)).toBe(true);
    expect(t.macOf(slot)).toBe(0x020000000001);
  });

  it('draws reachable_time in [base/2, 3*base/2) and draws it again every 300 s', () => {
    let r = 0;
    const t = new NeighbourTable({ queueCapacity: 1, ticksPerSecond: SECOND, arp: KERNEL, random: () => r });
    expect(t.reachableTicks).toBe(15 * SECOND);
    r = 0.999999;
    t.age(0, 1); // the first call only starts the 300 s period
    expect(t.reachableTicks).toBe(15 * SECOND);
    t.age(REACHABLE_REDRAW_SECONDS * SECOND - 1, 1);
    expect(t.reachableTicks).toBe(15 * SECOND);
    t.age(REACHABLE_REDRAW_SECONDS * SECOND, 1);
    expect(t.reachableTicks).toBe(44_999);
    learnAt(t, 1, 1_000_000);
    expect(t.deadline[t.find(addr(1), 1_000_000)]).toBe(1_044_999);
  });

  it('re-confirms a stale neighbour once used: three unicast probes a second apart from the next tick, then forgets it', () => {
    const t = table();
    learnAt(t, 1, 0);
    const slot = t.find(addr(1), 40 * SECOND);
    expect(t.timer(slot, 40 * SECOND, true)).toBe(NeighTimer.none); // stale and unused: nothing to do
    t.use(slot, 40 * SECOND);
    expect(t.state[slot]).toBe(NeighState.delay);
    expect(t.timer(slot, 40 * SECOND, false)).toBe(NeighTimer.none); // no room to send: asked again later
    expect(t.state[slot]).toBe(NeighState.delay);
    expect(t.timer(slot, 40_100, true)).toBe(NeighTimer.unicast);
    expect(t.state[slot]).toBe(NeighState.probe);
    expect(t.resolved(slot)).toBe(true); // packets still go to the old MAC while probing
    expect(t.timer(slot, 41_099, true)).toBe(NeighTimer.none);
    expect(t.timer(slot, 41_100, true)).toBe(NeighTimer.unicast);
    expect(t.timer(slot, 42_100, true)).toBe(NeighTimer.unicast);
    expect(t.timer(slot, 43_100, true)).toBe(NeighTimer.failed);
    t.fail(slot);
    expect(t.find(addr(1), 43_100)).toBe(NO_NEIGH);
    expect(t.learnedCount).toBe(0);
  });

  it('an ARP from the neighbour during delay or probe makes it reachable again', () => {
    const t = table();
    learnAt(t, 1, 0);
    const slot = t.find(addr(1), 40 * SECOND);
    t.use(slot, 40 * SECOND);
    expect(t.timer(slot, 40_100, true)).toBe(NeighTimer.unicast);
    learnAt(t, 1, 40_500);
    expect(t.state[slot]).toBe(NeighState.reachable);
    expect(t.deadline[slot]).toBe(70_500);
    expect(t.timer(slot, 60 * SECOND, true)).toBe(NeighTimer.none);
  });
});

describe('NeighbourTable periodic gc (neigh_periodic_work)', () => {
  it('forgets stale entries idle for gc_stale_time, only while gc_thresh1 or more are learned', () => {
    const t = table({ gcThresh1: 2 });
    for (let k = 0; k < 4; k++) learnAt(t, k, 0);
    // Reachable (30 s) and then stale, but not idle for 60 s yet.
    expect(t.age(59_999, t.capacity)).toBe(0);
    // Idle now: forgotten until fewer than gc_thresh1 are left.
    expect(t.age(60 * SECOND, t.capacity)).toBe(3);
    expect(t.size).toBe(1);
    expect(t.gcFreed).toBe(3);

    const below = table({ gcThresh1: 5 });
    for (let k = 0; k < 4; k++) learnAt(below, k, 0);
    expect(below.age(600 * SECOND, below.capacity)).toBe(0);
    expect(below.size).toBe(4);
  });

  it('spares entries used, confirmed, reachable, waiting on packets or static', () => {
    const t = table({ gcThresh1: 1, baseReachableTime: 100 });
    learnAt(t, 1, 0); // idle for good: goes
    learnAt(t, 2, 0);
    t.use(t.find(addr(2), 10 * SECOND), 10 * SECOND); // used at 10 s: stays until 70 s
    learnAt(t, 3, 0);
    learnAt(t, 3, 20 * SECOND); // confirmed at 20 s: reachable until 120 s
    const waiting = t.resolve(addr(4), 0, 0);
    expect(t.enqueue(waiting, frame, 0, frame.length)).toBe(true);
    t.addStatic(addr(5), 0x020000000005, 0);
    expect(t.age(65 * SECOND, t.capacity)).toBe(0); // all reachable still (100 s)
    expect(t.age(105 * SECOND, t.capacity)).toBe(2); // 1 and 2 are stale and idle for 60 s
    expect(t.find(addr(1), 105 * SECOND)).toBe(NO_NEIGH);
    expect(t.find(addr(2), 105 * SECOND)).toBe(NO_NEIGH);
    expect(t.find(addr(3), 105 * SECOND)).not.toBe(NO_NEIGH);
    expect(t.find(addr(4), 105 * SECOND)).not.toBe(NO_NEIGH);
    expect(t.find(addr(5), 105 * SECOND)).not.toBe(NO_NEIGH);
  });

  it('walks at most `budget` slots per call and resumes where it stopped', () => {
    const t = table({ gcThresh1: 1, gcThresh3: 8 });
    for (let k = 0; k < 8; k++) learnAt(t, k, 0);
    let freed = 0;
    for (let call = 0; call < 4; call++) {
      const n = t.age(100 * SECOND, 2);
      expect(n).toBeLessThanOrEqual(2);
      freed += n;
    }
    expect(freed).toBe(8);
  });
});

describe('NeighbourTable forced gc (neigh_forced_gc)', () => {
  it('never turns a new neighbour away from a table full of entries that nobody uses', () => {
    const t = table();
    for (let k = 0; k < 1024; k++) expect(learnAt(t, k, 1000 + k)).toBe(NO_NEIGH);
    expect(t.learnedCount).toBe(1024);
    // Every entry is fresh (just confirmed): the least recently confirmed one makes room.
    learnAt(t, 5000, 3000);
    expect(t.learned).toBe(true);
    expect(t.find(addr(5000), 3000)).not.toBe(NO_NEIGH);
    expect(t.find(addr(0), 3000)).toBe(NO_NEIGH);
    expect(t.find(addr(1), 3000)).not.toBe(NO_NEIGH);
    expect(t.learnedCount).toBe(1024);
    // Resolving a next hop gets room the same way.
    expect(t.resolve(addr(6000), 0, 3001)).not.toBe(NO_NEIGH);
    expect(t.find(addr(1), 3001)).toBe(NO_NEIGH);
  });

  it('frees idle entries first, down to gc_thresh2, and keeps those in use', () => {
    const t = table();
    for (let k = 0; k < 1024; k++) learnAt(t, k, 0);
    const busy = t.find(addr(7), 100 * SECOND); // stale by now
    t.use(busy, 100 * SECOND);
    learnAt(t, 100, 99 * SECOND); // confirmed again: reachable
    learnAt(t, 5000, 100 * SECOND);
    expect(t.learned).toBe(true);
    expect(t.learnedCount).toBe(513); // 1024 - (1024 - 512) freed + the new one
    expect(t.find(addr(7), 100 * SECOND)).toBe(busy);
    expect(t.find(addr(100), 100 * SECOND)).not.toBe(NO_NEIGH);
  });

  it('between gc_thresh2 and gc_thresh3 runs at most every 5 s', () => {
    // Entries go stale after 1 s and count as idle for good after 1 s more.
    const t = table({ gcThresh2: 4, gcThresh3: 16, baseReachableTime: 1, gcStaleTime: 1 });
    for (let k = 0; k < 5; k++) learnAt(t, k, 0); // the 5th runs a gc, with nothing above gc_thresh2 to free
    expect(t.learnedCount).toBe(5);
    learnAt(t, 5, 4 * SECOND); // idle entries, but within 5 s of that gc: none runs
    expect(t.learnedCount).toBe(6);
    learnAt(t, 6, 5 * SECOND); // the idle ones go, down to gc_thresh2
    expect(t.learnedCount).toBe(5);
    expect(t.gcFreed).toBe(2);
  });

  it('never evicts an entry holding packets, nor a static one; full of those, it refuses', () => {
    const t = new NeighbourTable({
      queueCapacity: 8,
      ticksPerSecond: SECOND,
      staticCapacity: 1,
      arp: { ...KERNEL, gcThresh2: 2, gcThresh3: 2 },
      random: () => 0.5,
    });
    t.addStatic(addr(100), 0x020000000064, 0);
    for (const k of [1, 2]) expect(t.enqueue(t.resolve(addr(k), 0, 0), frame, 0, frame.length)).toBe(true);
    expect(t.resolve(addr(3), 0, 60 * SECOND)).toBe(NO_NEIGH);
    learnAt(t, 4, 60 * SECOND);
    expect(t.learned).toBe(false);
    expect(t.find(addr(100), 60 * SECOND)).not.toBe(NO_NEIGH);
    // Once one's packets are gone (sent or dropped), it may go.
    t.fail(t.find(addr(1), 60 * SECOND));
    learnAt(t, 4, 60 * SECOND);
    expect(t.learned).toBe(true);
  });
});

describe('NeighbourTable overflow report', () => {
  it('says when active entries had to go or a neighbour was turned away, at most once a minute', () => {
    const t = new NeighbourTable({
      queueCapacity: 8,
      ticksPerSecond: SECOND,
      arp: { ...KERNEL, gcThresh2: 2, gcThresh3: 2 },
      random: () => 0.5,
    });
    const reports: { evicted: number; refused: number; message: string }[] = [];
    t.onOverflow = (o, message) => reports.push({ evicted: o.evicted, refused: o.refused, message });
    learnAt(t, 1, 0);
    learnAt(t, 2, 0);
    t.age(0, 1);
    expect(reports).toEqual([]); // full, but nothing had to go yet
    learnAt(t, 3, 1000); // both active: the least recently active goes
    learnAt(t, 4, 1000);
    t.age(1000, 1);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ evicted: 2, refused: 0 });
    expect(reports[0]!.message).toMatch(
      /all 2 learned entries \(arp\.gc_thresh3\) were in use; .*evicted to make room: 2;/,
    );
    // Both left now hold packets: the next is turned away; reported only a minute after the first report.
    for (const k of [3, 4]) t.enqueue(t.find(addr(k), 2000), frame, 0, frame.length);
    expect(t.resolve(addr(5), 0, 2000)).toBe(NO_NEIGH);
    t.age(60_999, 1);
    expect(reports).toHaveLength(1);
    t.age(61_000, 1);
    expect(reports).toHaveLength(2);
    expect(reports[1]).toMatchObject({ evicted: 0, refused: 1 });
    expect(reports[1]!.message).toMatch(/evicted to make room: 0; new neighbours turned away .*: 1;/);
    t.age(200_000, 1);
    expect(reports).toHaveLength(2); // nothing new
  });
});
