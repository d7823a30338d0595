import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Dest } from '../../src/dest/dest.js';
import { RrScheduler } from '../../src/sched/rr.js';
import type { Scheduler } from '../../src/sched/types.js';
import { WrrScheduler } from '../../src/sched/wrr.js';
import { addedInOrder, dest, input } from './helpers.js';
import { KernelList, type ListNode } from './kernel-list.js';

const packet = input('10.0.0.1');

function picks(sched: Scheduler, count: number): (string | null)[] {
  const out: (string | null)[] = [];
  for (let i = 0; i < count; i++) out.push(name(sched.pick(packet)));
  return out;
}

const names = new Map<Dest, string>();
function named(label: string, weight: number): Dest {
  const d = dest(`10.1.0.${names.size + 1}`, weight);
  names.set(d, label);
  return d;
}
function name(d: Dest | null): string | null {
  return d === null ? null : (names.get(d) ?? '?');
}

describe('rr', () => {
  it('walks the list newest first and wraps', () => {
    const [a, b, c] = [named('A', 1), named('B', 1), named('C', 1)];
    const rr = new RrScheduler();
    rr.update(addedInOrder(a, b, c)); // kernel list: C B A
    expect(picks(rr, 5)).toEqual(['C', 'B', 'A', 'C', 'B']);
  });

  it('hands the pointer of a deleted destination to its predecessor; an added one waits its turn', () => {
    const [a, b, c, d] = [named('A', 1), named('B', 1), named('C', 1), named('D', 1)];
    const rr = new RrScheduler();
    rr.update([c, b, a]);
    expect(picks(rr, 2)).toEqual(['C', 'B']);
    rr.update([c, a]); // B deleted while pointed at: the pointer moves back to C
    expect(picks(rr, 1)).toEqual(['A']);
    rr.update([d, c, a]); // D added at the head; the pointer stays on A
    expect(picks(rr, 3)).toEqual(['D', 'C', 'A']);
    rr.update([d, a]); // C deleted while the pointer is elsewhere: no effect
    expect(picks(rr, 2)).toEqual(['D', 'A']);
    rr.update([a]); // D deleted; the pointer is on A: no effect
    rr.update([]); // A deleted while pointed at: back to the head
    expect(picks(rr, 1)).toEqual([null]);
  });

  it('skips weight 0 and overloaded destinations, and may pick the last one again', () => {
    const [a, b, c] = [named('A', 1), named('B', 0), named('C', 1)];
    const rr = new RrScheduler();
    rr.update([c, b, a]);
    expect(picks(rr, 3)).toEqual(['C', 'A', 'C']);
    a.overloaded = true;
    expect(picks(rr, 2)).toEqual(['C', 'C']);
    c.weight = 0;
    expect(picks(rr, 1)).toEqual([null]);
    b.weight = 2;
    expect(picks(rr, 2)).toEqual(['B', 'B']);
  });
});

describe('wrr', () => {
  it('gives weights 4:3:2 the classic interleaving, heaviest first', () => {
    const [a, b, c] = [named('A', 4), named('B', 3), named('C', 2)];
    const wrr = new WrrScheduler();
    wrr.update(addedInOrder(a, b, c)); // C(2) B(3) A(4); cw starts at 4
    // cw=4: A | cw=3: B A | cw=2: C B A | cw=1: C B A | cw back to 4: A
    expect(picks(wrr, 10)).toEqual(['A', 'B', 'A', 'C', 'B', 'A', 'C', 'B', 'A', 'A']);
  });

  it('restarts from the head with the same cw when a destination is added mid-cycle', () => {
    const [a, b, c, d] = [named('A', 4), named('B', 3), named('C', 2), named('D', 3)];
    const wrr = new WrrScheduler();
    wrr.update([c, b, a]);
    expect(picks(wrr, 2)).toEqual(['A', 'B']); // cw is now 3
    wrr.update([d, c, b, a]); // cl back to the head, cw stays 3 (<= mw 4, di 1)
    expect(picks(wrr, 12)).toEqual(['D', 'B', 'A', 'D', 'C', 'B', 'A', 'D', 'C', 'B', 'A', 'A']);
  });

  it('steps by the gcd of the weights and rounds cw onto the grid when weights change', () => {
    const [x, y] = [named('X', 4), named('Y', 2)];
    const wrr = new WrrScheduler();
    wrr.update([y, x]); // di = 2, mw = 4 - 1 = 3
    // cw=3: X | cw=1: Y X | cw=3 again: X | cw=1: Y X
    expect(picks(wrr, 6)).toEqual(['X', 'Y', 'X', 'X', 'Y', 'X']);
    expect(picks(wrr, 1)).toEqual(['X']); // cw=3 after wrapping from -1
    y.weight = 6; // upd_dest: di = 2, mw = 5, cw = 3 -> (3/2)*2 + 1 = 3
    wrr.update([y, x]);
    // from the head at cw=3: Y X | cw=1: Y X | cw=5: Y | cw=3: Y X
    expect(picks(wrr, 7)).toEqual(['Y', 'X', 'Y', 'X', 'Y', 'Y', 'X']);
  });

  it('returns none when every destination is overloaded or weight 0, and resumes afterwards', () => {
    const [a, b] = [named('A', 2), named('B', 1)];
    const wrr = new WrrScheduler();
    wrr.update([b, a]);
    expect(picks(wrr, 1)).toEqual(['A']);
    a.overloaded = true;
    b.overloaded = true;
    expect(picks(wrr, 2)).toEqual([null, null]);
    b.overloaded = false;
    expect(picks(wrr, 2)).toEqual(['B', 'B']);
    a.weight = 0;
    b.weight = 0;
    wrr.update([b, a]); // mw = 0
    expect(picks(wrr, 1)).toEqual([null]);
  });
});

// ---- Reference schedulers, following ip_vs_rr.c and ip_vs_wrr.c line by line over a real list ----

class RefRr {
  p: ListNode;
  constructor(readonly list: KernelList) {
    this.p = list.head; // ip_vs_rr_init_svc
  }
  /** ip_vs_rr_del_dest, called after the node is unlinked. */
  delDest(node: ListNode): void {
    if (this.p === node) this.p = node.next.prev;
  }
  schedule(): Dest | null {
    const head = this.list.head;
    const p = this.p;
    let dest = p;
    const last = dest;
    let pass = 0;
    do {
      for (dest = dest.next; dest !== head; dest = dest.next) {
        const d = dest.dest!;
        if (!d.overloaded && d.weight > 0) {
          this.p = dest;
          return d;
        }
        if (dest === last) return null;
      }
      pass++;
    } while (pass < 2 && p !== head);
    return null;
  }
}

function refGcd(a: number, b: number): number {
  return b === 0 ? a : refGcd(b, a % b);
}

class RefWrr {
  cl: ListNode;
  cw = 0;
  mw = 0;
  di = 1;
  constructor(readonly list: KernelList) {
    this.cl = list.head;
    this.di = this.gcdWeight();
    this.mw = this.maxWeight() - (this.di - 1);
    this.cw = this.mw;
  }
  gcdWeight(): number {
    let g = 0;
    for (const d of this.list.dests()) if (d.weight > 0) g = g > 0 ? refGcd(d.weight, g) : d.weight;
    return g ? g : 1;
  }
  maxWeight(): number {
    let w = 0;
    for (const d of this.list.dests()) if (d.weight > w) w = d.weight;
    return w;
  }
  destChanged(): void {
    this.cl = this.list.head;
    this.di = this.gcdWeight();
    this.mw = this.maxWeight() - (this.di - 1);
    if (this.cw > this.mw || !this.cw) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }
  schedule(): Dest | null {
    const head = this.list.head;
    let dest = this.cl;
    let stop: ListNode | null = null;
    let lastPass = false;
    let restarted = false;
    if (this.mw === 0) {
      this.cl = dest;
      return null;
    }
    const last = dest;
    while (true) {
      for (dest = dest.next; dest !== head; dest = dest.next) {
        const d = dest.dest!;
        if (!d.overloaded && d.weight >= this.cw) {
          this.cl = dest;
          return d;
        }
        if (dest === stop) {
          this.cl = dest;
          return null;
        }
      }
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === head) {
          this.cl = dest;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== head) stop = last;
    }
  }
}

type Op =
  | { kind: 'pick' }
  | { kind: 'add'; weight: number }
  | { kind: 'del'; which: number }
  | { kind: 'edit'; which: number; weight: number }
  | { kind: 'overload'; which: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Op>({ kind: 'pick' }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), weight: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('del' as const), which: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('edit' as const),
      which: fc.nat(),
      weight: fc.integer({ min: 0, max: 12 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('overload' as const), which: fc.nat() }) },
);

/** Drives a scheduler and a reference through the same add/del/edit/overload/pick sequence. */
function agreesWithReference(
  make: () => Scheduler,
  makeRef: (list: KernelList) => { schedule(): Dest | null },
  onAdd: (ref: never, node: ListNode) => void,
  onDel: (ref: never, node: ListNode) => void,
  onEdit: (ref: never, node: ListNode) => void,
): void {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 30, maxLength: 150 }), (ops) => {
      const list = new KernelList();
      const sched = make();
      const ref = makeRef(list) as never;
      let serial = 0;
      for (const op of ops) {
        const current = list.dests();
        if (op.kind === 'pick') {
          expect(sched.pick(packet)).toBe((ref as { schedule(): Dest | null }).schedule());
        } else if (op.kind === 'add') {
          const node = list.add(dest(`10.2.${serial >> 8}.${serial++ & 0xff}`, op.weight));
          sched.update(list.dests());
          onAdd(ref, node);
        } else if (current.length > 0) {
          const target = current[op.which % current.length]!;
          const node = list.find(target);
          if (op.kind === 'del') {
            target.available = false;
            list.del(node);
            sched.update(list.dests());
            onDel(ref, node);
          } else if (op.kind === 'edit') {
            target.weight = op.weight;
            sched.update(list.dests());
            onEdit(ref, node);
          } else {
            target.overloaded = !target.overloaded;
          }
        }
      }
    }),
    { numRuns: 300 },
  );
}

describe('rr and wrr against line-by-line references of the kernel code', () => {
  it('rr agrees', () => {
    agreesWithReference(
      () => new RrScheduler(),
      (list) => new RefRr(list),
      () => {},
      (ref: RefRr, node) => ref.delDest(node),
      () => {},
    );
  });

  it('wrr agrees', () => {
    agreesWithReference(
      () => new WrrScheduler(),
      (list) => new RefWrr(list),
      (ref: RefWrr) => ref.destChanged(),
      (ref: RefWrr) => ref.destChanged(),
      (ref: RefWrr) => ref.destChanged(),
    );
  });
});
