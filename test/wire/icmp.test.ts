import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import {
  emitEchoReplyInPlace,
  emitFragNeeded,
  emitIcmp,
  emitIcmpError,
  emitPortUnreachable,
  emitTimeExceeded,
  IcmpType,
  IcmpUnreachableCode,
  IcmpView,
  icmpReprLen,
  parseIcmp,
} from '../../src/wire/icmp.js';
import { Reason } from '../../src/wire/reason.js';
import { hex, poisoned } from '../helpers/bytes.js';
import { referenceChecksum } from '../helpers/rfc1071.js';

/** Checksum of `bytes` with the 16-bit field at `at` taken as 0. */
function checksumWithFieldZero(bytes: Uint8Array, at: number): number {
  const copy = Uint8Array.from(bytes);
  copy[at] = 0;
  copy[at + 1] = 0;
  return referenceChecksum(copy);
}

function storedChecksum(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) << 8) | (bytes[at + 1] as number);
}

// ping: echo request, identifier 0x1c2e, sequence 1, data "abcdefgh". Checksum worked by hand:
// 0800+1c2e+0001+6162+6364+6566+6768 = 0x1b5c3, folded 0xb5c4, inverted 0x4a3b.
const echoRequest = hex('08 00 4a 3b  1c 2e 00 01  61 62 63 64 65 66 67 68');
// The reply differs only in the type, so its sum is 0x0800 smaller: ~0xadc4 = 0x523b.
const echoReply = hex('00 00 52 3b  1c 2e 00 01  61 62 63 64 65 66 67 68');

// The datagram an error is about: a DNS query 10.0.0.1:5353 -> 10.0.0.100:53 (IPv4 ID 0x1c46, DF, TTL 64;
// header checksum by hand: 4500+0031+1c46+4000+4011+0a00+0001+0a00+0064 = 0xf5ed, inverted 0x0a12).
const originalHeader = hex('45 00 00 31  1c 46 40 00  40 11 0a 12  0a 00 00 01  0a 00 00 64');
const originalUdp = hex(`
  14 e9 00 35  00 1d 46 0e
  12 34 01 00  00 01 00 00  00 00 00 00  03 77 77 77  00 00 01 00  01`);
const original = new Uint8Array([...originalHeader, ...originalUdp]);
const quote = original.slice(0, 28);
// The same query with a router-alert option (RFC 2113): IHL 6, so an error quotes 24 + 8 bytes.
const withOptions = new Uint8Array([
  ...hex('46 00 00 35  1c 46 40 00  40 11 00 00  0a 00 00 01  0a 00 00 64  94 04 00 00'),
  ...originalUdp,
]);

// Error checksums by hand: a valid IPv4 header sums to 0xffff, which adds nothing in one's complement, and
// the quoted UDP header sums to 14e9+0035+001d+460e = 0x5b49. Port unreachable: ~(0303+5b49) = 0xa1b3;
// fragmentation needed (MTU 1400 = 0x0578): ~(0304+0578+5b49) = 0x9c3a; time exceeded: ~(0b00+5b49) = 0x99b6.
const portUnreachable = new Uint8Array([...hex('03 03 a1 b3  00 00 00 00'), ...quote]);
const fragNeeded = new Uint8Array([...hex('03 04 9c 3a  00 00 05 78'), ...quote]);
const timeExceeded = new Uint8Array([...hex('0b 00 99 b6  00 00 00 00'), ...quote]);

describe('IcmpView', () => {
  const view = new IcmpView();

  it('agrees with the reference checksum on its golden messages', () => {
    expect(referenceChecksum(originalHeader)).toBe(0);
    for (const message of [echoRequest, echoReply, portUnreachable, fragNeeded, timeExceeded]) {
      expect(checksumWithFieldZero(message, 2)).toBe(storedChecksum(message, 2));
    }
  });

  it('reads an echo request', () => {
    expect(view.reset(echoRequest, 0, echoRequest.length).checkLen()).toBe(Reason.ok);
    expect(view.type).toBe(IcmpType.echoRequest);
    expect(view.code).toBe(0);
    expect(view.checksum).toBe(0x4a3b);
    expect(view.echoId).toBe(0x1c2e);
    expect(view.echoSeq).toBe(1);
    expect(view.isError).toBe(false);
    expect(view.payloadOff).toBe(8);
    expect(view.verifyChecksum(echoRequest.length)).toBe(true);
  });

  it('reads a fragmentation-needed error and its quoted datagram at an offset', () => {
    const buf = poisoned(34 + fragNeeded.length + 4);
    buf.set(fragNeeded, 34);
    expect(view.reset(buf, 34, fragNeeded.length).checkLen()).toBe(Reason.ok);
    expect(view.checkInner()).toBe(Reason.ok);
    expect(view.type).toBe(IcmpType.destUnreachable);
    expect(view.code).toBe(IcmpUnreachableCode.fragNeeded);
    expect(view.isError).toBe(true);
    expect(view.nextHopMtu).toBe(1400);
    expect(view.innerOff).toBe(42);
    expect(view.innerHeaderLen).toBe(20);
    expect(view.innerProtocol).toBe(IpProto.udp);
    expect(view.innerFragOffset).toBe(0);
    expect(view.innerSrc).toBe(parseIpv4Address('10.0.0.1'));
    expect(view.innerDst).toBe(parseIpv4Address('10.0.0.100'));
    expect(view.innerL4Off).toBe(62);
    expect(view.innerSrcPort).toBe(5353);
    expect(view.innerDstPort).toBe(53);
    expect(view.verifyChecksum(fragNeeded.length)).toBe(true);
  });

  it('counts destination unreachable, source quench and time exceeded as errors, as IPVS does', () => {
    const buf = Uint8Array.from(portUnreachable);
    view.reset(buf, 0, buf.length);
    const errors = new Set<number>([IcmpType.destUnreachable, IcmpType.sourceQuench, IcmpType.timeExceeded]);
    for (let type = 0; type < 256; type++) {
      view.type = type;
      expect(view.isError).toBe(errors.has(type));
    }
  });

  it('finds the quoted ports after a header with options', () => {
    // The quoted header has IHL 6 (one word of options: NOP NOP NOP EOL), so the ports start 24 bytes in.
    const inner = hex('46 00 00 24  00 00 00 00  40 06 00 00  0a 00 00 01  0a 00 00 64  01 01 01 00');
    const message = new Uint8Array([...hex('03 03 00 00  00 00 00 00'), ...inner, ...hex('c8 22 00 50 00 00 00 01')]);
    expect(view.reset(message, 0, message.length).checkLen()).toBe(Reason.ok);
    expect(view.checkInner()).toBe(Reason.ok);
    expect(view.innerHeaderLen).toBe(24);
    expect(view.innerProtocol).toBe(IpProto.tcp);
    expect(view.innerL4Off).toBe(32);
    expect(view.innerSrcPort).toBe(51234);
    expect(view.innerDstPort).toBe(80);
    expect(view.reset(message, 0, message.length - 1).checkInner()).toBe(Reason.icmpInnerTruncated);
  });

  it('reports a quoted fragment, which carries no L4 header', () => {
    const buf = Uint8Array.from(portUnreachable);
    buf[8 + 6] = 0x20; // MF and fragment offset 0x0b9 (1480 bytes)
    buf[8 + 7] = 0xb9;
    expect(view.reset(buf, 0, buf.length).innerFragOffset).toBe(0xb9);
  });

  it('returns icmpTruncated below 8 bytes, without throwing', () => {
    for (let len = 0; len < 8; len++) {
      expect(view.reset(echoRequest, 0, len).checkLen()).toBe(Reason.icmpTruncated);
    }
    expect(view.reset(echoRequest, 0, 8).checkLen()).toBe(Reason.ok);
  });

  it('returns icmpInnerTruncated when the quoted header and 8 bytes do not fit', () => {
    for (let len = 8; len < 36; len++) {
      const code = view.reset(portUnreachable, 0, len).checkInner();
      expect(code).toBe(Reason.icmpInnerTruncated);
    }
    expect(view.reset(portUnreachable, 0, 36).checkInner()).toBe(Reason.ok);
    const buf = Uint8Array.from(portUnreachable);
    view.reset(buf, 0, buf.length);
    for (let ihl = 0; ihl < 5; ihl++) {
      buf[8] = 0x40 | ihl;
      expect(view.checkInner()).toBe(Reason.icmpInnerTruncated);
    }
    buf[8] = 0x4f; // a 60-byte quoted header, longer than the message
    expect(view.checkInner()).toBe(Reason.icmpInnerTruncated);
  });

  it('never throws on random bytes, and accepts only quotes that fit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 90 }), fc.nat(90), (bytes, cut) => {
        const len = Math.min(cut, bytes.length);
        view.reset(bytes, 0, len);
        const code = view.checkLen();
        expect(code).toBe(len < 8 ? Reason.icmpTruncated : Reason.ok);
        const inner = view.checkInner();
        if (inner === Reason.ok) {
          expect(view.innerHeaderLen).toBeGreaterThanOrEqual(20);
          expect(view.innerL4Off + 8).toBeLessThanOrEqual(len);
        } else {
          expect(inner).toBe(Reason.icmpInnerTruncated);
        }
      }),
    );
  });

  it('detects any single flipped bit', () => {
    for (let bit = 0; bit < portUnreachable.length * 8; bit++) {
      const buf = Uint8Array.from(portUnreachable);
      buf[bit >>> 3] = (buf[bit >>> 3] as number) ^ (0x80 >>> (bit & 7));
      expect(view.reset(buf, 0, buf.length).verifyChecksum(buf.length)).toBe(false);
    }
  });

  it('fills the checksum in place', () => {
    const buf = Uint8Array.from(timeExceeded);
    buf[2] = 0xa5;
    buf[3] = 0xa5;
    view.reset(buf, 0, buf.length).fillChecksum(buf.length);
    expect(buf).toEqual(timeExceeded);
  });

  it('rewrites a quoted datagram for NAT as ip_vs_nat_icmp does', () => {
    // The client's port unreachable about the reply 10.0.0.100:53 -> 10.0.0.1:5353, heading to the real
    // server: the quoted source becomes RIP 172.16.0.2:5300, the quoted header checksum is recomputed, the
    // quoted UDP checksum is left alone, and the ICMP checksum is recomputed.
    const before = hex(`
      03 03 d6 45  00 00 00 00
      45 00 00 20  00 01 40 00  40 11 26 68  0a 00 00 64  0a 00 00 01
      00 35 14 e9  00 0c 11 8d`);
    const after = Uint8Array.from(before);
    after.set(hex('ac 10 00 02'), 8 + 12);
    after.set(hex('14 b4'), 28);
    after.set([0, 0], 8 + 10);
    const innerCheck = referenceChecksum(after.subarray(8, 28));
    after.set([innerCheck >>> 8, innerCheck & 0xff], 8 + 10);
    const icmpCheck = checksumWithFieldZero(after, 2);
    after.set([icmpCheck >>> 8, icmpCheck & 0xff], 2);
    // The same bytes, worked out separately: 84 b9 quoted header checksum, c1 c6 ICMP checksum.
    expect(after).toEqual(
      hex(`03 03 c1 c6  00 00 00 00
           45 00 00 20  00 01 40 00  40 11 84 b9  ac 10 00 02  0a 00 00 01
           14 b4 14 e9  00 0c 11 8d`),
    );

    const buf = poisoned(before.length + 20);
    buf.set(before, 20);
    view.reset(buf, 20, before.length);
    expect(view.checkInner()).toBe(Reason.ok);
    view.innerSrc = parseIpv4Address('172.16.0.2')!;
    view.innerSrcPort = 5300;
    view.fillInnerHeaderChecksum();
    view.fillChecksum(before.length);
    expect(buf.subarray(20)).toEqual(after);
    expect(buf.subarray(0, 20)).toEqual(poisoned(20));
    view.innerDst = parseIpv4Address('10.0.0.2')!;
    view.innerDstPort = 1;
    expect(view.innerDst).toBe(parseIpv4Address('10.0.0.2'));
    expect(view.innerDstPort).toBe(1);
  });
});

describe('ICMP emit helpers', () => {
  it('turns an echo request into the echo reply in place', () => {
    const buf = poisoned(3 + echoRequest.length + 3);
    buf.set(echoRequest, 3);
    const view = new IcmpView().reset(buf, 3, echoRequest.length);
    emitEchoReplyInPlace(view);
    expect(buf.subarray(3, 3 + echoReply.length)).toEqual(echoReply);
    expect(buf.subarray(0, 3)).toEqual(poisoned(3));
    expect(buf.subarray(3 + echoReply.length)).toEqual(poisoned(3));
  });

  it('echo replies to random requests match a full recompute', () => {
    fc.assert(
      fc.property(fc.nat(0xffff), fc.nat(0xffff), fc.uint8Array({ maxLength: 64 }), (id, seq, data) => {
        const request = new Uint8Array([8, 0, 0, 0, id >>> 8, id & 0xff, seq >>> 8, seq & 0xff, ...data]);
        const check = referenceChecksum(request);
        request.set([check >>> 8, check & 0xff], 2);
        const reply = Uint8Array.from(request);
        reply[0] = 0;
        const replyCheck = checksumWithFieldZero(reply, 2);
        reply.set([replyCheck >>> 8, replyCheck & 0xff], 2);
        emitEchoReplyInPlace(new IcmpView().reset(request, 0, request.length));
        expect(request).toEqual(reply);
      }),
    );
  });

  it('builds fragmentation needed, port unreachable and time exceeded into poisoned buffers', () => {
    const cases: [(buf: Uint8Array, off: number) => number, Uint8Array][] = [
      [(buf, off) => emitFragNeeded(buf, off, 1400, original, 0, original.length), fragNeeded],
      [(buf, off) => emitPortUnreachable(buf, off, original, 0, original.length), portUnreachable],
      [(buf, off) => emitTimeExceeded(buf, off, original, 0, original.length), timeExceeded],
    ];
    for (const [emit, expected] of cases) {
      const buf = poisoned(7 + 36 + 2);
      expect(emit(buf, 7)).toBe(7 + 36);
      expect(buf.subarray(7, 43)).toEqual(expected);
      expect(buf.subarray(0, 7)).toEqual(poisoned(7));
      expect(buf.subarray(43)).toEqual(poisoned(2));
    }
  });

  it('builds the error over the frame that caused it, where the quote overlaps the original', () => {
    // Ethernet (14) + original datagram at 14; the reply's new IPv4 header goes at 14 and its ICMP at 34,
    // so the quote moves 28 bytes up. A 20-byte header + 8 just fits beside itself; with IP options (a
    // 32-byte quote) the source and destination overlap, and only a backwards copy keeps the quote intact.
    const buf = poisoned(14 + 20 + 8 + 32);
    buf.set(original, 14);
    expect(emitPortUnreachable(buf, 34, buf, 14, original.length)).toBe(34 + 36);
    expect(buf.subarray(34, 70)).toEqual(portUnreachable);

    buf.set(withOptions, 14);
    expect(emitPortUnreachable(buf, 34, buf, 14, withOptions.length)).toBe(34 + 40);
    const expected = new Uint8Array([...hex('03 03 00 00  00 00 00 00'), ...withOptions.subarray(0, 32)]);
    const check = referenceChecksum(expected);
    expected.set([check >>> 8, check & 0xff], 2);
    expect(buf.subarray(34, 74)).toEqual(expected);
  });

  it('builds the error below the original, copying forwards', () => {
    const buf = poisoned(36 + original.length);
    buf.set(original, 36 - 4);
    expect(emitTimeExceeded(buf, 0, buf, 32, original.length)).toBe(36);
    expect(buf.subarray(0, 36)).toEqual(timeExceeded);
  });

  it('quotes the whole datagram when it is shorter than header + 8', () => {
    const short = original.slice(0, 24);
    const buf = poisoned(8 + 24 + 1);
    expect(emitIcmpError(buf, 0, 3, 1, 0, short, 0, short.length)).toBe(32);
    expect(buf.subarray(0, 2)).toEqual(hex('03 01'));
    expect(buf.subarray(4, 32)).toEqual(new Uint8Array([0, 0, 0, 0, ...short]));
    expect(storedChecksum(buf, 2)).toBe(checksumWithFieldZero(buf.subarray(0, 32), 2));
    expect(buf[32]).toBe(0xa5);
  });

  it('quotes header options and exactly 8 bytes after them', () => {
    const buf = poisoned(8 + 32 + 1);
    expect(emitPortUnreachable(buf, 0, withOptions, 0, withOptions.length)).toBe(40);
    expect(buf.subarray(8, 40)).toEqual(withOptions.subarray(0, 32));
    expect(buf[40]).toBe(0xa5);
  });
});

describe('ICMP repr', () => {
  it('emits an echo request into a poisoned buffer', () => {
    const repr = { type: IcmpType.echoRequest, code: 0, id: 0x1c2e, seq: 1, payload: hex('61 62 63 64 65 66 67 68') };
    const buf = poisoned(icmpReprLen(repr) + 2);
    expect(emitIcmp(repr, buf, 0)).toBe(16);
    expect(buf).toEqual(new Uint8Array([...echoRequest, 0xa5, 0xa5]));
  });

  it('emits fragmentation needed with its MTU at an offset', () => {
    const repr = { type: 3, code: 4, mtu: 1400, payload: quote };
    const buf = poisoned(5 + 36);
    expect(emitIcmp(repr, buf, 5)).toBe(41);
    expect(buf.subarray(5)).toEqual(fragNeeded);
  });

  it('round-trips through the view', () => {
    const view = new IcmpView();
    expect(parseIcmp(view.reset(echoReply, 0, echoReply.length))).toEqual({
      type: 0,
      code: 0,
      id: 0x1c2e,
      seq: 1,
      payload: hex('61 62 63 64 65 66 67 68'),
    });
    expect(parseIcmp(view.reset(fragNeeded, 0, fragNeeded.length))).toEqual({
      type: 3,
      code: 4,
      mtu: 1400,
      payload: quote,
    });
    expect(parseIcmp(view.reset(timeExceeded, 0, timeExceeded.length))).toEqual({
      type: 11,
      code: 0,
      payload: quote,
    });
  });
});
