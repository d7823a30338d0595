import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { ipv4HeaderChecksum } from '../../src/wire/checksum.js';
import { emitIpv4, type Ipv4Repr, Ipv4View, ipv4ReprLen, parseIpv4 } from '../../src/wire/ipv4.js';
import { Reason } from '../../src/wire/reason.js';
import { hex, poisoned } from '../helpers/bytes.js';

// The classic example header (192.168.0.1 -> 192.168.0.199, UDP, DF, TTL 64, total 115): checksum 0xb861,
// worked out by hand: 4500+0073+0000+4000+4011+c0a8+0001+c0a8+00c7 = 0x2479c, folded 0x479e, inverted 0xb861.
const classicHeader = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
const CLASSIC_TOTAL = 0x73;

function classicPacket(): Uint8Array {
  const packet = new Uint8Array(CLASSIC_TOTAL);
  packet.set(classicHeader, 0);
  for (let i = 20; i < CLASSIC_TOTAL; i++) packet[i] = i;
  return packet;
}

// IHL 6 with a Router Alert option (RFC 2113, 94 04 00 00), as IGMP sends it: 10.0.0.1 -> 224.0.0.22, TOS
// 0xc0, TTL 1, total 32. Checksum by hand: 46c0+0020+0000+4000+0102+0a00+0001+e000+0016+9404+0000 = 0x205fd,
// folded 0x05ff, inverted 0xfa00.
const optionsPacket = hex(`
  46 c0 00 20  00 00 40 00  01 02 fa 00  0a 00 00 01  e0 00 00 16
  94 04 00 00
  16 00 09 04 e0 00 00 16`);

/** RFC 1071 written plainly: the one's-complement sum of the header's words, checksum field skipped. */
function referenceChecksum(buf: Uint8Array, off: number, headerLen: number): number {
  let sum = 0;
  for (let i = 0; i < headerLen; i += 2) {
    if (i === 10) continue;
    sum += (buf[off + i] as number) * 256 + (buf[off + i + 1] as number);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/**
 * The kernel's ip_decrease_ttl as it runs on x86: iph->check is loaded as a little-endian u16 and
 * htons(0x0100) is 0x0001, then `check + (check >= 0xFFFF)` is stored back truncated to 16 bits.
 */
function kernelDecreaseTtlCheck(storedCheck: number): number {
  let check = (((storedCheck & 0xff) << 8) | (storedCheck >>> 8)) + 0x0001;
  check = (check + (check >= 0xffff ? 1 : 0)) & 0xffff;
  return ((check & 0xff) << 8) | (check >>> 8);
}

describe('Ipv4View', () => {
  const view = new Ipv4View();

  it('reads the classic header', () => {
    const packet = classicPacket();
    expect(view.reset(packet, 0, packet.length).checkLen()).toBe(Reason.ok);
    expect(view.version).toBe(4);
    expect(view.ihl).toBe(5);
    expect(view.headerLen).toBe(20);
    expect(view.optionsLen).toBe(0);
    expect(view.tos).toBe(0);
    expect(view.dscp).toBe(0);
    expect(view.ecn).toBe(0);
    expect(view.totalLength).toBe(115);
    expect(view.id).toBe(0);
    expect(view.dontFrag).toBe(true);
    expect(view.moreFrags).toBe(false);
    expect(view.fragOffset).toBe(0);
    expect(view.isFragment).toBe(false);
    expect(view.ttl).toBe(64);
    expect(view.protocol).toBe(IpProto.udp);
    expect(view.checksum).toBe(0xb861);
    expect(view.src).toBe(parseIpv4Address('192.168.0.1'));
    expect(view.dst).toBe(parseIpv4Address('192.168.0.199'));
    expect(view.payloadOff).toBe(20);
    expect(view.payloadLen).toBe(95);
    expect(view.verifyChecksum()).toBe(true);
  });

  it('honours options: the payload starts after IHL*4 bytes', () => {
    expect(view.reset(optionsPacket, 0, optionsPacket.length).checkLen()).toBe(Reason.ok);
    expect(view.ihl).toBe(6);
    expect(view.headerLen).toBe(24);
    expect(view.optionsLen).toBe(4);
    expect(view.tos).toBe(0xc0);
    expect(view.dscp).toBe(48);
    expect(view.ecn).toBe(0);
    expect(view.ttl).toBe(1);
    expect(view.protocol).toBe(2);
    expect(view.dst).toBe(parseIpv4Address('224.0.0.22'));
    expect(view.payloadOff).toBe(24);
    expect(view.payloadLen).toBe(8);
    expect(view.verifyChecksum()).toBe(true);
  });

  it('honours the offset it is bound to', () => {
    const buf = poisoned(optionsPacket.length + 30);
    buf.set(optionsPacket, 17);
    expect(view.reset(buf, 17, optionsPacket.length).checkLen()).toBe(Reason.ok);
    expect(view.src).toBe(parseIpv4Address('10.0.0.1'));
    expect(view.payloadOff).toBe(17 + 24);
    expect(view.verifyChecksum()).toBe(true);
  });

  it('accepts Ethernet padding after the packet and takes the payload length from totalLength', () => {
    // A 20-byte header with 8 bytes of payload sits in the 46-byte minimum Ethernet payload.
    const frame = new Uint8Array(46);
    frame.set(hex('45 00 00 1c 00 01 00 00 40 01 00 00 0a 00 00 01 0a 00 00 02'), 0);
    expect(view.reset(frame, 0, frame.length).checkLen()).toBe(Reason.ok);
    expect(view.totalLength).toBe(28);
    expect(view.payloadLen).toBe(8);
  });

  it('reads the fragment fields', () => {
    const packet = classicPacket();
    view.reset(packet, 0, packet.length);
    packet.set([0x20, 0x00], 6); // MF, offset 0: a first fragment
    expect([view.dontFrag, view.moreFrags, view.fragOffset, view.isFragment]).toEqual([false, true, 0, true]);
    packet.set([0x00, 0xb9], 6); // offset 185 * 8 = 1480, no MF: a last fragment
    expect([view.dontFrag, view.moreFrags, view.fragOffset, view.isFragment]).toEqual([false, false, 1480, true]);
    packet.set([0x3f, 0xff], 6); // MF and the largest offset
    expect([view.moreFrags, view.fragOffset, view.isFragment]).toEqual([true, 8191 * 8, true]);
    packet.set([0x80, 0x00], 6); // only the reserved bit: not a fragment
    expect([view.dontFrag, view.moreFrags, view.isFragment]).toEqual([false, false, false]);
  });

  it('returns a reason code for every truncation length instead of throwing', () => {
    const packet = classicPacket();
    for (let len = 0; len < CLASSIC_TOTAL; len++) {
      const expected = len < 20 ? Reason.ipv4Truncated : Reason.ipv4BadTotalLen;
      expect(view.reset(packet, 0, len).checkLen()).toBe(expected);
    }
    for (let len = 0; len < optionsPacket.length; len++) {
      const expected = len < 20 ? Reason.ipv4Truncated : len < 24 ? Reason.ipv4BadIhl : Reason.ipv4BadTotalLen;
      expect(view.reset(optionsPacket, 0, len).checkLen()).toBe(expected);
    }
  });

  it('returns a reason code for every malformed field', () => {
    const cases: [string, number, number, number][] = [
      ['version 6', 0, 0x65, Reason.ipv4BadVersion],
      ['version 0', 0, 0x05, Reason.ipv4BadVersion],
      ['IHL 0', 0, 0x40, Reason.ipv4BadIhl],
      ['IHL 4', 0, 0x44, Reason.ipv4BadIhl],
      ['IHL 15 past the frame', 0, 0x4f, Reason.ipv4BadIhl],
      ['total length 19', 3, 19, Reason.ipv4BadTotalLen],
      ['total length 0', 3, 0, Reason.ipv4BadTotalLen],
      ['total length one past the frame', 3, 41, Reason.ipv4BadTotalLen],
    ];
    for (const [name, at, value, reason] of cases) {
      const packet = classicPacket().subarray(0, 40); // IHL 15 (60 bytes) does not fit in 40
      packet[2] = 0;
      packet[3] = 40;
      packet[at] = value;
      expect([name, view.reset(packet, 0, packet.length).checkLen()]).toEqual([name, reason]);
    }
    const headerOnly = classicPacket().subarray(0, 20);
    headerOnly.set([0x00, 0x14], 2); // total 20 == header: an empty payload is fine
    expect(view.reset(headerOnly, 0, 20).checkLen()).toBe(Reason.ok);
    expect(view.payloadLen).toBe(0);
  });

  it('verifies the checksum, accepting 0xffff as the other zero', () => {
    const packet = classicPacket();
    view.reset(packet, 0, packet.length);
    packet[16] = 0xc1;
    expect(view.verifyChecksum()).toBe(false);
    packet[16] = 0xc0;
    expect(view.verifyChecksum()).toBe(true);
    // With id 0xb861 the words sum to 0x479e + 0xb861 = 0xffff, so the checksum is 0x0000; the kernel's
    // ip_fast_csum also accepts it stored as 0xffff.
    packet.set([0xb8, 0x61, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00], 4);
    expect(view.verifyChecksum()).toBe(true);
    packet.set([0xff, 0xff], 10);
    expect(view.verifyChecksum()).toBe(true);
    packet.set([0xff, 0xfe], 10);
    expect(view.verifyChecksum()).toBe(false);
  });

  it('fills the checksum from scratch', () => {
    const packet = classicPacket();
    packet.set([0xa5, 0xa5], 10);
    view.reset(packet, 0, packet.length).fillChecksum();
    expect(packet.subarray(0, 20)).toEqual(classicHeader);
    const withOptions = Uint8Array.from(optionsPacket);
    withOptions.set([0x12, 0x34], 10);
    view.reset(withOptions, 0, withOptions.length).fillChecksum();
    expect(withOptions).toEqual(optionsPacket);
  });

  it('rewrites the destination with an incremental checksum update', () => {
    const packet = classicPacket();
    view.reset(packet, 0, packet.length).setDst(parseIpv4Address('10.0.0.2')!);
    // By hand: 0x2479c - c0a8 - 00c7 + 0a00 + 0002 = 0x1902f, folded 0x9030, inverted 0x6fcf.
    expect(packet.subarray(0, 20)).toEqual(hex('45 00 00 73 00 00 40 00 40 11 6f cf c0 a8 00 01 0a 00 00 02'));
  });

  it('rewrites the source with an incremental checksum update', () => {
    const packet = classicPacket();
    view.reset(packet, 0, packet.length).setSrc(parseIpv4Address('10.0.0.2')!);
    // By hand: 0x2479c - c0a8 - 0001 + 0a00 + 0002 = 0x190f5, folded 0x90f6, inverted 0x6f09.
    expect(packet.subarray(0, 20)).toEqual(hex('45 00 00 73 00 00 40 00 40 11 6f 09 0a 00 00 02 c0 a8 00 c7'));
  });

  it('rewrites the TOS with an incremental checksum update', () => {
    const packet = classicPacket();
    view.reset(packet, 0, packet.length).setTos(0xb8);
    // By hand: 0x2479c + 0xb8 = 0x24854, folded 0x4856, inverted 0xb7a9.
    expect(packet.subarray(0, 20)).toEqual(hex('45 b8 00 73 00 00 40 00 40 11 b7 a9 c0 a8 00 01 c0 a8 00 c7'));
    expect([view.dscp, view.ecn]).toEqual([46, 0]);
  });

  it('decrements the TTL as ip_decrease_ttl does', () => {
    const packet = classicPacket();
    expect(view.reset(packet, 0, packet.length).decrementTtl()).toBe(63);
    expect(packet.subarray(0, 20)).toEqual(hex('45 00 00 73 00 00 40 00 3f 11 b9 61 c0 a8 00 01 c0 a8 00 c7'));
  });

  it('matches the kernel TTL checksum arithmetic for every stored checksum value', () => {
    const packet = classicPacket();
    view.reset(packet, 0, packet.length);
    for (let check = 0; check <= 0xffff; check++) {
      packet[8] = 64;
      view.checksum = check;
      view.decrementTtl();
      if (view.checksum !== kernelDecreaseTtlCheck(check)) {
        expect([check, view.checksum]).toEqual([check, kernelDecreaseTtlCheck(check)]);
      }
    }
    expect(packet[8]).toBe(63);
  });
});

const headerArb = fc.record({
  optionWords: fc.integer({ min: 0, max: 10 }),
  bytes: fc.uint8Array({ minLength: 60, maxLength: 60 }),
  offset: fc.integer({ min: 0, max: 9 }),
});

type Op = { kind: 'src' | 'dst' | 'tos'; value: number } | { kind: 'ttl' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('src' as const), value: fc.nat({ max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('dst' as const), value: fc.nat({ max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('tos' as const), value: fc.nat({ max: 0xff }) }),
  fc.record({ kind: fc.constant('ttl' as const) }),
);

describe('Ipv4View incremental checksum updates (property)', () => {
  it('always equal a full recompute over random headers and random rewrites', () => {
    const view = new Ipv4View();
    fc.assert(
      fc.property(headerArb, fc.array(opArb, { minLength: 1, maxLength: 8 }), ({ optionWords, bytes, offset }, ops) => {
        const headerLen = 20 + optionWords * 4;
        const buf = new Uint8Array(offset + headerLen);
        buf.set(bytes.subarray(0, headerLen), offset);
        buf[offset] = 0x40 | (headerLen / 4);
        buf[offset + 2] = 0;
        buf[offset + 3] = headerLen;
        const initial = referenceChecksum(buf, offset, headerLen);
        buf[offset + 10] = initial >>> 8;
        buf[offset + 11] = initial & 0xff;
        view.reset(buf, offset, headerLen);
        expect(view.checkLen()).toBe(Reason.ok);
        for (const op of ops) {
          if (op.kind === 'src') view.setSrc(op.value);
          else if (op.kind === 'dst') view.setDst(op.value);
          else if (op.kind === 'tos') view.setTos(op.value);
          // TTL 0 is never decremented: the datapath answers ttl <= 1 with time exceeded first.
          else if (view.ttl > 0) view.decrementTtl();
          expect(view.checksum).toBe(ipv4HeaderChecksum(buf, offset, headerLen));
          expect(view.checksum).toBe(referenceChecksum(buf, offset, headerLen));
          expect(view.verifyChecksum()).toBe(true);
        }
        const last = ops.at(-1)!;
        if (last.kind === 'src') expect(view.src).toBe(last.value);
        if (last.kind === 'dst') expect(view.dst).toBe(last.value);
        if (last.kind === 'tos') expect(view.tos).toBe(last.value);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv4 repr', () => {
  const classicRepr: Ipv4Repr = {
    tos: 0,
    id: 0,
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    ttl: 64,
    protocol: IpProto.udp,
    src: parseIpv4Address('192.168.0.1')!,
    dst: parseIpv4Address('192.168.0.199')!,
    payloadLen: 95,
  };

  it('emits every byte of the classic header, checksum included, into a poisoned buffer', () => {
    const buf = poisoned(ipv4ReprLen(classicRepr) + 2);
    expect(emitIpv4(classicRepr, buf, 0)).toBe(20);
    expect(buf.subarray(0, 20)).toEqual(classicHeader);
    expect(buf.subarray(20)).toEqual(hex('a5 a5'));
  });

  it('emits options padded to a word, at an offset', () => {
    const repr: Ipv4Repr = {
      tos: 0xc0,
      id: 0,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      ttl: 1,
      protocol: 2,
      src: parseIpv4Address('10.0.0.1')!,
      dst: parseIpv4Address('224.0.0.22')!,
      payloadLen: 8,
      options: hex('94 04'),
    };
    expect(ipv4ReprLen(repr)).toBe(24);
    const buf = poisoned(3 + 24 + 1);
    expect(emitIpv4(repr, buf, 3)).toBe(27);
    expect(buf.subarray(3, 27)).toEqual(optionsPacket.subarray(0, 24));
    expect([buf[0], buf[1], buf[2], buf[27]]).toEqual([0xa5, 0xa5, 0xa5, 0xa5]);
  });

  it('emits the fragment fields', () => {
    const repr: Ipv4Repr = { ...classicRepr, dontFrag: false, moreFrags: true, fragOffset: 1480, id: 0xbeef };
    const buf = poisoned(20);
    emitIpv4(repr, buf, 0);
    expect(buf.subarray(4, 8)).toEqual(hex('be ef 20 b9'));
    expect(referenceChecksum(buf, 0, 20)).toBe((buf[10]! << 8) | buf[11]!);
  });

  it('refuses options that IHL cannot describe and totals past 65535', () => {
    expect(() => emitIpv4({ ...classicRepr, options: new Uint8Array(41) }, new Uint8Array(100), 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...classicRepr, payloadLen: 65516 }, new Uint8Array(100), 0)).toThrow(RangeError);
  });

  it('round-trips through the view, options included', () => {
    const repr: Ipv4Repr = {
      tos: 0xb9,
      id: 0xffff,
      dontFrag: false,
      moreFrags: true,
      fragOffset: 8 * 8191,
      ttl: 255,
      protocol: IpProto.tcp,
      src: 0xffffffff,
      dst: 0x80000001,
      payloadLen: 3,
      options: hex('01 01 01 00 07 07 04 00 00 00 00 00'),
    };
    const buf = new Uint8Array(ipv4ReprLen(repr) + repr.payloadLen);
    emitIpv4(repr, buf, 0);
    const view = new Ipv4View().reset(buf, 0, buf.length);
    expect(view.checkLen()).toBe(Reason.ok);
    expect(view.verifyChecksum()).toBe(true);
    expect(parseIpv4(view)).toEqual(repr);
    const plain = new Uint8Array(ipv4ReprLen(classicRepr) + classicRepr.payloadLen);
    emitIpv4(classicRepr, plain, 0);
    expect(parseIpv4(view.reset(plain, 0, plain.length))).toEqual(classicRepr);
  });
});
