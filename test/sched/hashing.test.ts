import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import type { Dest } from '../../src/dest/dest.js';
import { DhScheduler } from '../../src/sched/dh.js';
import { ShScheduler } from '../../src/sched/sh.js';
import { SchedFlag } from '../../src/sched/types.js';
import { dest, input, ip } from './helpers.js';

// Bucket numbers worked out by hand (hash_32(v, 8) = top byte of v * 0x61c88647 mod 2^32):
//   10.0.0.0 = 0x0a000000: (0x61c88647 * 0x0a) << 24 = 0xc6000000          -> 0xc6 = 198
//   10.0.0.1 = 0x0a000001: 0x61c88647 + 0xc6000000 = 0x27c88647 (mod 2^32)  -> 0x27 = 39
//   10.0.0.2 = 0x0a000002: 0xc3910c8e + 0xc6000000 = 0x89910c8e             -> 0x89 = 137
//   0.0.0.1:  0x61c88647                                                     -> 0x61 = 97
//   0.0.0.0:  0                                                              -> 0

describe('sh', () => {
  // Weight 3 then weight 1, from the head: buckets 0-2 A, 3 B, 4-6 A, 7 B, ...: bucket b is B when b % 4 == 3.
  const a = dest('10.1.0.1', 3);
  const b = dest('10.1.0.2', 1);

  it('maps the client address to weighted buckets', () => {
    const sh = new ShScheduler(0);
    sh.update([a, b]);
    expect(sh.pick(input('10.0.0.1'))).toBe(b); // 39 % 4 == 3
    expect(sh.pick(input('10.0.0.2'))).toBe(a); // 137 % 4 == 1
    expect(sh.pick(input('0.0.0.1'))).toBe(a); // 97 % 4 == 1
    expect(sh.pick(input('10.0.0.0', 1))).toBe(a); // the port is ignored without sh-port: 198 % 4 == 2
  });

  it('adds the source port with sh-port, for TCP, UDP and SCTP only', () => {
    const sh = new ShScheduler(SchedFlag.sched2);
    sh.update([a, b]);
    // 1 + 0x0a000000 = 0x0a000001 -> bucket 39 -> B
    expect(sh.pick(input('10.0.0.0', 1))).toBe(b);
    expect(sh.pick(input('10.0.0.0', 1, '192.168.1.231', 80, IpProto.udp))).toBe(b);
    expect(sh.pick(input('10.0.0.0', 1, '192.168.1.231', 80, IpProto.sctp))).toBe(b);
    expect(sh.pick(input('10.0.0.0', 1, '192.168.1.231', 0, IpProto.icmp))).toBe(a); // port 0 -> 198
  });

  it('returns none for an unavailable first choice unless sh-fallback, which probes (k + 2h) mod 256', () => {
    const c = dest('10.1.0.3', 3);
    const d = dest('10.1.0.4', 1);
    const plain = new ShScheduler(0);
    const fallback = new ShScheduler(SchedFlag.sched1);
    plain.update([c, d]);
    fallback.update([c, d]);
    d.overloaded = true;
    expect(plain.pick(input('10.0.0.1'))).toBe(null);
    // h = 39: probe k = 0 is bucket 78, 78 % 4 == 2 -> C
    expect(fallback.pick(input('10.0.0.1'))).toBe(c);
    d.overloaded = false;
    c.weight = 0; // quiesced, but sh only refills buckets on update(), so C keeps its buckets
    expect(plain.pick(input('0.0.0.1'))).toBe(null);
    // h = 97: k = 0 -> 194 (C, weight 0), k = 1 -> 195 (195 % 4 == 3) -> D
    expect(fallback.pick(input('0.0.0.1'))).toBe(d);
    d.weight = 0;
    expect(fallback.pick(input('0.0.0.1'))).toBe(null);
  });

  it('gives a weight-0 destination one bucket when refilled', () => {
    const z = dest('10.1.0.5', 0);
    const y = dest('10.1.0.6', 1);
    const sh = new ShScheduler(SchedFlag.sched1);
    sh.update([z, y]); // Z Y Z Y ...
    expect(sh.pick(input('10.0.0.1'))).toBe(y); // bucket 39
    // bucket 0 is Z (weight 0); fallback k = 0 -> bucket 0 again, k = 1 -> bucket 1 -> Y
    expect(sh.pick(input('0.0.0.0'))).toBe(y);
    expect(new ShScheduler(0).pick(input('10.0.0.1'))).toBe(null); // no destinations
  });

  it('agrees with a plain reference of ip_vs_sh.c for random weights, clients and flags', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ weight: fc.integer({ min: 0, max: 7 }), overloaded: fc.boolean() }), { maxLength: 9 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 })), {
          minLength: 1,
          maxLength: 20,
        }),
        fc.integer({ min: 0, max: 3 }),
        (specs, clients, flagBits) => {
          const list = specs.map((s, i) => {
            const d = dest(`10.3.0.${i + 1}`, s.weight);
            d.overloaded = s.overloaded;
            return d;
          });
          const flags = (flagBits & 1 ? SchedFlag.sched1 : 0) | (flagBits & 2 ? SchedFlag.sched2 : 0);
          const sh = new ShScheduler(flags);
          sh.update(list);
          const table = refShTable(list);
          for (const [addr, port] of clients) {
            const packet = { saddr: addr, sport: port, daddr: ip('192.168.1.231'), dport: 80, proto: IpProto.tcp };
            expect(sh.pick(packet)).toBe(refShPick(table, addr, flags & SchedFlag.sched2 ? port : 0, flags));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

function refHash8(v: number): number {
  return Number((((BigInt(v) % 0x100000000n) * 0x61c88647n) & 0xffffffffn) >> 24n);
}

function refShTable(list: Dest[]): (Dest | null)[] {
  const buckets: (Dest | null)[] = [];
  let p = 0;
  let dCount = 0;
  for (let i = 0; i < 256; i++) {
    if (list.length === 0) {
      buckets.push(null);
      continue;
    }
    const d = list[p]!;
    buckets.push(d);
    if (++dCount >= d.weight) {
      p = (p + 1) % list.length;
      dCount = 0;
    }
  }
  return buckets;
}

function refShPick(buckets: (Dest | null)[], addr: number, port: number, flags: number): Dest | null {
  const hashkey = (offset: number) => (offset + refHash8(port + addr)) & 255;
  const isUnavailable = (d: Dest) => d.weight <= 0 || d.overloaded;
  const ihash = hashkey(0);
  let d = buckets[ihash]!;
  if (!(flags & SchedFlag.sched1)) return !d || isUnavailable(d) ? null : d;
  if (!d) return null;
  if (!isUnavailable(d)) return d;
  for (let offset = 0; offset < 256; offset++) {
    d = buckets[hashkey((offset + ihash) % 256)]!;
    if (!d) break;
    if (!isUnavailable(d)) return d;
  }
  return null;
}

describe('dh', () => {
  it('deals buckets round-robin from the head, whatever the weights, and hashes the packet destination', () => {
    const [c, b, a] = [dest('10.2.0.3', 1), dest('10.2.0.2', 5), dest('10.2.0.1', 1)];
    const dh = new DhScheduler();
    dh.update([c, b, a]); // bucket i -> [C, B, A][i % 3]
    expect(dh.pick(input('1.1.1.1', 1, '10.0.0.1'))).toBe(c); // 39 % 3 == 0
    expect(dh.pick(input('1.1.1.1', 1, '0.0.0.1'))).toBe(b); // 97 % 3 == 1
    expect(dh.pick(input('1.1.1.1', 1, '10.0.0.2'))).toBe(a); // 137 % 3 == 2
    expect(dh.pick(input('9.9.9.9', 7, '10.0.0.2'))).toBe(a); // the source does not matter
  });

  it('returns none when the bucket destination is quiesced, overloaded or removed (no fallback)', () => {
    const [b, a] = [dest('10.2.0.2', 1), dest('10.2.0.1', 1)];
    const dh = new DhScheduler();
    dh.update([b, a]);
    const packet = input('1.1.1.1', 1, '10.0.0.1'); // 39 % 2 == 1 -> A
    expect(dh.pick(packet)).toBe(a);
    a.weight = 0;
    expect(dh.pick(packet)).toBe(null);
    a.weight = 1;
    a.overloaded = true;
    expect(dh.pick(packet)).toBe(null);
    a.overloaded = false;
    a.available = false;
    expect(dh.pick(packet)).toBe(null);
    dh.update([]);
    expect(dh.pick(packet)).toBe(null);
  });
});
