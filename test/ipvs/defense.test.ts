import { describe, expect, it } from 'vitest';
import { ConnTable, INSERT_FULL, NO_ENTRY } from '../../src/conn/table.js';
import { TcpDir, TcpState } from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';
import { DestRegistry, Fwd } from '../../src/dest/dest.js';
import { Stats } from '../../src/dest/stats.js';
import { DEFAULT_DEFENSE, Defense, type DefenseSettings } from '../../src/ipvs/defense.js';
import { parseIpv4Address } from '../../src/wire/addr.js';

const ip = (s: string): number => parseIpv4Address(s)!;
const VIP = ip('192.168.1.231');
const RIP = ip('192.168.2.11');
const FLOOD = ip('10.0.0.1');
const TCP = IpProto.tcp;
const SYN = 0x02;
const ACK = 0x10;

function setup(capacity: number) {
  const registry = new DestRegistry();
  const dest = registry.create(RIP, 8080, Fwd.masq, 1, new Stats());
  const table = new ConnTable(capacity, registry, { ticksPerSecond: 1, seed: 99 });
  /** A connection from source `k` after its client's SYN (SYN_RECV), or after the client's ACK too. */
  const open = (k: number, now: number, established = false): number => {
    const i = table.insert(TCP, FLOOD + k, 1024, VIP, 80, RIP, 8080, dest.id, now);
    if (i < 0) return i;
    table.tcpTransition(i, TcpDir.input, SYN, now);
    if (established) table.tcpTransition(i, TcpDir.input, ACK, now);
    return i;
  };
  return { dest, table, open };
}

describe('ConnTable: a full table reclaims embryonic entries', () => {
  it('evicts the oldest SYN_RECV entry for a new connection, never an established one', () => {
    const { dest, table, open } = setup(8);
    open(0, 0, true);
    for (let k = 1; k < 8; k++) open(k, k);
    expect(table.size).toBe(8);
    const i = open(100, 10);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(table.reclaimed).toBe(1);
    expect(table.overflows).toBe(0);
    // Source 1 held the oldest embryonic entry; source 0 is established and stays.
    expect(table.lookupIn(TCP, FLOOD + 1, 1024, VIP, 80, 10)).toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, FLOOD + 0, 1024, VIP, 80, 10)).not.toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, FLOOD + 2, 1024, VIP, 80, 10)).not.toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, FLOOD + 100, 1024, VIP, 80, 10)).toBe(i);
    // The evicted entry was unbound from its destination: 1 active (established), 7 SYN_RECV.
    expect([dest.activeConns + dest.inactConns, table.size]).toEqual([8, 8]);
    // Next in line is source 2, then 3: the oldest first.
    open(101, 11);
    expect(table.lookupIn(TCP, FLOOD + 2, 1024, VIP, 80, 11)).toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, FLOOD + 3, 1024, VIP, 80, 11)).not.toBe(NO_ENTRY);
  });

  it('refuses with INSERT_FULL when nothing is embryonic, or when reclaiming is off', () => {
    const full = setup(4);
    for (let k = 0; k < 4; k++) full.open(k, 0, true);
    expect(full.open(9, 1)).toBe(INSERT_FULL);
    expect([full.table.overflows, full.table.reclaimed]).toEqual([1, 0]);

    const off = setup(4);
    off.table.reclaimEmbryonic = false;
    for (let k = 0; k < 4; k++) off.open(k, 0);
    expect(off.open(9, 1)).toBe(INSERT_FULL);
    expect([off.table.overflows, off.table.reclaimed]).toEqual([1, 0]);
  });

  it('never takes a template, nor a UDP entry', () => {
    const { dest, table } = setup(2);
    table.insertTemplate(TCP, FLOOD, VIP, 80, RIP, 8080, dest.id, 300, 0);
    const u = table.insert(IpProto.udp, FLOOD, 53, VIP, 53, RIP, 53, dest.id, 0);
    table.udpTransition(u, 0);
    expect(table.insert(TCP, FLOOD + 1, 1024, VIP, 80, RIP, 8080, dest.id, 1)).toBe(INSERT_FULL);
  });

  it('dropRandomEmbryonic (drop_entry) removes SYN_RECV and SYNACK entries only', () => {
    const { table, open } = setup(64);
    for (let k = 0; k < 20; k++) open(k, 0, k < 5);
    const synAck = open(50, 0);
    table.secureTcp = true;
    table.tcpTransition(synAck, TcpDir.output, SYN | ACK, 0);
    expect(table.state[synAck]).toBe(TcpState.synAck);
    // Visiting every bucket (at random, so with repeats) many times over reaches every chain.
    for (let n = 0; n < 50; n++) table.dropRandomEmbryonic(table.bucketCount);
    expect(table.size).toBe(5);
    expect(table.dropped).toBe(16);
    for (let k = 0; k < 5; k++) expect(table.lookupIn(TCP, FLOOD + k, 1024, VIP, 80, 0)).not.toBe(NO_ENTRY);
  });
});

describe('Defense levels (update_defense_level)', () => {
  function defended(capacity: number, settings: Partial<DefenseSettings>) {
    const s = setup(capacity);
    const defense = new Defense(s.table);
    defense.configure({ ...DEFAULT_DEFENSE, ...settings });
    return { ...s, defense };
  }

  it('level 1 turns on and becomes 2 while memory is short, and goes back to 1 after', () => {
    const { table, open, defense } = defended(16, { amemthresh: 4, dropEntry: 1, dropPacket: 1, secureTcp: 1 });
    defense.updateLevels();
    expect([defense.dropEntry, defense.dropPacket, defense.secureTcp]).toEqual([1, 1, 1]);
    expect([defense.dropEntryActive, defense.dropRate, table.secureTcp]).toEqual([false, 0, false]);
    for (let k = 0; k < 13; k++) open(k, 0); // 3 free < 4
    defense.updateLevels();
    expect([defense.dropEntry, defense.dropPacket, defense.secureTcp]).toEqual([2, 2, 2]);
    expect([defense.dropEntryActive, table.secureTcp]).toEqual([true, true]);
    // amemthresh / (amemthresh - available) = 4 / 1
    expect(defense.dropRate).toBe(4);
    table.flush();
    defense.updateLevels();
    expect([defense.dropEntry, defense.dropPacket, defense.secureTcp]).toEqual([1, 1, 1]);
    expect([defense.dropEntryActive, defense.dropRate, table.secureTcp]).toEqual([false, 0, false]);
  });

  it('level 0 is never on and level 3 always, whatever the fill', () => {
    const never = defended(4, { amemthresh: 100 });
    never.defense.updateLevels();
    expect([never.defense.dropEntryActive, never.defense.dropRate, never.table.secureTcp]).toEqual([false, 0, false]);
    const always = defended(1000, { amemthresh: 0, dropEntry: 3, dropPacket: 3, secureTcp: 3, amDroprate: 5 });
    always.defense.updateLevels();
    expect([always.defense.dropEntryActive, always.defense.dropRate, always.table.secureTcp]).toEqual([true, 5, true]);
    expect([always.defense.dropEntry, always.defense.dropPacket, always.defense.secureTcp]).toEqual([3, 3, 3]);
  });

  it('drop_packet drops one new connection in drop_rate (ip_vs_todrop)', () => {
    const { defense } = defended(10, { amDroprate: 3, dropPacket: 3 });
    defense.updateLevels();
    const dropped = Array.from({ length: 9 }, () => defense.dropsNewConnection());
    expect(dropped).toEqual([true, false, false, true, false, false, true, false, false]);
    expect(defense.packetsDropped).toBe(3);
  });

  it('tick re-evaluates once a second and, with drop_entry on, drops embryonic entries', () => {
    const { table, open, defense } = defended(64, { amemthresh: 64, dropEntry: 1 });
    for (let k = 0; k < 64; k++) open(k, 0);
    defense.tick(0);
    expect(defense.dropEntry).toBe(2);
    const dropped = table.dropped;
    defense.tick(0.5); // within the same second: nothing runs
    expect(table.dropped).toBe(dropped);
    // 1/32 of the 64 chains, at random, each second: over 20 s some entries must have gone.
    for (let t = 1; t <= 20; t++) defense.tick(t);
    expect(table.dropped).toBeGreaterThan(0);
    expect(table.size).toBe(64 - table.dropped);
  });

  it('reports when the table runs short of free slots, and what the episode cost when it recovers', () => {
    const { table, open, defense } = defended(8, { amemthresh: 2 });
    const reports: { short: boolean; reclaimed: number; message: string }[] = [];
    defense.onChange = (change, message) => reports.push({ short: change.short, reclaimed: change.reclaimed, message });
    defense.updateLevels();
    expect(reports).toEqual([]);
    for (let k = 0; k < 8; k++) open(k, 0);
    defense.updateLevels();
    defense.updateLevels(); // still short: reported once
    for (let k = 8; k < 11; k++) open(k, 1); // three evictions
    table.flush();
    defense.updateLevels();
    expect(reports.map((r) => [r.short, r.reclaimed])).toEqual([
      [true, 0],
      [false, 3],
    ]);
    expect(reports[0]!.message).toMatch(/nearly full \(0 of 8 slots free, amemthresh 2\): new connections evict/);
    expect(reports[1]!.message).toMatch(/room again \(8 slots free\): meanwhile 3 embryonic entries evicted/);
  });

  it('refuses levels outside 0..3 and a zero am_droprate', () => {
    const { defense } = defended(4, {});
    expect(() => defense.configure({ ...DEFAULT_DEFENSE, dropEntry: 4 })).toThrow(/drop_entry must be 0, 1, 2 or 3/);
    expect(() => defense.configure({ ...DEFAULT_DEFENSE, secureTcp: -1 })).toThrow(/secure_tcp/);
    expect(() => defense.configure({ ...DEFAULT_DEFENSE, amDroprate: 0 })).toThrow(/am_droprate/);
  });
});
