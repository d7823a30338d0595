// Mutated frames never make the datapath throw: each is forwarded, answered, held or dropped with a reason,
// and every IPv4 frame it sends has a valid header checksum.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { Verdict } from '../../src/datapath/reasons.js';
import { FrameBatch } from '../../src/io/batch.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { Reason } from '../../src/wire/reason.js';
import { CIP, CLIENT_MAC, ETH0_MAC, ETH1_MAC, makeDatapath, onesSum, RS2, RS2_MAC, topology, VIP } from './helpers.js';

const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.2.12:8080 -m -w 1
-A -u 192.168.1.231:53 -s rr
-a -u 192.168.1.231:53 -r 192.168.2.11:53 -i -w 1
-A -t 192.168.1.231:443 -s rr
-a -t 192.168.1.231:443 -r 192.168.2.12:443 -g -w 1
`;

const tcpSeg = (flags: number) => ({
  srcPort: 40000,
  dstPort: 80,
  seq: 1,
  ack: 0,
  flags,
  window: 100,
  urgent: 0,
  payload: new Uint8Array(12),
});

const seeds: Uint8Array[] = [
  buildFrame({
    eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x800 },
    ipv4: ipv4Fields(CIP, VIP),
    tcp: tcpSeg(TcpFlag.syn),
  }),
  buildFrame({
    eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x800 },
    ipv4: ipv4Fields(CIP, VIP),
    udp: { srcPort: 5000, dstPort: 53, payload: new Uint8Array(10) },
  }),
  buildFrame({
    eth: { dst: ETH1_MAC, src: RS2_MAC, etherType: 0x800 },
    ipv4: ipv4Fields(RS2, CIP),
    tcp: { ...tcpSeg(TcpFlag.syn | TcpFlag.ack), srcPort: 8080, dstPort: 40000 },
  }),
  buildFrame({
    eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x806 },
    arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
  }),
  buildFrame({
    eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x800 },
    ipv4: ipv4Fields(CIP, VIP),
    icmp: { type: 8, code: 0, id: 1, seq: 2, payload: new Uint8Array(16) },
  }),
  buildFrame({
    eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x800 },
    ipv4: ipv4Fields(CIP, VIP),
    icmp: {
      type: 3,
      code: 4,
      mtu: 1400,
      payload: buildFrame({
        eth: { dst: 0, src: 0, etherType: 0x800 },
        ipv4: ipv4Fields(VIP, CIP),
        tcp: { ...tcpSeg(TcpFlag.ack), srcPort: 80, dstPort: 40000 },
      }).slice(14, 14 + 28),
    },
  }),
];

const mutation = fc.record({
  seed: fc.nat(seeds.length - 1),
  edits: fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
  cut: fc.option(fc.nat(120), { nil: undefined }),
  ifindex: fc.constantFrom(1, 2, 3),
});

describe('Datapath fuzz', () => {
  it('handles 100k mutated frames without throwing, with a reason for every drop and valid IP headers out', () => {
    // 50k runs with static neighbours and 50k without, so that the ARP queue sees traffic too (issue 5: 100k).
    for (const staticNeighbours of [true, false]) {
      const dp = makeDatapath(RULES, topology(staticNeighbours));
      const rx = new FrameBatch(1);
      const tx = new FrameBatch(64);
      let now = 0;
      fc.assert(
        fc.property(mutation, ({ seed, edits, cut, ifindex }) => {
          let frame = seeds[seed]!.slice();
          for (const [at, value] of edits) if (at < frame.length) frame[at] = value;
          if (cut !== undefined) frame = frame.slice(0, cut);
          rx.setFrame(0, frame);
          rx.ifindex[0] = ifindex;
          rx.count = 1;
          tx.count = 0;
          now += 37;
          dp.processBatch(rx, tx, now);
          tx.count = 0;
          const verdict = dp.processFrame(rx, 0, tx, now);
          if (verdict === Verdict.drop) expect(dp.lastReason).not.toBe(Reason.ok);
          for (let j = 0; j < tx.count; j++) {
            const off = tx.offset[j]!;
            if (tx.bytes[off + 12] === 0x08 && tx.bytes[off + 13] === 0x00) {
              const ihl = (tx.bytes[off + 14]! & 0x0f) * 4;
              expect(onesSum(tx.bytes, off + 14, off + 14 + ihl)).toBe(0xffff);
            }
          }
        }),
        { numRuns: 50_000, seed: staticNeighbours ? 42 : 43 },
      );
    }
  });
});
