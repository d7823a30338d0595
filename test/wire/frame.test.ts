import { describe, expect, it } from 'vitest';
import { parseIpv4Address as parseAddr } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, type FrameRepr, ipv4Fields, parseFrame } from '../../src/wire/frame.js';
import { IcmpType } from '../../src/wire/icmp.js';
import { Reason } from '../../src/wire/reason.js';
import { TcpFlag } from '../../src/wire/tcp.js';
import { hex } from '../helpers/bytes.js';

const cip = parseAddr('10.0.0.1')!;
const vip = parseAddr('10.0.0.2')!;
const eth = { dst: 0x020000000002, src: 0x020000000001, etherType: 0 };

describe('buildFrame', () => {
  it('fills lengths and checksums (golden UDP frame worked out by hand)', () => {
    // IPv4 header words 4500 001d 0000 4000 4011 0000 0a00 0001 0a00 0002 sum to 0xd931 -> checksum 0x26ce.
    // UDP: pseudo-header 0a00+0001+0a00+0002+0011+0009 = 0x141d, header+data 04d2+0050+0009+4100 = 0x462b,
    // total 0x5a48 -> checksum 0xa5b7.
    const frame = buildFrame({
      eth,
      ipv4: ipv4Fields(cip, vip),
      udp: { srcPort: 1234, dstPort: 80, payload: Uint8Array.of(0x41) },
    });
    expect(frame).toEqual(
      hex(`02 00 00 00 00 02 02 00 00 00 00 01 08 00
           45 00 00 1d 00 00 40 00 40 11 26 ce 0a 00 00 01 0a 00 00 02
           04 d2 00 50 00 09 a5 b7 41`),
    );
  });

  const cases: [string, FrameRepr][] = [
    [
      'ARP',
      {
        eth: { ...eth, dst: 0xffffffffffff },
        arp: { op: ArpOp.request, senderMac: eth.src, senderIp: cip, targetMac: 0, targetIp: vip },
      },
    ],
    [
      'TCP with VLAN tag and options',
      {
        eth: { ...eth, vlans: [7] },
        ipv4: ipv4Fields(cip, vip, { id: 77, ttl: 3, options: Uint8Array.of(0x94, 0x04, 0, 0) }),
        tcp: {
          srcPort: 40000,
          dstPort: 80,
          seq: 0xdeadbeef,
          ack: 0,
          flags: TcpFlag.syn,
          window: 64240,
          urgent: 0,
          options: Uint8Array.of(2, 4, 5, 0xb4),
          payload: new Uint8Array(0),
        },
      },
    ],
    [
      'ICMP echo',
      {
        eth,
        ipv4: ipv4Fields(cip, vip),
        icmp: { type: IcmpType.echoRequest, code: 0, id: 9, seq: 1, payload: Uint8Array.of(1, 2, 3) },
      },
    ],
    ['IPIP as raw', { eth, ipv4: { ...ipv4Fields(cip, vip), protocol: 4 }, raw: Uint8Array.of(0x45, 0, 0, 20) }],
  ];

  // IP protocol each case must come back with (the builder derives it from the L4 part).
  const protoOf: Record<string, number> = {
    ARP: 0,
    'TCP with VLAN tag and options': 6,
    'ICMP echo': 1,
    'IPIP as raw': 4,
  };

  it.each(cases)('round-trips %s through parseFrame', (name, repr) => {
    const parsed = parseFrame(buildFrame(repr));
    expect(parsed.reason).toBe(Reason.ok);
    const expected: Record<string, unknown> = {
      ...repr,
      eth: { ...repr.eth, etherType: 'arp' in repr ? 0x0806 : 0x0800 },
    };
    if ('ipv4' in repr) expected.ipv4 = { ...repr.ipv4, protocol: protoOf[name] };
    expect(parsed.frame).toEqual(expected);
  });

  it('reports the first bad header instead of throwing', () => {
    const frame = buildFrame({
      eth,
      ipv4: ipv4Fields(cip, vip),
      udp: { srcPort: 1, dstPort: 2, payload: new Uint8Array(4) },
    });
    expect(parseFrame(frame, 0, 10).reason).toBe(Reason.ethTruncated);
    expect(parseFrame(frame, 0, 30).reason).toBe(Reason.ipv4Truncated);
    const badUdp = Uint8Array.from(frame);
    badUdp[14 + 20 + 5] = 4; // UDP length 4 < 8
    expect(parseFrame(badUdp).reason).toBe(Reason.udpBadLength);
  });
});
