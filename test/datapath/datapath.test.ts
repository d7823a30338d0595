import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { Drop, Verdict } from '../../src/datapath/reasons.js';
import { FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields, parseFrame } from '../../src/wire/frame.js';
import { Reason } from '../../src/wire/reason.js';
import {
  CIP,
  CLIENT_MAC,
  checksumsValid,
  DIP,
  ETH0_MAC,
  ETH1_MAC,
  GATEWAY_MAC,
  ip,
  makeDatapath,
  onesSum,
  REMOTE_CIP,
  RS1,
  RS1_MAC,
  RS2,
  RS2_MAC,
  run,
  topology,
  VIP,
} from './helpers.js';

const NAT_RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.2.12:8080 -m -w 1
-A -u 192.168.1.231:53 -s rr
-a -u 192.168.1.231:53 -r 192.168.2.11:5353 -m -w 1
`;
const DR_RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:80 -g -w 1
`;
const TUN_RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:80 -i -w 1
`;

const payload = (n: number) => Uint8Array.from({ length: n }, (_, k) => (k * 7 + 3) & 0xff);

function tcpFrame(o: {
  srcMac?: number;
  dstMac?: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  flags: number;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  seq?: number;
  ack?: number;
  data?: Uint8Array;
}): Uint8Array {
  return buildFrame({
    eth: { dst: o.dstMac ?? ETH0_MAC, src: o.srcMac ?? CLIENT_MAC, etherType: 0x0800 },
    ipv4: ipv4Fields(o.src, o.dst, { ttl: o.ttl ?? 64, tos: o.tos ?? 0, id: o.id ?? 0x1234, dontFrag: o.df ?? true }),
    tcp: {
      srcPort: o.sport,
      dstPort: o.dport,
      seq: o.seq ?? 1000,
      ack: o.ack ?? 0,
      flags: o.flags,
      window: 64240,
      urgent: 0,
      payload: o.data ?? new Uint8Array(0),
    },
  });
}

const SYN = TcpFlag.syn;
const ACK = TcpFlag.ack;
const FIN = TcpFlag.fin;
const SYNACK = SYN | ACK;

describe('Datapath: L2/L3 for owned addresses', () => {
  const cases = [
    {
      description: 'ARP request for the VIP on eth0 -> reply from eth0',
      ifindex: 1,
      input: buildFrame({
        eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
      }),
      verdict: Verdict.reply,
      output: buildFrame({
        eth: { dst: CLIENT_MAC, src: ETH0_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.reply, senderMac: ETH0_MAC, senderIp: VIP, targetMac: CLIENT_MAC, targetIp: CIP },
      }),
      egress: 1,
    },
    {
      description: 'ARP request for the DIP on eth1 -> reply from eth1',
      ifindex: 2,
      input: buildFrame({
        eth: { dst: BROADCAST_MAC, src: RS1_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.request, senderMac: RS1_MAC, senderIp: RS1, targetMac: 0, targetIp: DIP },
      }),
      verdict: Verdict.reply,
      output: buildFrame({
        eth: { dst: RS1_MAC, src: ETH1_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.reply, senderMac: ETH1_MAC, senderIp: DIP, targetMac: RS1_MAC, targetIp: RS1 },
      }),
      egress: 2,
    },
    {
      description: 'ICMP echo to the VIP -> echo reply from the VIP, TTL 64',
      ifindex: 1,
      input: buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, VIP, { ttl: 55, id: 77 }),
        icmp: { type: 8, code: 0, id: 0x4242, seq: 3, payload: payload(32) },
      }),
      verdict: Verdict.reply,
      output: buildFrame({
        eth: { dst: CLIENT_MAC, src: ETH0_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(VIP, CIP, { ttl: 64, id: 77 }),
        icmp: { type: 0, code: 0, id: 0x4242, seq: 3, payload: payload(32) },
      }),
      egress: 1,
    },
  ];
  it.each(cases)('$description', ({ input, ifindex, verdict, output, egress }) => {
    const dp = makeDatapath(NAT_RULES);
    const r = run(dp, input, ifindex);
    expect(r.verdict).toBe(verdict);
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]!.frame).toEqual(output);
    expect(r.sent[0]!.egress).toBe(egress);
  });

  it('does not answer ARP for an address it does not own, nor for the VIP on the wrong link', () => {
    const dp = makeDatapath(NAT_RULES);
    const other = buildFrame({
      eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
      arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: ip('192.168.1.77') },
    });
    expect(run(dp, other, 1)).toMatchObject({ verdict: Verdict.drop, reason: Drop.arpIgnored, sent: [] });
    const wrongLink = buildFrame({
      eth: { dst: BROADCAST_MAC, src: RS1_MAC, etherType: 0x0806 },
      arp: { op: ArpOp.request, senderMac: RS1_MAC, senderIp: RS1, targetMac: 0, targetIp: VIP },
    });
    expect(run(dp, wrongLink, 2).sent).toEqual([]);
  });

  it('announces every owned address with gratuitous ARP', () => {
    const dp = makeDatapath(NAT_RULES);
    const tx = new FrameBatch(4);
    expect(dp.announce(tx)).toBe(2);
    const frame0 = tx.bytes.slice(tx.offset[0]!, tx.offset[0]! + tx.length[0]!);
    expect(frame0).toEqual(
      buildFrame({
        eth: { dst: BROADCAST_MAC, src: ETH0_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.request, senderMac: ETH0_MAC, senderIp: VIP, targetMac: 0, targetIp: VIP },
      }),
    );
    expect(tx.egressIfindex[1]).toBe(2);
  });
});

describe('Datapath: NAT', () => {
  it('DNATs a SYN to the RIP and SNATs the reply back to VIP:vport', () => {
    const dp = makeDatapath(NAT_RULES);
    const syn = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, ttl: 64, data: payload(5) });
    const r = run(dp, syn);
    expect(r.verdict).toBe(Verdict.forward);
    // rr starts with the newest destination, 192.168.2.12.
    const expected = tcpFrame({
      srcMac: ETH1_MAC,
      dstMac: RS2_MAC,
      src: CIP,
      dst: RS2,
      sport: 40000,
      dport: 8080,
      flags: SYN,
      ttl: 63,
      data: payload(5),
    });
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]!.frame).toEqual(expected);
    expect(r.sent[0]!.egress).toBe(2);
    expect(checksumsValid(r.sent[0]!.frame)).toBe(true);

    const reply = tcpFrame({
      srcMac: RS2_MAC,
      dstMac: ETH1_MAC,
      src: RS2,
      dst: CIP,
      sport: 8080,
      dport: 40000,
      flags: SYNACK,
      ack: 1001,
    });
    const back = run(dp, reply, 2);
    expect(back.verdict).toBe(Verdict.forward);
    expect(back.sent[0]!.frame).toEqual(
      tcpFrame({
        srcMac: ETH0_MAC,
        dstMac: CLIENT_MAC,
        src: VIP,
        dst: CIP,
        sport: 80,
        dport: 40000,
        flags: SYNACK,
        ack: 1001,
        ttl: 63,
      }),
    );
    expect(back.sent[0]!.egress).toBe(1);
    expect(checksumsValid(back.sent[0]!.frame)).toBe(true);
  });

  it('sends replies to off-link clients through the default gateway', () => {
    const dp = makeDatapath(NAT_RULES);
    const syn = tcpFrame({ srcMac: GATEWAY_MAC, src: REMOTE_CIP, dst: VIP, sport: 1234, dport: 80, flags: SYN });
    run(dp, syn);
    const reply = tcpFrame({
      srcMac: RS2_MAC,
      dstMac: ETH1_MAC,
      src: RS2,
      dst: REMOTE_CIP,
      sport: 8080,
      dport: 1234,
      flags: SYNACK,
    });
    const back = run(dp, reply, 2);
    const parsed = parseFrame(back.sent[0]!.frame).frame!;
    expect(parsed.eth.dst).toBe(GATEWAY_MAC);
    expect('ipv4' in parsed && parsed.ipv4.src).toBe(VIP);
  });

  it('rewrites UDP both ways with valid checksums', () => {
    const dp = makeDatapath(NAT_RULES);
    const q = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP),
      udp: { srcPort: 5000, dstPort: 53, payload: payload(20) },
    });
    const r = run(dp, q);
    expect(r.sent[0]!.frame).toEqual(
      buildFrame({
        eth: { dst: RS1_MAC, src: ETH1_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, RS1, { ttl: 63 }),
        udp: { srcPort: 5000, dstPort: 5353, payload: payload(20) },
      }),
    );
    const a = buildFrame({
      eth: { dst: ETH1_MAC, src: RS1_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(RS1, CIP),
      udp: { srcPort: 5353, dstPort: 5000, payload: payload(9) },
    });
    const back = run(dp, a, 2);
    expect(back.sent[0]!.frame).toEqual(
      buildFrame({
        eth: { dst: CLIENT_MAC, src: ETH0_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(VIP, CIP, { ttl: 63 }),
        udp: { srcPort: 53, dstPort: 5000, payload: payload(9) },
      }),
    );
    expect(checksumsValid(back.sent[0]!.frame)).toBe(true);
  });

  it('round-robins new connections across the two real servers', () => {
    const dp = makeDatapath(NAT_RULES);
    const picks: number[] = [];
    for (let c = 0; c < 6; c++) {
      const r = run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 41000 + c, dport: 80, flags: SYN }));
      const f = parseFrame(r.sent[0]!.frame).frame!;
      picks.push('ipv4' in f ? f.ipv4.dst : 0);
    }
    expect(picks).toEqual([RS2, RS1, RS2, RS1, RS2, RS1]);
    // A known connection stays on its server.
    const again = run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 41001, dport: 80, flags: ACK }));
    const f = parseFrame(again.sent[0]!.frame).frame!;
    expect('ipv4' in f && f.ipv4.dst).toBe(RS1);
  });

  it('follows the TCP states and ActiveConn/InActConn through a handshake and close', () => {
    const dp = makeDatapath(NAT_RULES);
    const conns = dp.core.conns;
    const rs2 = dp.core.rules.snapshot.services.find((s) => s.port === 80)!.dests.find((d) => d.addr === RS2)!;
    const c = { src: CIP, dst: VIP, sport: 40000, dport: 80 };
    const s = { srcMac: RS2_MAC, dstMac: ETH1_MAC, src: RS2, dst: CIP, sport: 8080, dport: 40000 };
    const slot = () => conns.lookupIn(6, CIP, 40000, VIP, 80, 1000);
    // Expected states from the kernel's tcp_states table (normal INPUT/OUTPUT), worked by hand.
    const steps: [Uint8Array, number, string, number, number][] = [
      [tcpFrame({ ...c, flags: SYN }), 1, 'SYN_RECV', 1, 0],
      [tcpFrame({ ...s, flags: SYNACK }), 2, 'SYN_RECV', 1, 0],
      [tcpFrame({ ...c, flags: ACK }), 1, 'ESTABLISHED', 1, 0],
      [tcpFrame({ ...c, flags: ACK, data: payload(100) }), 1, 'ESTABLISHED', 1, 0],
      [tcpFrame({ ...c, flags: FIN | ACK }), 1, 'CLOSE_WAIT', 0, 1],
      [tcpFrame({ ...s, flags: FIN | ACK }), 2, 'TIME_WAIT', 0, 1],
      [tcpFrame({ ...c, flags: ACK }), 1, 'TIME_WAIT', 0, 1],
    ];
    for (const [frame, ifindex, state, active, inactive] of steps) {
      const r = run(dp, frame, ifindex);
      expect(r.verdict).toBe(Verdict.forward);
      expect(checksumsValid(r.sent[0]!.frame)).toBe(true);
      expect(conns.stateName(slot())).toBe(state);
      expect([rs2.activeConns, rs2.inactConns]).toEqual([active, inactive]);
    }
    expect(rs2.stats.inPkts).toBe(5);
    expect(rs2.stats.outPkts).toBe(2);
  });

  it('drops TCP without SYN that matches no connection, and an RST', () => {
    const dp = makeDatapath(NAT_RULES);
    expect(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: ACK }))).toMatchObject({
      verdict: Verdict.drop,
      reason: Drop.tcpNoConn,
    });
    expect(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN | TcpFlag.rst })).reason).toBe(
      Drop.tcpNoConn,
    );
    expect(dp.drops[Drop.tcpNoConn]).toBe(2);
  });

  it('answers with ICMP port unreachable when the service has no available destination', () => {
    const dp = makeDatapath('-A -t 192.168.1.231:80 -s rr\n-a -t 192.168.1.231:80 -r 192.168.2.11:80 -m -w 0\n');
    const syn = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, ttl: 64 });
    const r = run(dp, syn);
    expect(r.verdict).toBe(Verdict.reply);
    const f = parseFrame(r.sent[0]!.frame).frame!;
    expect(f.eth).toEqual({ dst: CLIENT_MAC, src: ETH0_MAC, etherType: 0x0800 });
    if (!('icmp' in f)) throw new Error('not ICMP');
    expect([f.ipv4.src, f.ipv4.dst, f.ipv4.ttl, f.ipv4.tos]).toEqual([VIP, CIP, 64, 0xc0]);
    expect([f.icmp.type, f.icmp.code]).toEqual([3, 3]);
    // The quote: the original IP header and the first 8 bytes of TCP.
    expect(f.icmp.payload).toEqual(syn.slice(14, 14 + 28));
    expect(checksumsValid(r.sent[0]!.frame)).toBe(true);
  });

  it('sends ICMP time exceeded instead of forwarding a TTL 1 packet', () => {
    const dp = makeDatapath(NAT_RULES);
    const syn = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, ttl: 1 });
    const r = run(dp, syn);
    const f = parseFrame(r.sent[0]!.frame).frame!;
    if (!('icmp' in f)) throw new Error('not ICMP');
    expect([f.icmp.type, f.icmp.code, f.ipv4.dst]).toEqual([11, 0, CIP]);
  });
});

describe('Datapath: DR and TUN', () => {
  it('DR: only the MACs, TTL and header checksum change', () => {
    const dp = makeDatapath(DR_RULES);
    const syn = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, ttl: 64, data: payload(10) });
    const r = run(dp, syn);
    expect(r.verdict).toBe(Verdict.forward);
    expect(r.sent[0]!.frame).toEqual(
      tcpFrame({
        srcMac: ETH1_MAC,
        dstMac: RS1_MAC,
        src: CIP,
        dst: VIP,
        sport: 40000,
        dport: 80,
        flags: SYN,
        ttl: 63,
        data: payload(10),
      }),
    );
    expect(checksumsValid(r.sent[0]!.frame)).toBe(true);
    // DR connections are NOOUTPUT: the client's ACK uses the INPUT-ONLY table and makes it ESTABLISHED.
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: ACK }));
    expect(dp.core.conns.stateName(dp.core.conns.lookupIn(6, CIP, 40000, VIP, 80, 1000))).toBe('ESTABLISHED');
  });

  it('DR: refuses a real server off every link, in checkRules and per packet', () => {
    const rules = '-A -t 192.168.1.231:80 -s rr\n-a -t 192.168.1.231:80 -r 10.1.1.1:80 -g -w 1\n';
    const dp = makeDatapath(rules);
    const { errors } = dp.checkRules();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/10\.1\.1\.1:80: DR \(-g\) needs the real server on one of the director's links/);
    expect(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN })).reason).toBe(Drop.drOffLink);
  });

  it('TUN: IPIP with the kernel outer fields (src DIP, TTL after decrement, ECN CE -> ECT(0), DF copied, ID 0)', () => {
    const dp = makeDatapath(TUN_RULES);
    const syn = tcpFrame({
      src: CIP,
      dst: VIP,
      sport: 40000,
      dport: 80,
      flags: SYN,
      ttl: 64,
      tos: 0x2b,
      data: payload(12),
    });
    const r = run(dp, syn);
    expect(r.verdict).toBe(Verdict.forward);
    const inner = tcpFrame({
      src: CIP,
      dst: VIP,
      sport: 40000,
      dport: 80,
      flags: SYN,
      ttl: 63,
      tos: 0x2b,
      data: payload(12),
    }).slice(14);
    const expected = buildFrame({
      eth: { dst: RS1_MAC, src: ETH1_MAC, etherType: 0x0800 },
      // TOS 0x2b has ECN 11 (CE): the outer gets 10 (ECT(0)), DSCP kept: 0x2a.
      ipv4: { ...ipv4Fields(DIP, RS1, { ttl: 63, tos: 0x2a, id: 0, dontFrag: true }), protocol: 4 },
      raw: inner,
    });
    expect(r.sent[0]!.frame).toEqual(expected);
    expect(checksumsValid(r.sent[0]!.frame)).toBe(true);
  });

  it('TUN: a DF packet over MTU-20 gets ICMP fragmentation needed with MTU-20', () => {
    const dp = makeDatapath(TUN_RULES);
    // 20 + 20 + 1441 = 1481 > 1500 - 20.
    const big = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, ttl: 64, data: payload(1441) });
    const r = run(dp, big);
    expect(r.verdict).toBe(Verdict.reply);
    const f = parseFrame(r.sent[0]!.frame).frame!;
    if (!('icmp' in f)) throw new Error('not ICMP');
    expect([f.ipv4.src, f.ipv4.dst, f.icmp.type, f.icmp.code, f.icmp.mtu]).toEqual([VIP, CIP, 3, 4, 1480]);
    expect(f.eth.dst).toBe(CLIENT_MAC);
    expect(checksumsValid(r.sent[0]!.frame)).toBe(true);
    // Exactly MTU-20 fits.
    const fits = tcpFrame({ src: CIP, dst: VIP, sport: 40001, dport: 80, flags: SYN, data: payload(1440) });
    expect(run(dp, fits).verdict).toBe(Verdict.forward);
    // Without DF uvs does not fragment: dropped and counted.
    const noDf = tcpFrame({ src: CIP, dst: VIP, sport: 40002, dport: 80, flags: SYN, df: false, data: payload(1441) });
    expect(run(dp, noDf).reason).toBe(Drop.needsFragmentation);
  });

  it('TUN without DF: outer DF clear and a non-zero ID', () => {
    const dp = makeDatapath(TUN_RULES);
    const r = run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, df: false }));
    const f = parseFrame(r.sent[0]!.frame).frame!;
    expect('ipv4' in f && [f.ipv4.dontFrag, f.ipv4.id !== 0, f.ipv4.protocol]).toEqual([false, true, 4]);
  });
});

describe('Datapath: ICMP errors of tracked connections (NAT)', () => {
  it('forwards fragmentation needed from the real server side to the client, rewritten to VIP:vport', () => {
    const dp = makeDatapath(NAT_RULES);
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN }));
    // A router on the RS side quotes the packet as it saw it: CIP:40000 -> RS2:8080.
    const quoted = tcpFrame({ src: CIP, dst: RS2, sport: 40000, dport: 8080, flags: ACK, ttl: 62 }).slice(14, 14 + 28);
    const err = buildFrame({
      eth: { dst: ETH1_MAC, src: RS2_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(RS2, CIP, { dontFrag: false }),
      icmp: { type: 3, code: 4, mtu: 1400, payload: quoted },
    });
    const r = run(dp, err, 2);
    expect(r.verdict).toBe(Verdict.forward);
    const expectedQuote = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: ACK, ttl: 62 }).slice(
      14,
      14 + 28,
    );
    expect(r.sent[0]!.frame).toEqual(
      buildFrame({
        eth: { dst: CLIENT_MAC, src: ETH0_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(VIP, CIP, { dontFrag: false, ttl: 63 }),
        icmp: { type: 3, code: 4, mtu: 1400, payload: expectedQuote },
      }),
    );
  });

  it('forwards fragmentation needed from the client side to the real server, rewritten to RIP:rport', () => {
    const dp = makeDatapath(NAT_RULES);
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN }));
    // The client side quotes the reply it could not pass on: VIP:80 -> CIP:40000.
    const quoted = tcpFrame({ src: VIP, dst: CIP, sport: 80, dport: 40000, flags: SYNACK }).slice(14, 14 + 28);
    const err = buildFrame({
      eth: { dst: ETH0_MAC, src: GATEWAY_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(ip('192.168.1.1'), VIP, { dontFrag: false }),
      icmp: { type: 3, code: 4, mtu: 1300, payload: quoted },
    });
    const r = run(dp, err, 1);
    expect(r.verdict).toBe(Verdict.forward);
    const expectedQuote = tcpFrame({ src: RS2, dst: CIP, sport: 8080, dport: 40000, flags: SYNACK }).slice(14, 14 + 28);
    expect(r.sent[0]!.frame).toEqual(
      buildFrame({
        eth: { dst: RS2_MAC, src: ETH1_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(ip('192.168.1.1'), RS2, { dontFrag: false, ttl: 63 }),
        icmp: { type: 3, code: 4, mtu: 1300, payload: expectedQuote },
      }),
    );
  });

  it('drops an ICMP error about no tracked connection', () => {
    const dp = makeDatapath(NAT_RULES);
    const quoted = tcpFrame({ src: VIP, dst: CIP, sport: 80, dport: 9, flags: ACK }).slice(14, 14 + 28);
    const err = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP),
      icmp: { type: 3, code: 3, payload: quoted },
    });
    expect(run(dp, err)).toMatchObject({ verdict: Verdict.drop, reason: Drop.icmpUnrelated, sent: [] });
  });
});

describe('Datapath: what uvs does not handle', () => {
  const cases = [
    {
      description: 'TCP to the VIP on a port with no service',
      frame: tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 443, flags: SYN }),
      reason: Drop.noService,
    },
    {
      description: 'a packet for another host (uvs is not a router)',
      frame: tcpFrame({ src: CIP, dst: ip('192.168.2.50'), sport: 1, dport: 80, flags: SYN }),
      reason: Drop.notRouted,
    },
    {
      description: 'a frame for another MAC',
      frame: tcpFrame({ dstMac: RS1_MAC, src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN }),
      reason: Drop.notForUs,
    },
    {
      description: 'an IPv4 fragment of an ICMP message (uvs answers ICMP itself, whole datagrams only)',
      frame: buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
        ipv4: { ...ipv4Fields(CIP, VIP, { dontFrag: false, moreFrags: true }), protocol: 1 },
        raw: payload(24),
      }),
      reason: Drop.ipv4Fragment,
    },
    {
      description: 'a later fragment of a datagram whose first fragment was not seen',
      frame: buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
        ipv4: { ...ipv4Fields(CIP, VIP, { dontFrag: false, moreFrags: false, fragOffset: 1480 }), protocol: 17 },
        raw: payload(24),
      }),
      reason: Drop.fragmentUnknown,
    },
    {
      description: 'a VLAN-tagged frame',
      frame: buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, vlans: [10], etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, VIP),
        udp: { srcPort: 1, dstPort: 53, payload: payload(4) },
      }),
      reason: Drop.vlanTagged,
    },
    {
      description: 'an IPv4 header with a bad checksum',
      frame: (() => {
        const f = tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN });
        f[14 + 10]! ^= 0x01;
        return f;
      })(),
      reason: Reason.ipv4BadChecksum,
    },
  ];
  it.each(cases)('$description: dropped and counted', ({ frame, reason }) => {
    const dp = makeDatapath(NAT_RULES);
    const r = run(dp, frame);
    expect(r).toMatchObject({ verdict: Verdict.drop, reason, sent: [] });
    expect(dp.drops[reason]).toBe(1);
  });

  it('forwards a packet with IP options, keeping them', () => {
    const dp = makeDatapath(NAT_RULES);
    const options = Uint8Array.from([0x01, 0x01, 0x01, 0x00]); // NOP NOP NOP EOL
    const mk = (dst: number, dport: number, ttl: number, dmac: number, smac: number) =>
      buildFrame({
        eth: { dst: dmac, src: smac, etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, dst, { ttl, options }),
        tcp: {
          srcPort: 40000,
          dstPort: dport,
          seq: 1,
          ack: 0,
          flags: SYN,
          window: 100,
          urgent: 0,
          payload: payload(3),
        },
      });
    const r = run(dp, mk(VIP, 80, 64, ETH0_MAC, CLIENT_MAC));
    expect(r.sent[0]!.frame).toEqual(mk(RS2, 8080, 63, RS2_MAC, ETH1_MAC));
  });

  it('drops every truncation of valid frames by reason, never throwing', () => {
    const frames = [
      tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN, data: payload(8) }),
      buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, VIP),
        udp: { srcPort: 5000, dstPort: 53, payload: payload(6) },
      }),
      buildFrame({
        eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
      }),
      buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, VIP),
        icmp: { type: 8, code: 0, id: 1, seq: 1, payload: payload(8) },
      }),
    ];
    for (const full of frames) {
      for (let n = 0; n < full.length; n++) {
        const dp = makeDatapath(NAT_RULES);
        const r = run(dp, full.slice(0, n));
        expect(r.verdict).toBe(Verdict.drop);
        expect(r.sent).toEqual([]);
        expect(r.reason).not.toBe(Reason.ok);
        expect(dp.drops[r.reason]).toBe(1);
      }
    }
  });
});

describe('Datapath: neighbour resolution', () => {
  it('holds the first packet to an unknown RIP, asks with ARP, and releases it on the reply', () => {
    const dp = makeDatapath(NAT_RULES, topology(false));
    // The client itself must be known for the reply direction only; here the RIP is what is unknown.
    const syn = tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN });
    const r = run(dp, syn, 1, 1000);
    expect(r.verdict).toBe(Verdict.queued);
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]!.frame).toEqual(
      buildFrame({
        eth: { dst: BROADCAST_MAC, src: ETH1_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.request, senderMac: ETH1_MAC, senderIp: DIP, targetMac: 0, targetIp: RS2 },
      }),
    );
    expect(r.sent[0]!.egress).toBe(2);
    // A second packet for the same next hop waits too, without a second request.
    const syn2 = tcpFrame({ src: CIP, dst: VIP, sport: 40002, dport: 80, flags: SYN });
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40001, dport: 80, flags: SYN }), 1, 1001); // to RS1
    const r2 = run(dp, syn2, 1, 1002);
    expect(r2).toMatchObject({ verdict: Verdict.queued, sent: [] });

    const arpReply = buildFrame({
      eth: { dst: ETH1_MAC, src: RS2_MAC, etherType: 0x0806 },
      arp: { op: ArpOp.reply, senderMac: RS2_MAC, senderIp: RS2, targetMac: ETH1_MAC, targetIp: DIP },
    });
    const released = run(dp, arpReply, 2, 1010);
    expect(released.verdict).toBe(Verdict.consumed);
    expect(released.sent.map((s) => s.frame)).toEqual([
      tcpFrame({
        srcMac: ETH1_MAC,
        dstMac: RS2_MAC,
        src: CIP,
        dst: RS2,
        sport: 40000,
        dport: 8080,
        flags: SYN,
        ttl: 63,
      }),
      tcpFrame({
        srcMac: ETH1_MAC,
        dstMac: RS2_MAC,
        src: CIP,
        dst: RS2,
        sport: 40002,
        dport: 8080,
        flags: SYN,
        ttl: 63,
      }),
    ]);
    expect(released.sent.every((s) => s.egress === 2)).toBe(true);
    // Now known: the next packet goes straight out.
    const r3 = run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: ACK }), 1, 1020);
    expect(r3.verdict).toBe(Verdict.forward);
  });

  it('retries ARP every second and drops the waiting packets after three unanswered requests', () => {
    const dp = makeDatapath(DR_RULES, topology(false));
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN }), 1, 0);
    const rx = new FrameBatch(1);
    const tx = new FrameBatch(8);
    const arps: number[] = [];
    for (const t of [500, 1000, 2000, 3000]) {
      tx.count = 0;
      dp.processBatch(rx, tx, t);
      arps.push(tx.count);
    }
    expect(arps).toEqual([0, 1, 1, 0]);
    expect(dp.drops[Drop.neighUnresolved]).toBe(1);
  });
});

describe('Datapath: batches', () => {
  it('processBatch appends every output to tx and counts rx and tx', () => {
    const core = new IpvsCore({ connCapacity: 64, seed: 1 });
    core.applyRules(parseRules(NAT_RULES));
    const dp = new Datapath(topology(), core);
    const rx = new FrameBatch(4);
    rx.setFrame(0, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN }));
    rx.setFrame(1, tcpFrame({ src: CIP, dst: VIP, sport: 2, dport: 443, flags: SYN }));
    rx.setFrame(2, tcpFrame({ src: CIP, dst: VIP, sport: 3, dport: 80, flags: SYN }));
    for (let i = 0; i < 3; i++) rx.ifindex[i] = 1;
    rx.count = 3;
    const tx = new FrameBatch(4);
    expect(dp.processBatch(rx, tx, 5)).toBe(2);
    expect(dp.counters.rx).toBe(3);
    expect(dp.counters.tx).toBe(2);
    expect(dp.dropSummary()).toEqual({ noService: 1 });
  });
});

/**
 * Cuts a whole Ethernet/IPv4 frame into IPv4 fragments of `chunk` payload bytes (a multiple of 8), as a
 * sender's ip_fragment() would: the header copied with MF, offset, length and checksum of each piece.
 */
function fragmentFrame(frame: Uint8Array, chunk: number): Uint8Array[] {
  const ihl = (frame[14]! & 0x0f) * 4;
  const total = frame[16]! * 256 + frame[17]!;
  const data = frame.subarray(14 + ihl, 14 + total);
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, Math.min(at + chunk, data.length));
    const f = new Uint8Array(14 + ihl + piece.length);
    f.set(frame.subarray(0, 14 + ihl));
    f.set(piece, 14 + ihl);
    const len = ihl + piece.length;
    const flags = (at + chunk < data.length ? 0x2000 : 0) | (at >> 3);
    f.set([len >> 8, len & 0xff], 16);
    f.set([flags >> 8, flags & 0xff, f[22]!, f[23]!, 0, 0], 20);
    const c = 0xffff - onesSum(f, 14, 14 + ihl);
    f.set([c >> 8, c & 0xff], 24);
    out.push(f);
  }
  return out;
}

/** The whole frame a receiver's reassembly makes of these fragments (in any order), headers of the first. */
function reassembleFrame(fragments: Uint8Array[]): Uint8Array {
  const offsetOf = (f: Uint8Array) => ((f[20]! & 0x1f) * 256 + f[21]!) * 8;
  const sorted = [...fragments].sort((a, b) => offsetOf(a) - offsetOf(b));
  const first = sorted[0]!;
  const ihl = (first[14]! & 0x0f) * 4;
  const pieces = sorted.map((f) => f.subarray(14 + ihl, 14 + (f[16]! * 256 + f[17]!)));
  const size = pieces.reduce((n, p) => n + p.length, 0);
  const whole = new Uint8Array(14 + ihl + size);
  whole.set(first.subarray(0, 14 + ihl));
  let at = 14 + ihl;
  for (const [k, p] of pieces.entries()) {
    expect(offsetOf(sorted[k]!)).toBe(at - 14 - ihl);
    whole.set(p, at);
    at += p.length;
  }
  const len = ihl + size;
  whole.set([len >> 8, len & 0xff, whole[18]!, whole[19]!, 0, 0], 16);
  whole.set([0, 0], 24);
  const c = 0xffff - onesSum(whole, 14, 14 + ihl);
  whole.set([c >> 8, c & 0xff], 24);
  return whole;
}

describe('Datapath: IPv4 fragments', () => {
  const UDP_SIZE = 4000;
  const query = (id: number) =>
    buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP, { dontFrag: false, id }),
      udp: { srcPort: 5000, dstPort: 53, payload: payload(UDP_SIZE) },
    });

  it('NAT: the first fragment is scheduled and DNATed with its UDP checksum updated; the rest follow it', () => {
    const dp = makeDatapath(NAT_RULES);
    const pieces = fragmentFrame(query(0x4242), 1480);
    expect(pieces).toHaveLength(3);
    const sent = pieces.map((p) => run(dp, p));
    for (const r of sent) {
      expect(r.verdict).toBe(Verdict.forward);
      expect(r.sent).toHaveLength(1);
      expect(r.sent[0]!.egress).toBe(2);
      const out = r.sent[0]!.frame;
      expect(onesSum(out, 14, 34)).toBe(0xffff);
      expect(out[22]).toBe(63); // TTL
      expect(Array.from(out.subarray(0, 6))).toEqual([2, 0, 0, 0, 2, 0x11]); // RS1's MAC
    }
    // What web01's stack reassembles: to RS1:5353 from the client, the payload unchanged, checksums right.
    const whole = reassembleFrame(sent.map((r) => r.sent[0]!.frame));
    expect(checksumsValid(whole)).toBe(true);
    const parsed = parseFrame(whole).frame!;
    if (!('udp' in parsed)) throw new Error('not UDP');
    expect([parsed.ipv4.src, parsed.ipv4.dst]).toEqual([CIP, RS1]);
    expect([parsed.udp.srcPort, parsed.udp.dstPort]).toEqual([5000, 5353]);
    expect(parsed.udp.payload).toEqual(payload(UDP_SIZE));
    expect(dp.counters.forwardedIn).toBe(3);
    expect(dp.counters.fragments).toBe(2);
  });

  it('NAT: a fragmented reply is SNATed back to VIP:53 fragment by fragment', () => {
    const dp = makeDatapath(NAT_RULES);
    for (const p of fragmentFrame(query(1), 1480)) expect(run(dp, p).verdict).toBe(Verdict.forward);
    const reply = buildFrame({
      eth: { dst: ETH1_MAC, src: RS1_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(RS1, CIP, { dontFrag: false, id: 0x7777 }),
      udp: { srcPort: 5353, dstPort: 5000, payload: payload(UDP_SIZE) },
    });
    const back = fragmentFrame(reply, 1480).map((p) => run(dp, p, 2));
    for (const r of back) expect(r.verdict).toBe(Verdict.forward);
    const whole = reassembleFrame(back.map((r) => r.sent[0]!.frame));
    expect(checksumsValid(whole)).toBe(true);
    const parsed = parseFrame(whole).frame!;
    if (!('udp' in parsed)) throw new Error('not UDP');
    expect([parsed.ipv4.src, parsed.ipv4.dst, parsed.udp.srcPort, parsed.udp.dstPort]).toEqual([VIP, CIP, 53, 5000]);
    expect(parsed.udp.payload).toEqual(payload(UDP_SIZE));
    expect(dp.counters.forwardedOut).toBe(3);
  });

  it('DR and TUN: every fragment of a datagram goes to the real server its first fragment was scheduled to', () => {
    for (const [flag, proto] of [
      ['-g', 17],
      ['-i', 4],
    ] as const) {
      const dp = makeDatapath(`-A -u 192.168.1.231:80 -s rr
-a -u 192.168.1.231:80 -r 192.168.2.11:80 ${flag} -w 1
-a -u 192.168.1.231:80 -r 192.168.2.12:80 ${flag} -w 1
`);
      const macs: string[] = [];
      for (const sport of [6000, 6001]) {
        const dgram = buildFrame({
          eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
          ipv4: ipv4Fields(CIP, VIP, { dontFrag: false, id: sport }),
          udp: { srcPort: sport, dstPort: 80, payload: payload(3000) },
        });
        const seen = new Set<string>();
        for (const p of fragmentFrame(dgram, 1200)) {
          const r = run(dp, p);
          expect(r.verdict).toBe(Verdict.forward);
          const out = r.sent[0]!.frame;
          seen.add(Array.from(out.subarray(0, 6)).join(':'));
          expect(out[14 + 9]).toBe(proto);
          expect(onesSum(out, 14, 34)).toBe(0xffff);
          // TUN: the fragment is the inner packet, unchanged but for its TTL, and its header checksum holds.
          if (proto === 4) expect(onesSum(out, 34, 54)).toBe(0xffff);
        }
        expect(seen.size).toBe(1);
        macs.push([...seen][0]!);
      }
      // rr sent the two datagrams to the two real servers.
      expect(new Set(macs).size).toBe(2);
    }
  });

  it('a first fragment that goes nowhere leaves its later fragments unknown; a tiny one is refused', () => {
    const dp = makeDatapath(NAT_RULES);
    const nowhere = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP, { dontFrag: false, id: 5 }),
      udp: { srcPort: 5000, dstPort: 54, payload: payload(2000) },
    });
    const [first, second] = fragmentFrame(nowhere, 1480);
    expect(run(dp, first!).reason).toBe(Drop.noService);
    expect(run(dp, second!).reason).toBe(Drop.fragmentUnknown);
    // A first fragment too short to hold the UDP header.
    const tiny = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: { ...ipv4Fields(CIP, VIP, { dontFrag: false, moreFrags: true, id: 6 }), protocol: 17 },
      raw: payload(4),
    });
    expect(run(dp, tiny).reason).toBe(Reason.udpTruncated);
  });

  it('answers time exceeded for a first fragment, never for a later one (icmp_send)', () => {
    const dp = makeDatapath(NAT_RULES);
    const dgram = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP, { dontFrag: false, id: 7, ttl: 2 }),
      udp: { srcPort: 5000, dstPort: 53, payload: payload(2000) },
    });
    const [first, second] = fragmentFrame(dgram, 1480);
    expect(run(dp, first!).verdict).toBe(Verdict.forward);
    // The second fragment took a longer path: it arrives with TTL 1.
    second![22] = 1;
    second!.set([0, 0], 24);
    const c = 0xffff - onesSum(second!, 14, 34);
    second!.set([c >> 8, c & 0xff], 24);
    const r = run(dp, second!);
    expect(r).toMatchObject({ verdict: Verdict.drop, reason: Drop.icmpErrorSuppressed, sent: [] });
    const expired = fragmentFrame(
      buildFrame({
        eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields(CIP, VIP, { dontFrag: false, id: 8, ttl: 1 }),
        udp: { srcPort: 5000, dstPort: 53, payload: payload(2000) },
      }),
      1480,
    )[0]!;
    const answer = run(dp, expired);
    expect(answer.verdict).toBe(Verdict.reply);
    const icmp = parseFrame(answer.sent[0]!.frame).frame!;
    if (!('icmp' in icmp)) throw new Error('not ICMP');
    expect(icmp.icmp.type).toBe(11);
  });
});

describe('Datapath: rules at work', () => {
  const dstOf = (frame: Uint8Array) => {
    const f = parseFrame(frame).frame!;
    return 'ipv4' in f ? f.ipv4.dst : 0;
  };

  it('weight 0: the quiesced server keeps its connection, new ones go to the other', () => {
    const dp = makeDatapath(NAT_RULES);
    expect(dstOf(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN })).sent[0]!.frame)).toBe(RS2);
    dp.core.applyRules(parseRules('-e -t 192.168.1.231:80 -r 192.168.2.12:8080 -m -w 0'));
    expect(dstOf(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: ACK })).sent[0]!.frame)).toBe(RS2);
    for (let p = 2; p < 5; p++) {
      expect(dstOf(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: p, dport: 80, flags: SYN })).sent[0]!.frame)).toBe(
        RS1,
      );
    }
  });

  it('a removed destination: its connection is dropped (expire_nodest_conn=0)', () => {
    const dp = makeDatapath(NAT_RULES);
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: SYN }));
    dp.core.applyRules(parseRules('-d -t 192.168.1.231:80 -r 192.168.2.12:8080'));
    expect(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 1, dport: 80, flags: ACK })).reason).toBe(
      Drop.destUnavailable,
    );
  });

  it('persistence: every connection of a client goes to the same server', () => {
    const dp = makeDatapath(
      '-A -t 192.168.1.231:80 -s rr -p 360\n-a -t 192.168.1.231:80 -r 192.168.2.11:80 -m\n-a -t 192.168.1.231:80 -r 192.168.2.12:80 -m\n',
    );
    const picks = [1, 2, 3].map((p) =>
      dstOf(run(dp, tcpFrame({ src: CIP, dst: VIP, sport: p, dport: 80, flags: SYN })).sent[0]!.frame),
    );
    expect(picks).toEqual([RS2, RS2, RS2]);
    const other = run(dp, tcpFrame({ src: ip('192.168.1.101'), dst: VIP, sport: 1, dport: 80, flags: SYN }));
    expect(dstOf(other.sent[0]!.frame)).toBe(RS1);
  });

  it('conn_reuse_mode: a SYN on a TIME_WAIT entry is scheduled anew', () => {
    const dp = makeDatapath(NAT_RULES);
    const c = { src: CIP, dst: VIP, sport: 7, dport: 80 };
    const s = { srcMac: RS2_MAC, dstMac: ETH1_MAC, src: RS2, dst: CIP, sport: 8080, dport: 7 };
    run(dp, tcpFrame({ ...c, flags: SYN }));
    run(dp, tcpFrame({ ...c, flags: FIN | ACK }));
    run(dp, tcpFrame({ ...s, flags: FIN | ACK }), 2);
    const again = run(dp, tcpFrame({ ...c, flags: SYN }));
    expect(dstOf(again.sent[0]!.frame)).toBe(RS1);
  });

  it('UDP to a service without destinations gets port unreachable quoting the datagram', () => {
    const dp = makeDatapath('-A -u 192.168.1.231:53 -s rr\n');
    const q = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP),
      udp: { srcPort: 5000, dstPort: 53, payload: payload(30) },
    });
    const r = run(dp, q);
    const f = parseFrame(r.sent[0]!.frame).frame!;
    if (!('icmp' in f)) throw new Error('not ICMP');
    expect([f.icmp.type, f.icmp.code, f.ipv4.src, f.ipv4.dst]).toEqual([3, 3, VIP, CIP]);
    expect(f.icmp.payload).toEqual(q.slice(14, 14 + 28));
  });

  it('DR: an ICMP error about a connection goes to its real server unchanged but for MACs and TTL', () => {
    const dp = makeDatapath(DR_RULES);
    run(dp, tcpFrame({ src: CIP, dst: VIP, sport: 40000, dport: 80, flags: SYN }));
    const quoted = tcpFrame({ src: VIP, dst: CIP, sport: 80, dport: 40000, flags: SYNACK }).slice(14, 14 + 28);
    const mk = (dmac: number, smac: number, ttl: number) =>
      buildFrame({
        eth: { dst: dmac, src: smac, etherType: 0x0800 },
        ipv4: ipv4Fields(ip('192.168.1.1'), VIP, { ttl, dontFrag: false }),
        icmp: { type: 3, code: 4, mtu: 1280, payload: quoted },
      });
    const r = run(dp, mk(ETH0_MAC, GATEWAY_MAC, 64));
    expect(r.verdict).toBe(Verdict.forward);
    expect(r.sent[0]!.frame).toEqual(mk(RS1_MAC, ETH1_MAC, 63));
  });
});
