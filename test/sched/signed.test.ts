// IpvsCore hands schedulers signed 32-bit addresses (`addr | 0`, never boxed by V8). The hashing and
// locality schedulers must choose exactly as with the unsigned value the kernel's u32 arithmetic sees.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../src/sched/index.js';
import { SchedFlag } from '../../src/sched/types.js';
import { addedInOrder, dest, input } from './helpers.js';

const NAMES = ['sh', 'dh', 'mh', 'lblc', 'lblcr'] as const;

describe('schedulers with signed addresses', () => {
  for (const name of NAMES) {
    it(`${name} picks the same destination for addr | 0 as for the unsigned address`, () => {
      const flags = name === 'sh' || name === 'mh' ? SchedFlag.sched2 : 0; // hash the port too
      const dests = addedInOrder(
        dest('10.0.0.1', 1),
        dest('10.0.0.2', 2),
        dest('192.168.7.3', 3),
        dest('250.1.1.1', 1),
      );
      const unsigned = createScheduler(name, flags, { now: () => 0 })!;
      const signed = createScheduler(name, flags, { now: () => 0 })!;
      unsigned.update(dests);
      signed.update(dests);
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 1, max: 65535 }),
          (saddr, daddr, sport) => {
            const u = input('0.0.0.0', sport);
            u.saddr = saddr;
            u.daddr = daddr;
            const s = { ...u, saddr: saddr | 0, daddr: daddr | 0 };
            expect(signed.pick(s)).toBe(unsigned.pick(u));
          },
        ),
        { numRuns: 300, seed: 5 },
      );
    });
  }
});
