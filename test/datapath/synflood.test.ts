// Issue 13, item 14: with the connection table full of a SYN flood's embryonic entries, a new legitimate NAT
// client must still connect. Without the defense its SYN went untracked and the server's SYN-ACK was dropped
// as notRouted; the first test shows that fault (reclaim_embryonic off, the kernel's defaults otherwise),
// the second the fix.
import { describe, expect, it } from 'vitest';
import { runSynFlood, type SynFloodOptions } from '../../bench/flood/synflood.js';
import { parseConfig } from '../../src/config/director.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { DEFAULT_DEFENSE } from '../../src/ipvs/defense.js';
import { topologyYaml } from './helpers.js';

// 4096 slots, 65536 spoofed sources, four times the table's size in SYNs every simulated second, 10 s.
const FLOOD: SynFloodOptions = { capacity: 4096, sources: 65536, floodPerSecond: 16384, seconds: 10, rttMs: 20 };

describe('SYN flood against a full connection table (NAT)', () => {
  it('without the defense, a new client cannot connect: its SYN-ACK is dropped as notRouted', () => {
    const r = runSynFlood({ ...FLOOD, defense: { ...DEFAULT_DEFENSE, reclaimEmbryonic: false } });
    expect(r.tableSize).toBe(FLOOD.capacity);
    expect(r.overflows).toBeGreaterThan(0);
    // The table fills within the first half second, before the first legitimate SYN.
    expect(r.succeeded).toBe(0);
    expect(r.attemptsWhileFull).toBe(FLOOD.seconds);
    expect(r.failures).toHaveLength(FLOOD.seconds);
    for (const f of r.failures) expect(f).toMatch(/SYN-ACK not forwarded: notRouted$/);
  });

  it('with the default defense, every legitimate connection succeeds end to end', () => {
    const r = runSynFlood({ ...FLOOD });
    expect(r.failures).toEqual([]);
    expect(r.succeeded).toBe(FLOOD.seconds);
    expect(r.succeededWhileFull).toBe(FLOOD.seconds);
    // The flood kept the table full the whole time, and room was made by evicting its embryonic entries.
    expect(r.tableSize).toBe(FLOOD.capacity);
    expect(r.reclaimed).toBeGreaterThan(r.floodSyns - 2 * FLOOD.capacity);
    expect(r.untracked).toBe(0);
  });

  it('with every kernel defense on automatic as well, the levels rise to 2 and clients still connect', () => {
    const r = runSynFlood({ ...FLOOD, defense: { ...DEFAULT_DEFENSE, dropEntry: 1, secureTcp: 1 } });
    expect(r.failures).toEqual([]);
    expect(r.levels).toEqual({ dropEntry: 2, dropPacket: 0, secureTcp: 2 });
    expect(r.droppedByDropEntry).toBeGreaterThan(0);
  });

  it('drop_packet on automatic drops new SYNs once the table is full, legitimate ones included', () => {
    // The kernel's rate amemthresh / (amemthresh - available) is 1 with nothing available: every SYN goes.
    const r = runSynFlood({ ...FLOOD, seconds: 3, defense: { ...DEFAULT_DEFENSE, dropPacket: 1 } });
    expect(r.levels.dropPacket).toBe(2);
    expect(r.droppedByDropPacket).toBeGreaterThan(0);
    expect(r.failures.some((f) => /SYN not forwarded: defenseDropPacket$/.test(f))).toBe(true);
  });
});

describe('defense: in the director configuration', () => {
  it('reaches the core and its connection table when the datapath is made', () => {
    const config = parseConfig(
      `${topologyYaml()}defense: { amemthresh: 10, drop_entry: 3, secure_tcp: 3, reclaim_embryonic: false }\n`,
    );
    const core = new IpvsCore({ connCapacity: 64, ticksPerSecond: 1000, seed: 7 });
    expect(core.conns.reclaimEmbryonic).toBe(true);
    const dp = new Datapath(config, core);
    expect([core.defense.amemthresh, core.defense.dropEntry, core.defense.secureTcp]).toEqual([10, 3, 3]);
    expect(core.conns.reclaimEmbryonic).toBe(false);
    // The first batch runs the defense timer: secure_tcp 3 turns the dos state table on.
    expect(core.conns.secureTcp).toBe(false);
    dp.processBatch(new FrameBatch(1), new FrameBatch(4), 1000);
    expect(core.conns.secureTcp).toBe(true);
  });
});
