import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnTable, INSERT_FULL, NO_ENTRY } from '../../src/conn/table.js';
import { Timeouts } from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';
import { DestRegistry, Fwd } from '../../src/dest/dest.js';
import { Stats } from '../../src/dest/stats.js';

// A plain model of the table: key -> what was stored and when it expires. An entry exists for lookups while
// expires > now, whether or not the table has reclaimed it yet.
interface ModelEntry {
  daddr: number;
  dport: number;
  expires: number;
}

const VIP = 0x0a000064;
const UDP = IpProto.udp;
const UDP_TIMEOUT = 20;

// Few client addresses and ports, so keys repeat and chains collide (16 buckets).
const keyArb = fc.record({ caddr: fc.integer({ min: 1, max: 4 }), cport: fc.integer({ min: 1, max: 6 }) });
const opArb = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant('packet' as const), key: keyArb, rip: fc.integer({ min: 1, max: 3 }) }),
    weight: 4,
  },
  fc.record({ op: fc.constant('reply' as const), key: keyArb, rip: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('remove' as const), key: keyArb }),
  fc.record({ op: fc.constant('advance' as const), by: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ op: fc.constant('sweep' as const), budget: fc.integer({ min: 0, max: 20 }) }),
);

describe('ConnTable against a Map model', () => {
  // Capacity 3 has 4 buckets for 24 possible keys: long chains, deletions from their middle, a full table.
  it.each([3, 12])('agrees on lookups, inserts, expiry, removal and counters (capacity %i)', (capacity) => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 100, maxLength: 400 }), fc.integer(), (ops, seed) => {
        const registry = new DestRegistry();
        const dest = registry.create(0xac100001, 53, Fwd.masq, 1, new Stats());
        const timeouts = new Timeouts();
        timeouts.set(0, 0, UDP_TIMEOUT);
        const table = new ConnTable(capacity, registry, { ticksPerSecond: 1, timeouts, seed });
        const model = new Map<string, ModelEntry>();
        let now = 0;
        let overflows = 0;
        const id = (k: { caddr: number; cport: number }) => `${k.caddr}:${k.cport}`;
        const live = (k: string) => {
          const e = model.get(k);
          return e !== undefined && e.expires > now ? e : undefined;
        };
        const liveCount = () => [...model.values()].filter((e) => e.expires > now).length;

        for (const step of ops) {
          switch (step.op) {
            case 'packet': {
              // What the datapath does for a client packet: look up, insert on a miss, refresh the timer.
              const k = id(step.key);
              const expected = live(k);
              let i = table.lookupIn(UDP, step.key.caddr, step.key.cport, VIP, 53, now);
              expect(i === NO_ENTRY).toBe(expected === undefined);
              if (i === NO_ENTRY) {
                model.delete(k);
                const full = liveCount() === capacity;
                i = table.insert(UDP, step.key.caddr, step.key.cport, VIP, 53, step.rip, 53, dest.id, now);
                if (full) {
                  expect(i).toBe(INSERT_FULL);
                  overflows++;
                  break;
                }
                expect(i).toBeGreaterThanOrEqual(0);
                model.set(k, { daddr: step.rip, dport: 53, expires: now + UDP_TIMEOUT });
              } else {
                expect(table.daddrOf(i)).toBe(expected!.daddr);
                expected!.expires = now + UDP_TIMEOUT;
              }
              table.udpTransition(i, now);
              break;
            }
            case 'reply': {
              const k = id(step.key);
              const expected = live(k);
              const i = table.lookupOut(UDP, step.rip, 53, step.key.caddr, step.key.cport, now);
              const hit = expected !== undefined && expected.daddr === step.rip;
              expect(i !== NO_ENTRY).toBe(hit);
              if (expected === undefined) model.delete(k);
              if (hit) {
                expect(table.lookupIn(UDP, step.key.caddr, step.key.cport, VIP, 53, now)).toBe(i);
                table.udpTransition(i, now);
                expected.expires = now + UDP_TIMEOUT;
              }
              break;
            }
            case 'remove': {
              const k = id(step.key);
              const i = table.lookupIn(UDP, step.key.caddr, step.key.cport, VIP, 53, now);
              expect(i === NO_ENTRY).toBe(live(k) === undefined);
              if (i !== NO_ENTRY) expect(table.expireEntry(i, now)).toBe(true);
              model.delete(k);
              break;
            }
            case 'advance':
              now += step.by;
              break;
            case 'sweep':
              table.sweep(now, step.budget);
              break;
          }
        }

        // After a full sweep the table holds exactly the model's live entries, and the destination counts them.
        table.sweep(now, capacity);
        const expectedLive = liveCount();
        expect(table.size).toBe(expectedLive);
        expect(dest.inactConns).toBe(expectedLive);
        expect(dest.activeConns).toBe(0);
        expect(table.overflows).toBe(overflows);
        for (const [k, e] of model) {
          const [caddr, cport] = k.split(':').map(Number) as [number, number];
          const i = table.lookupIn(UDP, caddr, cport, VIP, 53, now);
          if (e.expires > now) {
            expect(i).toBeGreaterThanOrEqual(0);
            expect(table.daddrOf(i)).toBe(e.daddr);
            expect(table.lookupOut(UDP, e.daddr, 53, caddr, cport, now)).toBe(i);
          } else {
            expect(i).toBe(NO_ENTRY);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
