import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Dest } from '../../src/dest/dest.js';
import { FoScheduler } from '../../src/sched/fo.js';
import { LcScheduler } from '../../src/sched/lc.js';
import { NqScheduler } from '../../src/sched/nq.js';
import { OvfScheduler } from '../../src/sched/ovf.js';
import { SedScheduler } from '../../src/sched/sed.js';
import type { Scheduler } from '../../src/sched/types.js';
import { WlcScheduler } from '../../src/sched/wlc.js';
import { dest, input } from './helpers.js';

const packet = input('10.0.0.1');

function withLoad(weight: number, active: number, inactive = 0, overloaded = false): Dest {
  const d = dest('10.1.0.1', weight);
  d.activeConns = active;
  d.inactConns = inactive;
  d.overloaded = overloaded;
  return d;
}

function choose(sched: Scheduler, dests: Dest[]): number {
  sched.update(dests);
  const picked = sched.pick(packet);
  return picked === null ? -1 : dests.indexOf(picked);
}

describe('lc', () => {
  it('takes the lowest active*256 + inactive, first in list on ties', () => {
    const lc = new LcScheduler();
    // overheads 256, 255, 255: the first 255 wins
    expect(choose(lc, [withLoad(1, 1), withLoad(1, 0, 255), withLoad(1, 0, 255)])).toBe(1);
    // weight 0 and overloaded destinations are skipped even when idle; weight does not scale the overhead
    expect(choose(lc, [withLoad(0, 0), withLoad(1, 0, 0, true), withLoad(5, 2), withLoad(1, 1, 7)])).toBe(3);
    expect(choose(lc, [withLoad(0, 0), withLoad(3, 0, 0, true)])).toBe(-1);
    expect(choose(lc, [])).toBe(-1);
  });

  it('follows counters changed between picks', () => {
    const lc = new LcScheduler();
    const [a, b] = [withLoad(1, 0), withLoad(1, 0)];
    lc.update([a, b]);
    expect(lc.pick(packet)).toBe(a);
    a.inactConns = 1;
    expect(lc.pick(packet)).toBe(b);
    b.activeConns = 1;
    expect(lc.pick(packet)).toBe(a);
  });
});

describe('wlc', () => {
  it('compares overhead/weight by cross-multiplication, first in list on ties', () => {
    const wlc = new WlcScheduler();
    // A: 256/1, B: 512/3 -> 256*3 = 768 > 512*1 = 512, so B
    expect(choose(wlc, [withLoad(1, 1), withLoad(3, 2)])).toBe(1);
    // A: 256/1, B: 768/3 -> 768 > 768 is false: A keeps it
    expect(choose(wlc, [withLoad(1, 1), withLoad(3, 3)])).toBe(0);
  });

  it('never picks weight 0 or overloaded destinations', () => {
    const wlc = new WlcScheduler();
    expect(choose(wlc, [withLoad(0, 0), withLoad(2, 5)])).toBe(1);
    expect(choose(wlc, [withLoad(2, 5), withLoad(0, 0)])).toBe(0);
    expect(choose(wlc, [withLoad(1, 0, 0, true), withLoad(2, 5)])).toBe(1);
    expect(choose(wlc, [withLoad(2, 5), withLoad(9, 0, 0, true)])).toBe(0);
    expect(choose(wlc, [withLoad(0, 0), withLoad(1, 0, 0, true)])).toBe(-1);
  });

  it('compares in 64 bits: products beyond 2^32 decide correctly', () => {
    const wlc = new WlcScheduler();
    // A: loh = 2^22 * 256 = 2^30 at weight 1; B: doh = 2^30 + 1 at weight 4. 2^30 * 4 = 2^32 > 2^30 + 1, so
    // B; a 32-bit product would be 0 and keep A.
    expect(choose(wlc, [withLoad(1, 1 << 22), withLoad(4, 1 << 22, 1)])).toBe(1);
    // A: 100000 * 256 = 25600000 at weight 1; B: 25600256 at weight 65535: 25600000 * 65535 > 25600256.
    expect(choose(wlc, [withLoad(1, 100000), withLoad(65535, 100001)])).toBe(1);
  });
});

describe('sed and nq', () => {
  it('sed counts the new connection: an idle light server loses to a lightly loaded heavy one', () => {
    // A: (0+1)/1, B: (1+1)/3 -> 1*3 > 2*1, so B
    expect(choose(new SedScheduler(), [withLoad(1, 0), withLoad(3, 1)])).toBe(1);
    // inactive connections do not count
    expect(choose(new SedScheduler(), [withLoad(1, 0, 1000), withLoad(1, 0)])).toBe(0);
    expect(choose(new SedScheduler(), [withLoad(0, 0), withLoad(1, 0, 0, true)])).toBe(-1);
  });

  it('nq sends to the first idle server at once, else as sed', () => {
    expect(choose(new NqScheduler(), [withLoad(1, 0), withLoad(3, 1)])).toBe(0);
    expect(choose(new NqScheduler(), [withLoad(3, 1), withLoad(1, 4), withLoad(1, 0)])).toBe(2);
    // no idle server: (1+1)/3 vs (4+1)/10 -> 2*10 > 5*3, so the second
    expect(choose(new NqScheduler(), [withLoad(3, 1), withLoad(10, 4)])).toBe(1);
    // an idle server with weight 0 or overloaded does not count as idle
    expect(choose(new NqScheduler(), [withLoad(0, 0), withLoad(1, 0, 0, true), withLoad(2, 3)])).toBe(2);
  });
});

describe('fo and ovf', () => {
  it('fo takes the highest weight, first on ties, skipping overloaded', () => {
    expect(choose(new FoScheduler(), [withLoad(2, 0), withLoad(5, 100), withLoad(5, 0)])).toBe(1);
    expect(choose(new FoScheduler(), [withLoad(2, 0), withLoad(5, 0, 0, true)])).toBe(0);
    expect(choose(new FoScheduler(), [withLoad(0, 0)])).toBe(-1);
  });

  it('ovf overflows to the next heaviest once active connections exceed the weight', () => {
    const ovf = new OvfScheduler();
    const [a, b, c] = [withLoad(2, 0), withLoad(3, 0), withLoad(3, 0)];
    ovf.update([a, b, c]);
    expect(ovf.pick(packet)).toBe(b);
    b.activeConns = 3; // active == weight is still eligible
    expect(ovf.pick(packet)).toBe(b);
    b.activeConns = 4;
    expect(ovf.pick(packet)).toBe(c);
    c.activeConns = 4;
    expect(ovf.pick(packet)).toBe(a);
    a.overloaded = true;
    expect(ovf.pick(packet)).toBe(null);
  });
});

// ---- Plain references following the kernel C ----

/** ip_vs_dest_conn_overhead() returns an int: it wraps like one. */
function overhead(d: Dest): number {
  return ((d.activeConns << 8) + d.inactConns) | 0;
}

function refLc(list: Dest[]): Dest | null {
  let least: Dest | null = null;
  let loh = 0;
  for (const d of list) {
    if (d.overloaded || d.weight === 0) continue;
    const doh = overhead(d) >>> 0; // unsigned int in ip_vs_lc.c
    if (!least || doh < loh) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

function refWeighted(list: Dest[], cost: (d: Dest) => number): Dest | null {
  let k = 0;
  let least: Dest | null = null;
  let loh = 0;
  for (; k < list.length; k++) {
    const d = list[k]!;
    if (!d.overloaded && d.weight > 0) {
      least = d;
      loh = cost(d);
      break;
    }
  }
  if (!least) return null;
  for (k++; k < list.length; k++) {
    const d = list[k]!;
    if (d.overloaded) continue;
    const doh = cost(d);
    if (BigInt(loh) * BigInt(d.weight) > BigInt(doh) * BigInt(least.weight)) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

function refNq(list: Dest[]): Dest | null {
  let least: Dest | null = null;
  let loh = 0;
  for (const d of list) {
    if (d.overloaded || !d.weight) continue;
    const doh = d.activeConns + 1;
    if (d.activeConns === 0) return d;
    if (!least || BigInt(loh) * BigInt(d.weight) > BigInt(doh) * BigInt(least.weight)) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

function refFo(list: Dest[]): Dest | null {
  let h: Dest | null = null;
  let hw = 0;
  for (const d of list) {
    if (!d.overloaded && d.weight > hw) {
      h = d;
      hw = d.weight;
    }
  }
  return h;
}

function refOvf(list: Dest[]): Dest | null {
  let h: Dest | null = null;
  let hw = 0;
  for (const d of list) {
    const w = d.weight;
    if (d.overloaded || d.activeConns > w || w === 0) continue;
    if (!h || w > hw) {
      h = d;
      hw = w;
    }
  }
  return h;
}

const destArb = fc.record({
  weight: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 65535 })),
  active: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 1 << 24 })),
  inactive: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 1 << 22 })),
  overloaded: fc.boolean(),
});

describe('the least-connection family against plain references', () => {
  const cases: [string, () => Scheduler, (list: Dest[]) => Dest | null][] = [
    ['lc', () => new LcScheduler(), refLc],
    ['wlc', () => new WlcScheduler(), (l) => refWeighted(l, overhead)],
    ['sed', () => new SedScheduler(), (l) => refWeighted(l, (d) => d.activeConns + 1)],
    ['nq', () => new NqScheduler(), refNq],
    ['fo', () => new FoScheduler(), refFo],
    ['ovf', () => new OvfScheduler(), refOvf],
  ];
  for (const [name, make, ref] of cases) {
    it(`${name} agrees on random loads`, () => {
      fc.assert(
        fc.property(fc.array(destArb, { minLength: 0, maxLength: 12 }), (specs) => {
          const list = specs.map((s) => withLoad(s.weight, s.active, s.inactive, s.overloaded));
          const sched = make();
          sched.update(list);
          expect(sched.pick(packet)).toBe(ref(list));
        }),
        { numRuns: 500 },
      );
    });
  }
});
