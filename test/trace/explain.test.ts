// Golden explanations: real datapath traces of the seed's topology, explained, compared with text written
// by hand from the scenario (who sends what to whom, the kernel's TCP state tables for the states).
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { dropNames } from '../../src/datapath/reasons.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { addressRole, traceContext } from '../../src/trace/context.js';
import { dropSentences, explainPacket, formatTcpFlags } from '../../src/trace/explain.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { IcmpType } from '../../src/wire/icmp.js';
import { CIP, CLIENT_MAC, ETH0_MAC, ETH1_MAC, makeDatapath, RS1, RS1_MAC, topology, VIP } from '../datapath/helpers.js';
import { clientSyn, RULES, tcpFrame, traced } from './helpers.js';

function setup(staticNeighbours = true) {
  const config = topology(staticNeighbours);
  const dp = makeDatapath(RULES, config);
  return { dp, ctx: traceContext(config, dp.core.rules.snapshot) };
}

describe('explainPacket', () => {
  it('ARP request for the VIP: answered with the director MAC on eth0', () => {
    const { dp, ctx } = setup();
    const frame = buildFrame({
      eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
      arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
    });
    expect(explainPacket(1, traced(dp, frame), ctx)).toBe(
      [
        '#1 eth0 in  ARP who-has 192.168.1.231 (VIP) tell 192.168.1.100',
        '   ARP reply: 192.168.1.231 (VIP) is-at 02:00:00:00:00:01, out eth0 to 02:00:00:00:01:64',
      ].join('\n'),
    );
  });

  it('ICMP echo to the VIP: the director answers itself', () => {
    const { dp, ctx } = setup();
    const frame = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP),
      icmp: { type: IcmpType.echoRequest, code: 0, id: 1, seq: 1, payload: new Uint8Array([1, 2, 3, 4]) },
    });
    expect(explainPacket(2, traced(dp, frame), ctx)).toBe(
      [
        '#2 eth0 in  ICMP echo request 192.168.1.100 -> 192.168.1.231 (CIP -> VIP)',
        '   answered with ICMP echo reply 192.168.1.231 -> 192.168.1.100, out eth0 to 02:00:00:00:01:64',
      ].join('\n'),
    );
  });

  it('NAT in, new connection: DNAT VIP:vport -> RIP:rport, NONE -> SYN_RECV', () => {
    const { dp, ctx } = setup();
    expect(explainPacket(3, traced(dp, clientSyn(40000, 80), 1, TcpFlag.syn), ctx)).toBe(
      [
        '#3 eth0 in  TCP 192.168.1.100:40000 -> 192.168.1.231:80 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:80 rr: new connection -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080, out eth1 to 02:00:00:00:02:11; state NONE -> SYN_RECV',
      ].join('\n'),
    );
  });

  it('NAT reply: SNAT RIP:rport -> VIP:vport back to the client; SYN+ACK keeps SYN_RECV (output table)', () => {
    const { dp, ctx } = setup();
    traced(dp, clientSyn(40000, 80));
    const reply = tcpFrame(RS1_MAC, ETH1_MAC, RS1, CIP, 8080, 40000, TcpFlag.syn | TcpFlag.ack);
    expect(explainPacket(4, traced(dp, reply, 2, TcpFlag.syn | TcpFlag.ack), ctx)).toBe(
      [
        '#4 eth1 in  TCP 192.168.2.11:8080 -> 192.168.1.100:40000 (RIP -> CIP) SYN+ACK',
        '   reply from RIP 192.168.2.11:8080 on a known connection of service TCP 192.168.1.231:80 (Masq)',
        '   NAT: SNAT 192.168.2.11:8080 -> 192.168.1.231:80, out eth0 to 02:00:00:00:01:64; state SYN_RECV -> SYN_RECV',
      ].join('\n'),
    );
    // The client's ACK completes the handshake on the known connection.
    const ack = tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, VIP, 40000, 80, TcpFlag.ack);
    expect(explainPacket(5, traced(dp, ack, 1, TcpFlag.ack), ctx)).toBe(
      [
        '#5 eth0 in  TCP 192.168.1.100:40000 -> 192.168.1.231:80 (CIP -> VIP) ACK',
        '   known connection of service TCP 192.168.1.231:80 -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080, out eth1 to 02:00:00:00:02:11; state SYN_RECV -> ESTABLISHED',
      ].join('\n'),
    );
  });

  it("DR: only the destination MAC changes, to the RIP's", () => {
    const { dp, ctx } = setup();
    expect(explainPacket(6, traced(dp, clientSyn(40001, 81), 1, TcpFlag.syn), ctx)).toBe(
      [
        '#6 eth0 in  TCP 192.168.1.100:40001 -> 192.168.1.231:81 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:81 rr: new connection -> RIP 192.168.2.12:81 (Route)',
        '   DR: MAC rewrite 02:00:00:00:00:01 -> 02:00:00:00:02:12, IP packet unchanged (192.168.1.100 -> ' +
          '192.168.1.231), out eth1 to 02:00:00:00:02:12; state NONE -> SYN_RECV',
      ].join('\n'),
    );
  });

  it('TUN: IPIP from the DIP to the RIP around the unchanged packet', () => {
    const { dp, ctx } = setup();
    expect(explainPacket(7, traced(dp, clientSyn(40002, 82), 1, TcpFlag.syn), ctx)).toBe(
      [
        '#7 eth0 in  TCP 192.168.1.100:40002 -> 192.168.1.231:82 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:82 wlc: new connection -> RIP 192.168.2.11:82 (Tunnel)',
        '   TUN: IPIP encapsulation, outer 192.168.2.1 (DIP) -> 192.168.2.11 (RIP), inner 192.168.1.100 -> ' +
          '192.168.1.231 unchanged, out eth1 to 02:00:00:00:02:11; state NONE -> SYN_RECV',
      ].join('\n'),
    );
  });

  it('a port with no virtual service: dropped, in plain words', () => {
    const { dp, ctx } = setup();
    expect(explainPacket(8, traced(dp, clientSyn(40003, 443), 1, TcpFlag.syn), ctx)).toBe(
      [
        '#8 eth0 in  TCP 192.168.1.100:40003 -> 192.168.1.231:443 (CIP -> VIP) SYN',
        '   dropped (noService): to an address of the director, but no virtual service listens on that protocol and port',
      ].join('\n'),
    );
  });

  it('TCP without SYN for no connection: the service is named, then the drop', () => {
    const { dp, ctx } = setup();
    const ack = tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, VIP, 40004, 80, TcpFlag.ack);
    expect(explainPacket(9, traced(dp, ack, 1, TcpFlag.ack), ctx)).toBe(
      [
        '#9 eth0 in  TCP 192.168.1.100:40004 -> 192.168.1.231:80 (CIP -> VIP) ACK',
        '   service TCP 192.168.1.231:80 rr: no connection made',
        '   dropped (tcpNoConn): TCP without SYN (or with RST) that belongs to no connection: IPVS schedules new ' +
          'connections only on SYN',
      ].join('\n'),
    );
  });

  it('a malformed frame (IHL 4): unparseable, dropped with the wire reason', () => {
    const { dp, ctx } = setup();
    const frame = clientSyn(40005, 80);
    frame[14] = 0x44;
    expect(explainPacket(10, traced(dp, frame), ctx)).toBe(
      [
        '#10 eth0 in  unparseable frame',
        '   dropped (ipv4BadIhl): the IPv4 header length (IHL) is below 5 words or runs past the end of the frame',
      ].join('\n'),
    );
  });

  it('a next hop without a MAC yet: the rewrite, held, with the ARP request that was sent', () => {
    const { dp, ctx } = setup(false);
    expect(explainPacket(11, traced(dp, clientSyn(40006, 80), 1, TcpFlag.syn), ctx)).toBe(
      [
        '#11 eth0 in  TCP 192.168.1.100:40006 -> 192.168.1.231:80 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:80 rr: new connection -> RIP 192.168.2.11:8080 (Masq)',
        "   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080; held until ARP finds the next hop's MAC; " +
          'sent ARP who-has 192.168.2.11 out eth1 to ff:ff:ff:ff:ff:ff; state NONE -> SYN_RECV',
      ].join('\n'),
    );
  });

  it("one-packet scheduling: no connection entry, yet the scheduler's RIP:rport is named", () => {
    const config = topology();
    const dp = makeDatapath(
      '-A -u 192.168.1.231:53 -s rr -o\n-a -u 192.168.1.231:53 -r 192.168.2.12:5353 -m -w 1\n',
      config,
    );
    const ctx = traceContext(config, dp.core.rules.snapshot);
    const query = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP),
      udp: { srcPort: 5000, dstPort: 53, payload: new Uint8Array(8) },
    });
    const t = traced(dp, query);
    expect([t.conn, t.rip, t.rport]).toEqual(['untracked', '192.168.2.12', 5353]);
    expect(explainPacket(12, t, ctx)).toBe(
      [
        '#12 eth0 in  UDP 192.168.1.100:5000 -> 192.168.1.231:53 (CIP -> VIP)',
        '   service UDP 192.168.1.231:53 rr: scheduled, but not tracked (one-packet scheduling or a full table) ' +
          '-> RIP 192.168.2.12:5353 (Masq)',
        '   NAT: DNAT 192.168.1.231:53 -> 192.168.2.12:5353, out eth1 to 02:00:00:00:02:12',
      ].join('\n'),
    );
  });

  it('DR with DF over the egress MTU: fragmentation needed announcing that MTU, and the RIP still named', () => {
    const config = topology(true, 1400);
    const dp = makeDatapath(RULES, config);
    const ctx = traceContext(config, dp.core.rules.snapshot);
    const big = buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP),
      tcp: {
        srcPort: 40007,
        dstPort: 81,
        seq: 1,
        ack: 0,
        flags: TcpFlag.syn,
        window: 100,
        urgent: 0,
        payload: new Uint8Array(1400),
      },
    });
    const t = traced(dp, big);
    expect([t.rip, t.rport, t.output?.kind, t.output?.mtu]).toEqual(['192.168.2.12', 81, 'icmp 3/4', 1400]);
    expect(explainPacket(13, t, ctx)).toBe(
      [
        '#13 eth0 in  TCP 192.168.1.100:40007 -> 192.168.1.231:81 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:81 rr: new connection -> RIP 192.168.2.12:81 (Route)',
        '   answered with ICMP fragmentation needed (MTU 1400) 192.168.1.231 -> 192.168.1.100: the packet is too ' +
          'big for the next link, and DF forbids splitting it, so the sender is told to send at most 1400 bytes, ' +
          'out eth0 to 02:00:00:00:01:64; state NONE -> SYN_RECV',
      ].join('\n'),
    );
  });

  it('has a sentence for every drop reason the datapath counts', () => {
    const missing = dropNames.slice(1).filter((name) => dropSentences[name] === undefined);
    expect(missing).toEqual([]);
    expect(dropNames.length).toBeGreaterThan(40);
  });
});

describe('trace context', () => {
  it('names VIP (a service address), DIP (another owned address), RIP (a destination), none otherwise', () => {
    const core = new IpvsCore({ connCapacity: 16, ticksPerSecond: 1000 });
    core.applyRules(parseRules(RULES));
    const ctx = traceContext(topology(), core.rules.snapshot);
    expect(addressRole(ctx, '192.168.1.231')).toBe('VIP');
    expect(addressRole(ctx, '192.168.2.1')).toBe('DIP');
    expect(addressRole(ctx, '192.168.2.11')).toBe('RIP');
    expect(addressRole(ctx, '192.168.2.12')).toBe('RIP');
    expect(addressRole(ctx, '192.168.1.100')).toBe(null);
    expect(ctx.neighbours).toContainEqual({ ip: '192.168.2.12', mac: '02:00:00:00:02:12' });
  });

  it('formats TCP flags in a fixed order', () => {
    expect(formatTcpFlags(0x12)).toBe('SYN+ACK');
    expect(formatTcpFlags(0x11)).toBe('FIN+ACK');
    expect(formatTcpFlags(0x18)).toBe('PSH+ACK');
    expect(formatTcpFlags(0x04)).toBe('RST');
    expect(formatTcpFlags(0)).toBe('none');
  });
});
