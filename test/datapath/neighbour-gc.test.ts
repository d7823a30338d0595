// Issue 13, item 3: learned neighbours that nobody uses must not fill the neighbour table for good. More
// different on-link senders than gc_thresh3 (1024) ARP the VIP; a new client must still be learned, get its
// ping answered and its NAT replies. Then the table must shrink again on its own once those senders are idle,
// and a neighbour that went stale while in use must be re-confirmed with unicast ARP, not dropped.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/director.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { NeighState, NO_NEIGH } from '../../src/datapath/neighbours.js';
import { Drop, Verdict } from '../../src/datapath/reasons.js';
import { FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields, parseFrame } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, ETH0_MAC, ETH1_MAC, ip, RS1, RS1_MAC, run, VIP } from './helpers.js';

// The seed topology with eth0 on a /16 (room for 1100 on-link senders) and only the real server static:
// the client must be learned from its ARP.
const CONFIG = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/16] }
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: 1500, addresses: [192.168.2.1/24] }
neighbours:
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
`;
const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
`;
const SENDERS = 1100;
const SECOND = 1000;

function makeDatapath(): Datapath {
  const core = new IpvsCore({ connCapacity: 1024, ticksPerSecond: SECOND, seed: 7 });
  core.applyRules(parseRules(RULES));
  return new Datapath(parseConfig(CONFIG), core, { fastPath: false, random: () => 0.5 });
}

const senderIp = (k: number) => (ip('192.168.100.0') + k) >>> 0;
const senderMac = (k: number) => 0x02aa00000000 + k;

function arpForVip(srcMac: number, srcIp: number): Uint8Array {
  return buildFrame({
    eth: { dst: BROADCAST_MAC, src: srcMac, etherType: 0x0806 },
    arp: { op: ArpOp.request, senderMac: srcMac, senderIp: srcIp, targetMac: 0, targetIp: VIP },
  });
}

function ping(seq: number): Uint8Array {
  return buildFrame({
    eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
    ipv4: ipv4Fields(CIP, VIP, { ttl: 64, id: seq }),
    icmp: { type: 8, code: 0, id: 7, seq, payload: new Uint8Array(8) },
  });
}

function tcp(o: { srcMac: number; dstMac: number; src: number; dst: number; sport: number; dport: number }) {
  return buildFrame({
    eth: { dst: o.dstMac, src: o.srcMac, etherType: 0x0800 },
    ipv4: ipv4Fields(o.src, o.dst, { ttl: 64, id: 1, dontFrag: true }),
    tcp: {
      srcPort: o.sport,
      dstPort: o.dport,
      seq: 1000,
      ack: o.dport === 80 ? 0 : 1001,
      flags: o.dport === 80 ? TcpFlag.syn : TcpFlag.syn | TcpFlag.ack,
      window: 64240,
      urgent: 0,
      payload: new Uint8Array(0),
    },
  });
}

/** Ethernet destination of a sent frame. */
const dstMacOf = (frame: Uint8Array) => parseFrame(frame).frame!.eth.dst;

/** Housekeeping ticks (empty batches) every 100 ms from `from` to `to`; returns every frame sent. */
function idle(dp: Datapath, from: number, to: number): Uint8Array[] {
  const rx = new FrameBatch(1);
  const tx = new FrameBatch(64);
  const sent: Uint8Array[] = [];
  for (let now = from; now <= to; now += 100) {
    tx.count = 0;
    dp.processBatch(rx, tx, now);
    for (let j = 0; j < tx.count; j++) sent.push(tx.bytes.slice(tx.offset[j]!, tx.offset[j]! + tx.length[j]!));
  }
  return sent;
}

describe('Neighbour table: more on-link senders than gc_thresh3', () => {
  it('a new client after 1100 others is learned, its ping answered and its NAT replies delivered', () => {
    const dp = makeDatapath();
    for (let k = 0; k < SENDERS; k++) {
      const r = run(dp, arpForVip(senderMac(k), senderIp(k)), 1, SECOND + k);
      expect(r.verdict).toBe(Verdict.reply);
    }
    expect(dp.counters.arpLearned).toBe(SENDERS);
    expect(dp.neigh.learnedCount).toBe(1024);

    const now = 3 * SECOND;
    const arp = run(dp, arpForVip(CLIENT_MAC, CIP), 1, now);
    expect(arp.verdict).toBe(Verdict.reply);
    expect(dp.counters.arpLearned).toBe(SENDERS + 1);
    const slot = dp.neigh.find(CIP, now);
    expect(slot).not.toBe(NO_NEIGH);
    expect(dp.neigh.macOf(slot)).toBe(CLIENT_MAC);

    // Each answered or forwarded at once, as one frame to the expected MAC and interface.
    const sendsOne = (frame: Uint8Array, ifindex: number, t: number, verdict: number) => {
      const r = run(dp, frame, ifindex, t);
      expect(r.verdict).toBe(verdict);
      expect(r.sent).toHaveLength(1);
      return { dst: dstMacOf(r.sent[0]!.frame), egress: r.sent[0]!.egress };
    };
    expect(sendsOne(ping(1), 1, now + 1, Verdict.reply)).toEqual({ dst: CLIENT_MAC, egress: 1 });
    const syn = tcp({ srcMac: CLIENT_MAC, dstMac: ETH0_MAC, src: CIP, dst: VIP, sport: 40000, dport: 80 });
    expect(sendsOne(syn, 1, now + 2, Verdict.forward)).toEqual({ dst: RS1_MAC, egress: 2 });
    const synAck = tcp({ srcMac: RS1_MAC, dstMac: ETH1_MAC, src: RS1, dst: CIP, sport: 8080, dport: 40000 });
    expect(sendsOne(synAck, 2, now + 3, Verdict.forward)).toEqual({ dst: CLIENT_MAC, egress: 1 });

    expect(dp.drops[Drop.neighTableFull]).toBe(0);
    expect(dp.neigh.learnedCount).toBeLessThanOrEqual(1024);
  });

  it('forgets the senders once they are idle, down to gc_thresh1, on housekeeping alone', () => {
    const dp = makeDatapath();
    for (let k = 0; k < SENDERS; k++) run(dp, arpForVip(senderMac(k), senderIp(k)), 1, SECOND);
    expect(dp.neigh.learnedCount).toBe(1024);
    // reachable_time 30 s, then stale; gone after gc_stale_time (60 s) without use, a few slots per tick.
    idle(dp, SECOND, 60 * SECOND);
    expect(dp.neigh.learnedCount).toBe(1024);
    idle(dp, 61 * SECOND, 70 * SECOND);
    expect(dp.neigh.learnedCount).toBe(127);
    expect(dp.counters.neighForgotten).toBe(1024 - 127 + (SENDERS - 1024));
  });

  it('keeps sending to a neighbour gone stale while in use, and re-confirms it with unicast ARP', () => {
    const dp = makeDatapath();
    run(dp, arpForVip(CLIENT_MAC, CIP), 1, SECOND);
    // 40 s later the client's entry is stale: the echo reply still goes out, to the MAC it had.
    const echo = run(dp, ping(1), 1, 41 * SECOND);
    expect(echo.verdict).toBe(Verdict.reply);
    expect(dstMacOf(echo.sent[0]!.frame)).toBe(CLIENT_MAC);
    const slot = dp.neigh.find(CIP, 41 * SECOND);
    expect(dp.neigh.state[slot]).toBe(NeighState.delay);
    // At the next tick the first unicast probe, then one a second, three in all.
    const probes = idle(dp, 41 * SECOND, 44 * SECOND);
    expect(probes).toHaveLength(3);
    for (const p of probes) {
      const f = parseFrame(p).frame!;
      expect(f.eth.dst).toBe(CLIENT_MAC);
      expect('arp' in f && f.arp.op === ArpOp.request && f.arp.targetIp === CIP).toBe(true);
    }
    // Unanswered: forgotten; the next packet resolves it anew with a broadcast request.
    expect(dp.neigh.find(CIP, 44 * SECOND)).toBe(NO_NEIGH);
    const again = run(dp, ping(2), 1, 45 * SECOND);
    expect(again.verdict).toBe(Verdict.queued);
    expect(dstMacOf(again.sent[0]!.frame)).toBe(BROADCAST_MAC);
  });
});
