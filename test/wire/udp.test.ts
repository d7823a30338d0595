import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { Reason } from '../../src/wire/reason.js';
import { emitUdp, parseUdp, UdpView, udpReprLen } from '../../src/wire/udp.js';
import { hex, poisoned } from '../helpers/bytes.js';
import { pseudoHeaderAndSegment, referenceChecksum, referenceSum } from '../helpers/rfc1071.js';

/** The UDP checksum as transmitted: a computed 0 goes on the wire as 0xffff (RFC 768). */
function referenceUdpChecksum(src: number, dst: number, datagram: Uint8Array): number {
  const check = referenceChecksum(pseudoHeaderAndSegment(src, dst, 17, datagram, 6));
  return check === 0 ? 0xffff : check;
}

const client = parseIpv4Address('10.0.0.1')!;
const vip = parseIpv4Address('10.0.0.100')!;
const rip = parseIpv4Address('172.16.0.2')!;

// A DNS query for "www" A/IN, 10.0.0.1:5353 -> 10.0.0.100:53, length 29 (an odd datagram).
const query = hex(`
  14 e9 00 35  00 1d 46 0e
  12 34 01 00  00 01 00 00  00 00 00 00  03 77 77 77  00 00 01 00  01`);

function setChecksum(buf: Uint8Array, off: number, check: number): void {
  buf[off + 6] = check >>> 8;
  buf[off + 7] = check & 0xff;
}

/**
 * A datagram whose checksum really computes to 0: the last payload word is solved so that the whole sum
 * comes to 0xffff (one's-complement negative zero), so its complement is 0 and it must go out as 0xffff.
 */
function datagramComputingToZero(src: number, dst: number): Uint8Array {
  const datagram = hex('30 39 00 35  00 0c 00 00  00 00 00 00');
  const partial = referenceSum(pseudoHeaderAndSegment(src, dst, 17, datagram, 6));
  const word = 0xffff - partial;
  datagram[10] = word >>> 8;
  datagram[11] = word & 0xff;
  expect(referenceSum(pseudoHeaderAndSegment(src, dst, 17, datagram, 6))).toBe(0xffff);
  return datagram;
}

describe('UdpView', () => {
  const view = new UdpView();

  it('agrees with the reference checksum on its golden datagram', () => {
    expect(referenceUdpChecksum(client, vip, query)).toBe(0x460e);
  });

  it('reads the header', () => {
    expect(view.reset(query, 0, query.length).checkLen()).toBe(Reason.ok);
    expect(view.srcPort).toBe(5353);
    expect(view.dstPort).toBe(53);
    expect(view.length).toBe(29);
    expect(view.checksum).toBe(0x460e);
    expect(view.payloadOff).toBe(8);
    expect(view.payloadLen).toBe(21);
    expect(view.verifyChecksum(client, vip)).toBe(true);
    expect(view.verifyChecksum(client, rip)).toBe(false);
  });

  it('honours the offset it is bound to, and ignores Ethernet padding past the length field', () => {
    const buf = poisoned(34 + query.length + 17);
    buf.set(query, 34);
    expect(view.reset(buf, 34, query.length + 17).checkLen()).toBe(Reason.ok);
    expect(view.payloadOff).toBe(42);
    expect(view.payloadLen).toBe(21);
    expect(view.verifyChecksum(client, vip)).toBe(true);
  });

  it('treats a checksum of 0 as absent', () => {
    const buf = Uint8Array.from(query);
    setChecksum(buf, 0, 0);
    expect(view.reset(buf, 0, buf.length).verifyChecksum(client, rip)).toBe(true);
  });

  it('detects any single flipped bit outside the checksum field', () => {
    for (let bit = 0; bit < query.length * 8; bit++) {
      const byte = bit >>> 3;
      if (byte === 6 || byte === 7) continue;
      const buf = Uint8Array.from(query);
      buf[byte] = (buf[byte] as number) ^ (0x80 >>> (bit & 7));
      // A flipped length bit may point past the bytes or below the header; the checksum then covers less.
      if (view.reset(buf, 0, buf.length).checkLen() !== Reason.ok) continue;
      expect(view.verifyChecksum(client, vip)).toBe(false);
    }
  });

  it('fills the checksum in place', () => {
    const buf = Uint8Array.from(query);
    setChecksum(buf, 0, 0xa5a5);
    view.reset(buf, 0, buf.length).fillChecksum(client, vip);
    expect(buf).toEqual(query);
  });

  it('writes a computed 0 as 0xffff, and accepts it', () => {
    const buf = datagramComputingToZero(client, vip);
    view.reset(buf, 0, buf.length);
    expect(view.checkLen()).toBe(Reason.ok);
    view.fillChecksum(client, vip);
    expect(view.checksum).toBe(0xffff);
    expect(view.verifyChecksum(client, vip)).toBe(true);
  });

  it('returns udpTruncated below 8 bytes and udpBadLength for a bad length field, without throwing', () => {
    for (let len = 0; len < 8; len++) {
      expect(view.reset(query, 0, len).checkLen()).toBe(Reason.udpTruncated);
    }
    const buf = Uint8Array.from(query);
    view.reset(buf, 0, buf.length);
    for (let length = 0; length < 8; length++) {
      view.length = length;
      expect(view.checkLen()).toBe(Reason.udpBadLength);
    }
    view.length = 8;
    expect(view.checkLen()).toBe(Reason.ok);
    view.length = 29;
    for (let len = 8; len < 29; len++) {
      expect(view.reset(buf, 0, len).checkLen()).toBe(Reason.udpBadLength);
    }
    view.length = 0xffff;
    expect(view.reset(buf, 0, buf.length).checkLen()).toBe(Reason.udpBadLength);
  });

  it('never throws on random bytes, and accepts only lengths that fit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(40), (bytes, cut) => {
        const len = Math.min(cut, bytes.length);
        const code = view.reset(bytes, 0, len).checkLen();
        if (code === Reason.ok) {
          expect(view.length).toBeGreaterThanOrEqual(8);
          expect(view.length).toBeLessThanOrEqual(len);
        } else {
          expect([Reason.udpTruncated, Reason.udpBadLength]).toContain(code);
        }
      }),
    );
  });

  it('rewrites ports and the pseudo-header address with the checksum kept right (a DNAT by hand)', () => {
    const buf = Uint8Array.from(query);
    view.reset(buf, 0, buf.length);
    view.setDstPort(5300);
    view.adjustForAddressChange(vip, rip);
    const expected = Uint8Array.from(query);
    expected[2] = 0x14;
    expected[3] = 0xb4;
    setChecksum(expected, 0, referenceUdpChecksum(client, rip, expected));
    expect(buf).toEqual(expected);
  });

  it('keeps a checksum of 0 through every rewrite', () => {
    const buf = Uint8Array.from(query);
    setChecksum(buf, 0, 0);
    view.reset(buf, 0, buf.length);
    view.setSrcPort(1);
    view.setDstPort(2);
    view.adjustForAddressChange(vip, rip);
    view.adjustForAddressChange(client, rip);
    expect(buf.subarray(0, 8)).toEqual(hex('00 01 00 02  00 1d 00 00'));
  });

  it('writes 0xffff when a port rewrite makes the checksum compute to 0', () => {
    const target = datagramComputingToZero(client, vip);
    // The same datagram with source port 0: rewriting the port back lands exactly on a sum of 0xffff.
    const buf = Uint8Array.from(target);
    buf[0] = 0;
    buf[1] = 0;
    setChecksum(buf, 0, referenceUdpChecksum(client, vip, buf));
    view.reset(buf, 0, buf.length).setSrcPort(0x3039);
    expect(view.checksum).toBe(0xffff);
    expect(buf.subarray(0, 2)).toEqual(hex('30 39'));
  });

  it('writes 0xffff when an address rewrite makes the checksum compute to 0', () => {
    const target = datagramComputingToZero(client, rip);
    const buf = Uint8Array.from(target);
    setChecksum(buf, 0, referenceUdpChecksum(client, vip, buf));
    view.reset(buf, 0, buf.length).adjustForAddressChange(vip, rip);
    expect(view.checksum).toBe(0xffff);
  });
});

describe('UDP incremental checksum properties', () => {
  const datagram = fc.record({
    src: fc.nat(0xffffffff),
    dst: fc.nat(0xffffffff),
    srcPort: fc.nat(0xffff),
    dstPort: fc.nat(0xffff),
    payload: fc.uint8Array({ maxLength: 64 }),
  });
  type Datagram = typeof datagram extends fc.Arbitrary<infer T> ? T : never;

  /** Builds a datagram byte by byte at offset 5 of a poisoned buffer, checksummed by the reference or not. */
  function build(d: Datagram, withChecksum: boolean): { buf: Uint8Array; len: number } {
    const len = 8 + d.payload.length;
    const bytes = new Uint8Array(len);
    bytes[0] = d.srcPort >>> 8;
    bytes[1] = d.srcPort & 0xff;
    bytes[2] = d.dstPort >>> 8;
    bytes[3] = d.dstPort & 0xff;
    bytes[4] = len >>> 8;
    bytes[5] = len & 0xff;
    bytes.set(d.payload, 8);
    if (withChecksum) setChecksum(bytes, 0, referenceUdpChecksum(d.src, d.dst, bytes));
    const buf = poisoned(len + 5);
    buf.set(bytes, 5);
    return { buf, len };
  }

  const rewrite = fc.tuple(fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(0xffffffff));

  it('matches a full recompute after random port and address rewrites', () => {
    fc.assert(
      fc.property(datagram, rewrite, (d, [newSrcPort, newDstPort, newSrc, newDst]) => {
        const { buf, len } = build(d, true);
        const view = new UdpView().reset(buf, 5, len);
        expect(view.checkLen()).toBe(Reason.ok);
        view.setSrcPort(newSrcPort);
        view.setDstPort(newDstPort);
        view.adjustForAddressChange(d.src, newSrc);
        view.adjustForAddressChange(d.dst, newDst);
        expect(view.checksum).toBe(referenceUdpChecksum(newSrc, newDst, buf.slice(5, 5 + len)));
        expect(view.verifyChecksum(newSrc, newDst)).toBe(true);
      }),
    );
  });

  it('keeps a checksum of 0 at 0 through random rewrites', () => {
    fc.assert(
      fc.property(datagram, rewrite, (d, [newSrcPort, newDstPort, newSrc, newDst]) => {
        const { buf, len } = build(d, false);
        const view = new UdpView().reset(buf, 5, len);
        view.setSrcPort(newSrcPort);
        view.setDstPort(newDstPort);
        view.adjustForAddressChange(d.src, newSrc);
        view.adjustForAddressChange(d.dst, newDst);
        expect(view.checksum).toBe(0);
        expect(view.srcPort).toBe(newSrcPort);
        expect(view.dstPort).toBe(newDstPort);
      }),
    );
  });

  it('fillChecksum matches the reference, never writing 0', () => {
    fc.assert(
      fc.property(datagram, (d) => {
        const { buf, len } = build(d, false);
        const view = new UdpView().reset(buf, 5, len);
        view.fillChecksum(d.src, d.dst);
        expect(view.checksum).toBe(referenceUdpChecksum(d.src, d.dst, buf.slice(5, 5 + len)));
        expect(view.checksum).not.toBe(0);
      }),
    );
  });
});

describe('UDP repr', () => {
  const repr = { srcPort: 5353, dstPort: 53, payload: query.slice(8) };

  it('emits every byte into a poisoned buffer', () => {
    const buf = poisoned(udpReprLen(repr) + 2);
    expect(emitUdp(repr, buf, 0, client, vip)).toBe(29);
    const expected = new Uint8Array(31).fill(0xa5);
    expected.set(query);
    expect(buf).toEqual(expected);
  });

  it('emits without a checksum at an offset', () => {
    const buf = poisoned(3 + 29);
    expect(emitUdp({ ...repr, noChecksum: true }, buf, 3, client, vip)).toBe(32);
    expect(buf.subarray(0, 11)).toEqual(hex('a5 a5 a5  14 e9 00 35  00 1d 00 00'));
  });

  it('round-trips through the view', () => {
    const view = new UdpView().reset(query, 0, query.length);
    expect(view.checkLen()).toBe(Reason.ok);
    expect(parseUdp(view)).toEqual(repr);
    const buf = new Uint8Array(29);
    emitUdp({ ...repr, noChecksum: true }, buf, 0, client, vip);
    expect(parseUdp(view.reset(buf, 0, buf.length))).toEqual({ ...repr, noChecksum: true });
  });
});
