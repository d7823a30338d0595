// The neighbour table's address index (open addressing with backward-shift deletion) against a plain Map:
// any sequence of resolutions, learned replies and failures leaves every address findable exactly while
// the model holds it, including addresses above 2^31 and ones that collide into the same probe run.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NeighbourTable, NO_NEIGH } from '../../src/datapath/neighbours.js';

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
        const table = new NeighbourTable(capacity, 8, 1000);
        const model = new Set<number>();
        const now = 0;
        for (const o of ops) {
          if (o.kind === 'resolve') {
            const slot = table.resolve(o.ip, 0, now);
            if (slot === NO_NEIGH) expect(model.size).toBe(capacity);
            else model.add(o.ip);
          } else if (o.kind === 'learn') {
            // An ARP aimed at us creates the entry when there is room.
            const before = model.has(o.ip);
            table.learn(o.ip, 0x0200, 0x00000001, 0, true, now);
            if (table.learned) model.add(o.ip);
            else expect(before || model.size === capacity).toBe(true);
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

  it('forgets a learned neighbour once it is no longer reachable and nothing waits on it', () => {
    const table = new NeighbourTable(4, 8, 1000);
    table.learn(0xc0a80002, 0x0200, 0x0a0b0c0d, 1, true, 0);
    const slot = table.find(0xc0a80002, 1000);
    expect(table.macOf(slot)).toBe(0x02000a0b0c0d);
    expect(table.find(0xc0a80002, 300_000)).toBe(NO_NEIGH);
    expect(table.size).toBe(0);
  });
});
