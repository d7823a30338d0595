import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import type { Dest } from '../../src/dest/dest.js';
import { MH_TAB_SIZE, MhScheduler } from '../../src/sched/mh.js';
import { SchedFlag, type SchedInput } from '../../src/sched/types.js';
import { dest, ip } from './helpers.js';

// ---- A plain BigInt reference of hsiphash (64-bit kernels: SipHash-1-3) and of ip_vs_mh.c ----

const MASK64 = 0xffffffffffffffffn;
const rol = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK64;

function refHsiphashU32(value: number, key: [bigint, bigint]): number {
  let v0 = 0x736f6d6570736575n ^ key[0];
  let v1 = 0x646f72616e646f6dn ^ key[1];
  let v2 = 0x6c7967656e657261n ^ key[0];
  let v3 = 0x7465646279746573n ^ key[1];
  const b = (4n << 56n) | BigInt(value >>> 0);
  const round = () => {
    v0 = (v0 + v1) & MASK64;
    v1 = rol(v1, 13n);
    v1 ^= v0;
    v0 = rol(v0, 32n);
    v2 = (v2 + v3) & MASK64;
    v3 = rol(v3, 16n);
    v3 ^= v2;
    v0 = (v0 + v3) & MASK64;
    v3 = rol(v3, 21n);
    v3 ^= v0;
    v2 = (v2 + v1) & MASK64;
    v1 = rol(v1, 17n);
    v1 ^= v2;
    v2 = rol(v2, 32n);
  };
  v3 ^= b;
  round();
  v0 ^= b;
  v2 ^= 0xffn;
  round();
  round();
  round();
  return Number((v0 ^ v1 ^ v2 ^ v3) & 0xffffffffn);
}

const KEY1: [bigint, bigint] = [2654435761n, 2654435761n];
const KEY2: [bigint, bigint] = [2654446892n, 2654446892n];
const M = 4093;

function refHashkey(addr: number, port: number, key: [bigint, bigint], offset: number): number {
  return refHsiphashU32((offset + port + addr) % 0x100000000, key);
}

function refGcd(a: number, b: number): number {
  return b === 0 ? a : refGcd(b, a % b);
}

function refTable(list: Dest[]): (Dest | null)[] {
  let g = 0;
  for (const d of list) if (d.lastWeight > 0) g = g > 0 ? refGcd(d.lastWeight, g) : d.lastWeight;
  const lookup: (Dest | null)[] = new Array(M).fill(null);
  if (g < 1) return lookup;
  let mwAll = 0;
  for (const d of list) if (d.lastWeight > mwAll) mwAll = d.lastWeight;
  const fls = (x: number) => (x === 0 ? 0 : Math.floor(Math.log2(x)) + 1);
  const shift = fls(Math.floor(mwAll / g)) - 6;
  const rshift = Math.max(shift, 0);
  const ds = list.map((d) => {
    const offset = refHashkey(d.addr, d.port, KEY1, 0) % M;
    const skip = (refHashkey(d.addr, d.port, KEY2, 0) % (M - 1)) + 1;
    const lw = d.lastWeight;
    return { offset, skip, perm: offset, turns: Math.floor(lw / g) >> rshift || (lw !== 0 ? 1 : 0) };
  });
  const table = new Set<number>();
  let n = 0;
  let dtCount = 0;
  while (n < M) {
    for (let p = 0; p < list.length; ) {
      const s = ds[p]!;
      if (s.turns < 1) {
        p++;
        continue;
      }
      let c = s.perm;
      while (table.has(c)) {
        s.perm += s.skip;
        if (s.perm >= M) s.perm -= M;
        c = s.perm;
      }
      table.add(c);
      lookup[c] = list[p]!;
      if (++n === M) return lookup;
      if (++dtCount >= s.turns) {
        dtCount = 0;
        p++;
      }
    }
  }
  return lookup;
}

function refPick(lookup: (Dest | null)[], addr: number, port: number, fallback: boolean): Dest | null {
  const isUnavailable = (d: Dest) => d.weight <= 0 || d.overloaded;
  const ihash = refHashkey(addr, port, KEY1, 0) % M;
  let d = lookup[ihash]!;
  if (!fallback) return !d || isUnavailable(d) ? null : d;
  if (!d) return null;
  if (!isUnavailable(d)) return d;
  for (let offset = 0; offset < M; offset++) {
    const roffset = (offset + ihash) % M;
    d = lookup[refHashkey(addr, port, KEY1, roffset) % M]!;
    if (!d) break;
    if (!isUnavailable(d)) return d;
  }
  return null;
}

function packet(saddr: number, sport = 40000, proto: number = IpProto.tcp): SchedInput {
  return { saddr, sport, daddr: ip('192.168.1.231'), dport: 80, proto };
}

/** The share of the lookup table each destination holds, seen through picks over every slot's client. */
function shares(mh: MhScheduler, list: Dest[], clients: number): Map<Dest, number> {
  const counts = new Map<Dest, number>(list.map((d) => [d, 0]));
  for (let i = 0; i < clients; i++) {
    const d = mh.pick(packet(ip('10.0.0.0') + i));
    if (d) counts.set(d, counts.get(d)! + 1);
  }
  return counts;
}

describe('mh', () => {
  it('uses the 4093-slot table of CONFIG_IP_VS_MH_TAB_INDEX 12', () => {
    expect(MH_TAB_SIZE).toBe(4093);
  });

  it('sends every client to the single destination, and none when empty', () => {
    const only = dest('10.4.0.1', 1);
    const mh = new MhScheduler(0);
    expect(mh.pick(packet(ip('1.2.3.4')))).toBe(null);
    mh.update([only]);
    for (let i = 0; i < 50; i++) expect(mh.pick(packet(i * 7919))).toBe(only);
    mh.update([]);
    expect(mh.pick(packet(ip('1.2.3.4')))).toBe(null);
  });

  it('splits slots in proportion to weight', () => {
    const [a, b] = [dest('10.4.0.1', 1), dest('10.4.0.2', 3)];
    const mh = new MhScheduler(0);
    mh.update([b, a]);
    const counts = shares(mh, [a, b], 8000);
    // Weights 1:3 give turns 1 and 3 per pass: 1023 or 1024 slots of 4093 to A. Clients sample the table.
    expect(counts.get(a)! / 8000).toBeCloseTo(0.25, 1);
    expect(counts.get(b)! / 8000).toBeCloseTo(0.75, 1);
  });

  it('keeps most clients in place when a destination is added (consistent hashing)', () => {
    const list = [dest('10.4.1.1', 1), dest('10.4.1.2', 1), dest('10.4.1.3', 1)];
    const mh = new MhScheduler(0);
    mh.update(list);
    const before = Array.from({ length: 3000 }, (_, i) => mh.pick(packet(ip('172.16.0.0') + i)));
    const added = dest('10.4.1.4', 1);
    mh.update([added, ...list]);
    let moved = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < 3000; i++) {
      const now = mh.pick(packet(ip('172.16.0.0') + i));
      if (now !== before[i]) moved++;
      if (now !== before[i] && now !== added) movedElsewhere++;
    }
    expect(moved / 3000).toBeGreaterThan(0.15);
    expect(moved / 3000).toBeLessThan(0.35);
    expect(movedElsewhere / 3000).toBeLessThan(0.05);
  });

  it('keeps a quiesced destination slots (last_weight) and falls back only with mh-fallback', () => {
    const [a, b] = [dest('10.4.2.1', 2), dest('10.4.2.2', 2)];
    const plain = new MhScheduler(0);
    const fallback = new MhScheduler(SchedFlag.sched1);
    for (const s of [plain, fallback]) s.update([b, a]);
    const clients = Array.from({ length: 400 }, (_, i) => ip('192.0.2.0') + i);
    const onA = clients.filter((c) => plain.pick(packet(c)) === a);
    expect(onA.length).toBeGreaterThan(100);
    a.weight = 0; // quiesced: lastWeight stays 2, so the table is unchanged
    for (const s of [plain, fallback]) s.update([b, a]);
    for (const c of onA) {
      expect(plain.pick(packet(c))).toBe(null);
      expect(fallback.pick(packet(c))).toBe(b);
    }
    b.overloaded = true;
    expect(fallback.pick(packet(onA[0]!))).toBe(null);
  });

  it('hashes the source port with mh-port, for TCP, UDP and SCTP only', () => {
    const list = [dest('10.4.3.1', 1), dest('10.4.3.2', 1), dest('10.4.3.3', 1)];
    const withPort = new MhScheduler(SchedFlag.sched2);
    const noPort = new MhScheduler(0);
    withPort.update(list);
    noPort.update(list);
    const table = refTable(list);
    const client = ip('198.51.100.7');
    let differs = 0;
    for (let port = 1000; port < 1040; port++) {
      expect(withPort.pick(packet(client, port))).toBe(refPick(table, client, port, false));
      expect(withPort.pick(packet(client, port, IpProto.icmp))).toBe(noPort.pick(packet(client, port)));
      if (withPort.pick(packet(client, port)) !== noPort.pick(packet(client, port))) differs++;
    }
    expect(differs).toBeGreaterThan(0);
  });

  it('agrees with a plain reference of ip_vs_mh.c (BigInt SipHash-1-3) on random services', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            addr: fc.integer({ min: 0, max: 0xffffffff }),
            port: fc.integer({ min: 0, max: 65535 }),
            weight: fc.integer({ min: 0, max: 300 }),
            lastWeight: fc.integer({ min: 0, max: 300 }),
            overloaded: fc.boolean(),
          }),
          { maxLength: 6 },
        ),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 65535 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.integer({ min: 0, max: 3 }),
        (specs, clients, flagBits) => {
          const list = specs.map((s) => {
            const d = dest(s.addr, s.weight, s.port);
            d.lastWeight = s.weight > 0 ? s.weight : s.lastWeight;
            d.overloaded = s.overloaded;
            return d;
          });
          const flags = (flagBits & 1 ? SchedFlag.sched1 : 0) | (flagBits & 2 ? SchedFlag.sched2 : 0);
          const mh = new MhScheduler(flags);
          mh.update(list);
          const table = refTable(list);
          for (const [addr, port] of clients) {
            const expected = refPick(
              table,
              addr,
              flags & SchedFlag.sched2 ? port : 0,
              (flags & SchedFlag.sched1) !== 0,
            );
            expect(mh.pick(packet(addr, port))).toBe(expected);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
