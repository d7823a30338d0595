import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { encapIpip, IPIP_HEADER_LEN, type IpipOuter, IpipView } from '../../src/wire/ipip.js';
import { emitIpv4, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { Reason } from '../../src/wire/reason.js';
import { hex, poisoned } from '../helpers/bytes.js';

// The classic 115-byte UDP packet 192.168.0.1 -> 192.168.0.199 (header checksum 0xb861) as the inner packet.
const innerHeader = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');
const INNER_TOTAL = 0x73;

function innerPacket(): Uint8Array {
  const packet = new Uint8Array(INNER_TOTAL);
  packet.set(innerHeader, 0);
  for (let i = 20; i < INNER_TOTAL; i++) packet[i] = 0xff - i;
  return packet;
}

const ETH = 14;
const INNER_OFF = ETH + IPIP_HEADER_LEN;

/** A slot as the datapath holds it: poisoned headroom, then the inner packet at INNER_OFF, then poison. */
function slotWithInner(inner: Uint8Array = innerPacket(), tail = 4): Uint8Array {
  const buf = poisoned(INNER_OFF + inner.length + tail);
  buf.set(inner, INNER_OFF);
  return buf;
}

const directorToRealServer: IpipOuter = {
  src: parseIpv4Address('10.0.0.1')!,
  dst: parseIpv4Address('10.0.0.2')!,
  ttl: 64,
  tos: 0,
  df: true,
  id: 0x1234,
};

describe('encapIpip', () => {
  it('writes the outer header in the headroom and leaves everything else alone', () => {
    const buf = slotWithInner();
    expect(encapIpip(buf, INNER_OFF, directorToRealServer)).toBe(ETH);
    // By hand: total 115 + 20 = 0x87; 4500+0087+1234+4000+4004+0a00+0001+0a00+0002 = 0xebc2, inverted 0x143d.
    expect(buf.subarray(ETH, INNER_OFF)).toEqual(hex('45 00 00 87 12 34 40 00 40 04 14 3d 0a 00 00 01 0a 00 00 02'));
    expect(buf.subarray(0, ETH)).toEqual(poisoned(ETH));
    expect(buf.subarray(INNER_OFF, INNER_OFF + INNER_TOTAL)).toEqual(innerPacket());
    expect(buf.subarray(INNER_OFF + INNER_TOTAL)).toEqual(poisoned(4));
  });

  it('writes TOS, TTL, id and a clear DF as given', () => {
    const buf = slotWithInner();
    expect(encapIpip(buf, INNER_OFF, { ...directorToRealServer, tos: 0xb8, ttl: 1, df: false, id: 0xffff })).toBe(ETH);
    // By hand: 45b8+0087+ffff+0000+0104+0a00+0001+0a00+0002 = 0x15b45, folded 0x5b46, inverted 0xa4b9.
    expect(buf.subarray(ETH, INNER_OFF)).toEqual(hex('45 b8 00 87 ff ff 00 00 01 04 a4 b9 0a 00 00 01 0a 00 00 02'));
  });

  it('encapsulates at the very start of the buffer', () => {
    const buf = new Uint8Array(IPIP_HEADER_LEN + INNER_TOTAL);
    buf.set(innerPacket(), IPIP_HEADER_LEN);
    expect(encapIpip(buf, IPIP_HEADER_LEN, directorToRealServer)).toBe(0);
    expect(buf.subarray(0, 4)).toEqual(hex('45 00 00 87'));
  });

  it('returns -1 without writing when there is no headroom or the result would pass 65535 bytes', () => {
    for (let innerOff = 0; innerOff < IPIP_HEADER_LEN; innerOff++) {
      const buf = poisoned(innerOff + INNER_TOTAL);
      buf.set(innerPacket(), innerOff);
      const before = Uint8Array.from(buf);
      expect(encapIpip(buf, innerOff, directorToRealServer)).toBe(-1);
      expect(buf).toEqual(before);
    }
    const big = new Uint8Array(INNER_OFF + 20);
    big.set(hex('45 00 ff ec'), INNER_OFF); // inner total 65516: outer would be 65536
    expect(encapIpip(big, INNER_OFF, directorToRealServer)).toBe(-1);
    expect(big.subarray(0, INNER_OFF)).toEqual(new Uint8Array(INNER_OFF));
    big.set(hex('45 00 ff eb'), INNER_OFF); // inner total 65515: outer is exactly 65535
    expect(encapIpip(big, INNER_OFF, directorToRealServer)).toBe(ETH);
    expect(big.subarray(ETH, ETH + 4)).toEqual(hex('45 00 ff ff'));
  });
});

describe('IpipView', () => {
  const view = new IpipView();

  it('finds the inner packet of an encapsulated one, with Ethernet padding after it', () => {
    const buf = slotWithInner(innerPacket(), 9);
    const outerOff = encapIpip(buf, INNER_OFF, directorToRealServer);
    expect(view.reset(buf, outerOff, buf.length - outerOff).checkLen()).toBe(Reason.ok);
    expect(view.outer.protocol).toBe(IpProto.ipip);
    expect(view.outer.verifyChecksum()).toBe(true);
    expect(view.outer.src).toBe(directorToRealServer.src);
    expect(view.outer.dst).toBe(directorToRealServer.dst);
    expect(view.innerOff).toBe(INNER_OFF);
    expect(view.innerLen).toBe(INNER_TOTAL);
    expect(view.inner.verifyChecksum()).toBe(true);
    expect(view.inner.src).toBe(parseIpv4Address('192.168.0.1'));
    expect(view.inner.dst).toBe(parseIpv4Address('192.168.0.199'));
    expect(view.inner.payloadOff).toBe(INNER_OFF + 20);
  });

  it('reports the outer header reasons first', () => {
    const buf = slotWithInner();
    encapIpip(buf, INNER_OFF, directorToRealServer);
    for (let len = 0; len < IPIP_HEADER_LEN + INNER_TOTAL; len++) {
      const expected = len < 20 ? Reason.ipv4Truncated : Reason.ipv4BadTotalLen;
      expect(view.reset(buf, ETH, len).checkLen()).toBe(expected);
    }
    buf[ETH] = 0x65;
    expect(view.reset(buf, ETH, buf.length - ETH).checkLen()).toBe(Reason.ipv4BadVersion);
  });

  it('refuses an outer protocol other than IPIP, and outer fragments', () => {
    const cases: [number[], number][] = [
      [[0x40, 0x11], Reason.ipipBadProtocol], // TTL 64, UDP
      [[0x20, 0x00], Reason.ipipFragment], // MF: a first fragment
      [[0x00, 0x01], Reason.ipipFragment], // offset 8: a later fragment
    ];
    for (const [bytes, reason] of cases) {
      const buf = slotWithInner();
      encapIpip(buf, INNER_OFF, directorToRealServer);
      buf.set(bytes, ETH + (reason === Reason.ipipBadProtocol ? 8 : 6));
      expect(view.reset(buf, ETH, buf.length - ETH).checkLen()).toBe(reason);
    }
  });

  /** An outer IPIP header whose total length covers exactly `inner`, whatever its contents. */
  function outerAround(inner: Uint8Array): Uint8Array {
    const outer: Ipv4Repr = {
      tos: 0,
      id: 1,
      dontFrag: true,
      moreFrags: false,
      fragOffset: 0,
      ttl: 64,
      protocol: IpProto.ipip,
      src: directorToRealServer.src,
      dst: directorToRealServer.dst,
      payloadLen: inner.length,
    };
    const buf = new Uint8Array(20 + inner.length);
    emitIpv4(outer, buf, 0);
    buf.set(inner, 20);
    return buf;
  }

  it('returns ipipTruncated when the inner header does not fit in the outer payload', () => {
    for (let innerLen = 0; innerLen < 20; innerLen++) {
      const buf = outerAround(innerPacket().subarray(0, innerLen));
      expect(view.reset(buf, 0, buf.length).checkLen()).toBe(Reason.ipipTruncated);
    }
    // An inner header with 4 bytes of options (IHL 6) cut anywhere in its last word.
    for (let innerLen = 20; innerLen < 24; innerLen++) {
      const inner = innerPacket().subarray(0, innerLen);
      inner[0] = 0x46;
      const buf = outerAround(inner);
      expect(view.reset(buf, 0, buf.length).checkLen()).toBe(Reason.ipipTruncated);
    }
  });

  it('passes on the inner header reasons', () => {
    const cases: [string, number, number, number][] = [
      ['inner version 6', 0, 0x65, Reason.ipv4BadVersion],
      ['inner IHL 4', 0, 0x44, Reason.ipv4BadIhl],
      ['inner total 19', 3, 19, Reason.ipv4BadTotalLen],
      ['inner total past the outer payload', 3, INNER_TOTAL + 1, Reason.ipv4BadTotalLen],
    ];
    for (const [name, at, value, reason] of cases) {
      const inner = innerPacket();
      inner[at] = value;
      const buf = outerAround(inner);
      expect([name, view.reset(buf, 0, buf.length).checkLen()]).toEqual([name, reason]);
    }
  });
});

describe('IPIP round trip (property)', () => {
  it('encapsulates any valid inner packet so that the view finds it unchanged', () => {
    const view = new IpipView();
    fc.assert(
      fc.property(
        fc.record({
          src: fc.nat({ max: 0xffffffff }),
          dst: fc.nat({ max: 0xffffffff }),
          ttl: fc.nat({ max: 0xff }),
          tos: fc.nat({ max: 0xff }),
          df: fc.boolean(),
          id: fc.nat({ max: 0xffff }),
        }),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.integer({ min: 20, max: 40 }),
        (outer, payload, innerOff) => {
          const innerRepr: Ipv4Repr = {
            tos: 0,
            id: 7,
            dontFrag: false,
            moreFrags: false,
            fragOffset: 0,
            ttl: 9,
            protocol: IpProto.tcp,
            src: 0x0a000001,
            dst: 0x0a0000fe,
            payloadLen: payload.length,
          };
          const buf = poisoned(innerOff + 20 + payload.length);
          emitIpv4(innerRepr, buf, innerOff);
          buf.set(payload, innerOff + 20);
          const inner = buf.slice(innerOff);
          const outerOff = encapIpip(buf, innerOff, outer);
          expect(outerOff).toBe(innerOff - 20);
          expect(view.reset(buf, outerOff, buf.length - outerOff).checkLen()).toBe(Reason.ok);
          expect(view.outer.verifyChecksum()).toBe(true);
          expect([view.outer.src, view.outer.dst, view.outer.ttl, view.outer.tos]).toEqual([
            outer.src,
            outer.dst,
            outer.ttl,
            outer.tos,
          ]);
          expect([view.outer.dontFrag, view.outer.id, view.outer.isFragment]).toEqual([outer.df, outer.id, false]);
          expect(view.outer.totalLength).toBe(inner.length + 20);
          expect(buf.subarray(view.innerOff, view.innerOff + view.innerLen)).toEqual(inner);
        },
      ),
      { numRuns: 500 },
    );
  });
});
