import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { Reason } from '../../src/wire/reason.js';
import { emitTcp, parseTcp, TcpFlag, TcpView, tcpReprLen } from '../../src/wire/tcp.js';
import { hex, poisoned } from '../helpers/bytes.js';
import { pseudoHeaderAndSegment, referenceChecksum } from '../helpers/rfc1071.js';

/** The TCP checksum of `segment` as RFC 9293 3.1 defines it: pseudo-header, then the segment with 0 in its field. */
function referenceTcpChecksum(src: number, dst: number, segment: Uint8Array): number {
  return referenceChecksum(pseudoHeaderAndSegment(src, dst, 6, segment, 16));
}

const client = parseIpv4Address('192.168.1.10')!;
const vip = parseIpv4Address('10.0.0.100')!;

// A Linux SYN, 192.168.1.10:51234 -> 10.0.0.100:80: data offset 10 (40 bytes), options MSS 1460,
// SACK permitted, timestamps (TSval 2000000, TSecr 0), NOP, window scale 7.
const syn = hex(`
  c8 22 00 50  9d 3a 7c 01  00 00 00 00  a0 02 fa f0  1a ac 00 00
  02 04 05 b4  04 02 08 0a  00 1e 84 80  00 00 00 00  01 03 03 07`);

// 10.0.0.100:80 -> 192.168.1.10:51234, PSH|ACK, no options, 5 bytes of data ("hello": an odd length).
const data = hex(`
  00 50 c8 22  11 22 33 44  9d 3a 7c 02  50 18 01 f6  77 d3 00 00
  68 65 6c 6c 6f`);

describe('TcpView', () => {
  const view = new TcpView();

  it('agrees with the reference checksum on its golden segments', () => {
    expect(referenceTcpChecksum(client, vip, syn)).toBe(0x1aac);
    expect(referenceTcpChecksum(vip, client, data)).toBe(0x77d3);
  });

  it('reads a SYN with options', () => {
    expect(view.reset(syn, 0, syn.length).checkLen()).toBe(Reason.ok);
    expect(view.srcPort).toBe(51234);
    expect(view.dstPort).toBe(80);
    expect(view.seq).toBe(0x9d3a7c01);
    expect(view.ack).toBe(0);
    expect(view.headerLen).toBe(40);
    expect(view.flags).toBe(TcpFlag.syn);
    expect(view.syn).toBe(true);
    expect(view.ackFlag).toBe(false);
    expect(view.fin).toBe(false);
    expect(view.rst).toBe(false);
    expect(view.window).toBe(64240);
    expect(view.checksum).toBe(0x1aac);
    expect(view.urgent).toBe(0);
    expect(view.optionsOff).toBe(20);
    expect(view.optionsLen).toBe(20);
    expect(view.payloadOff).toBe(40);
    expect(view.payloadLen).toBe(0);
    expect(view.verifyChecksum(client, vip, syn.length)).toBe(true);
  });

  it('reads a data segment, honouring the offset it is bound to', () => {
    const buf = poisoned(34 + data.length + 6);
    buf.set(data, 34);
    expect(view.reset(buf, 34, data.length).checkLen()).toBe(Reason.ok);
    expect(view.flags).toBe(TcpFlag.psh | TcpFlag.ack);
    expect(view.ackFlag).toBe(true);
    expect(view.ack).toBe(0x9d3a7c02);
    expect(view.window).toBe(502);
    expect(view.headerLen).toBe(20);
    expect(view.payloadOff).toBe(54);
    expect(view.payloadLen).toBe(5);
    expect(view.verifyChecksum(vip, client, data.length)).toBe(true);
    expect(view.verifyChecksum(client, vip, data.length)).toBe(true); // swapping src/dst keeps the sum
    expect(view.verifyChecksum(vip, client + 1, data.length)).toBe(false);
  });

  it('reads every flag bit as its named constant', () => {
    const names = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const;
    names.forEach((name, bit) => {
      expect(TcpFlag[name]).toBe(1 << bit);
    });
    const buf = Uint8Array.from(data);
    view.reset(buf, 0, buf.length);
    view.flags = TcpFlag.cwr | TcpFlag.ece | TcpFlag.fin;
    expect(buf[13]).toBe(0xc1);
    expect(view.fin).toBe(true);
    expect(view.flags).toBe(0xc1);
  });

  it('fills the checksum in place, ignoring what the field held', () => {
    const buf = Uint8Array.from(syn);
    buf[16] = 0xa5;
    buf[17] = 0xa5;
    view.reset(buf, 0, buf.length);
    expect(view.verifyChecksum(client, vip, buf.length)).toBe(false);
    view.fillChecksum(client, vip, buf.length);
    expect(buf).toEqual(syn);
  });

  it('detects any single flipped bit', () => {
    for (let bit = 0; bit < data.length * 8; bit++) {
      const buf = Uint8Array.from(data);
      buf[bit >>> 3] = (buf[bit >>> 3] as number) ^ (0x80 >>> (bit & 7));
      expect(view.reset(buf, 0, buf.length).verifyChecksum(vip, client, buf.length)).toBe(false);
    }
  });

  it('returns tcpTruncated for every length below 20, without throwing', () => {
    for (let len = 0; len < 20; len++) {
      expect(view.reset(syn, 0, len).checkLen()).toBe(Reason.tcpTruncated);
    }
  });

  it('returns tcpBadDataOffset for an offset below 5 or a header past the segment', () => {
    const buf = Uint8Array.from(syn);
    view.reset(buf, 0, buf.length);
    for (let words = 0; words < 5; words++) {
      buf[12] = words << 4;
      expect(view.checkLen()).toBe(Reason.tcpBadDataOffset);
    }
    buf[12] = 0xa0;
    for (let len = 20; len < 40; len++) {
      expect(view.reset(buf, 0, len).checkLen()).toBe(Reason.tcpBadDataOffset);
    }
    expect(view.reset(buf, 0, 40).checkLen()).toBe(Reason.ok);
    buf[12] = 0xf0;
    expect(view.reset(buf, 0, 40).checkLen()).toBe(Reason.tcpBadDataOffset);
  });

  it('never throws on random bytes, and accepts only headers that fit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(80), (bytes, cut) => {
        const len = Math.min(cut, bytes.length);
        const code = view.reset(bytes, 0, len).checkLen();
        if (code === Reason.ok) {
          expect(view.headerLen).toBeGreaterThanOrEqual(20);
          expect(view.headerLen).toBeLessThanOrEqual(len);
          expect(view.payloadLen).toBeGreaterThanOrEqual(0);
        } else {
          expect([Reason.tcpTruncated, Reason.tcpBadDataOffset]).toContain(code);
        }
      }),
    );
  });

  it('rewrites ports and the pseudo-header address with the checksum kept right (a DNAT by hand)', () => {
    const rip = parseIpv4Address('172.16.0.2')!;
    const buf = Uint8Array.from(syn);
    view.reset(buf, 0, buf.length);
    view.setDstPort(8080);
    view.adjustForAddressChange(vip, rip);
    const expected = Uint8Array.from(syn);
    expected[2] = 0x1f;
    expected[3] = 0x90;
    const check = referenceTcpChecksum(client, rip, expected);
    expected[16] = check >>> 8;
    expected[17] = check & 0xff;
    expect(buf).toEqual(expected);
    expect(view.verifyChecksum(client, rip, buf.length)).toBe(true);
  });

  it('writes the plain fields', () => {
    const buf = Uint8Array.from(syn);
    view.reset(buf, 0, buf.length);
    view.seq = 0xfffffffe;
    view.ack = 0x80000001;
    view.window = 0x1234;
    view.urgent = 0xabcd;
    view.checksum = 0x0102;
    view.headerLen = 24;
    expect(buf.subarray(0, 20)).toEqual(hex('c8 22 00 50  ff ff ff fe  80 00 00 01  60 02 12 34  01 02 ab cd'));
  });
});

describe('TCP incremental checksum properties', () => {
  const segment = fc.record({
    src: fc.nat(0xffffffff),
    dst: fc.nat(0xffffffff),
    srcPort: fc.nat(0xffff),
    dstPort: fc.nat(0xffff),
    seq: fc.nat(0xffffffff),
    flags: fc.nat(0xff),
    optionWords: fc.nat(10),
    payload: fc.uint8Array({ maxLength: 64 }),
  });

  type Segment = typeof segment extends fc.Arbitrary<infer T> ? T : never;

  /** Builds a segment byte by byte with the reference checksum, at offset 3 of a poisoned buffer. */
  function build(s: Segment): { buf: Uint8Array; len: number } {
    const headerLen = 20 + s.optionWords * 4;
    const len = headerLen + s.payload.length;
    const seg = new Uint8Array(len);
    seg[0] = s.srcPort >>> 8;
    seg[1] = s.srcPort & 0xff;
    seg[2] = s.dstPort >>> 8;
    seg[3] = s.dstPort & 0xff;
    seg[4] = s.seq >>> 24;
    seg[5] = (s.seq >>> 16) & 0xff;
    seg[12] = (headerLen / 4) << 4;
    seg[13] = s.flags;
    seg[14] = 0xff;
    for (let i = 20; i < headerLen; i++) seg[i] = 1; // NOP options
    seg.set(s.payload, headerLen);
    const check = referenceTcpChecksum(s.src, s.dst, seg);
    seg[16] = check >>> 8;
    seg[17] = check & 0xff;
    const buf = poisoned(len + 3);
    buf.set(seg, 3);
    return { buf, len };
  }

  it('matches a full recompute after random port and address rewrites', () => {
    fc.assert(
      fc.property(
        segment,
        fc.nat(0xffff),
        fc.nat(0xffff),
        fc.nat(0xffffffff),
        fc.nat(0xffffffff),
        (s, newSrcPort, newDstPort, newSrc, newDst) => {
          const { buf, len } = build(s);
          const view = new TcpView().reset(buf, 3, len);
          expect(view.checkLen()).toBe(Reason.ok);
          view.setSrcPort(newSrcPort);
          view.setDstPort(newDstPort);
          view.adjustForAddressChange(s.src, newSrc);
          view.adjustForAddressChange(s.dst, newDst);
          const after = buf.slice(3, 3 + len);
          expect(view.srcPort).toBe(newSrcPort);
          expect(view.dstPort).toBe(newDstPort);
          expect(view.checksum).toBe(referenceTcpChecksum(newSrc, newDst, after));
          expect(view.verifyChecksum(newSrc, newDst, len)).toBe(true);
        },
      ),
    );
  });

  it('fillChecksum matches the reference for random segments', () => {
    fc.assert(
      fc.property(segment, (s) => {
        const { buf, len } = build(s);
        const expected = buf.slice();
        buf[3 + 16] = 0xa5;
        const view = new TcpView().reset(buf, 3, len);
        view.fillChecksum(s.src, s.dst, len);
        expect(buf).toEqual(expected);
      }),
    );
  });
});

describe('TCP repr', () => {
  const synRepr = {
    srcPort: 51234,
    dstPort: 80,
    seq: 0x9d3a7c01,
    ack: 0,
    flags: TcpFlag.syn,
    window: 64240,
    urgent: 0,
    options: hex('02 04 05 b4  04 02 08 0a  00 1e 84 80  00 00 00 00  01 03 03 07'),
    payload: new Uint8Array(0),
  };

  it('emits every byte of a SYN into a poisoned buffer', () => {
    const buf = poisoned(tcpReprLen(synRepr) + 2);
    expect(emitTcp(synRepr, buf, 0, client, vip)).toBe(40);
    const expected = new Uint8Array(42).fill(0xa5);
    expected.set(syn);
    expect(buf).toEqual(expected);
  });

  it('emits a data segment at an offset', () => {
    const repr = {
      srcPort: 80,
      dstPort: 51234,
      seq: 0x11223344,
      ack: 0x9d3a7c02,
      flags: TcpFlag.psh | TcpFlag.ack,
      window: 502,
      urgent: 0,
      payload: new TextEncoder().encode('hello'),
    };
    const buf = poisoned(5 + tcpReprLen(repr) + 1);
    expect(emitTcp(repr, buf, 5, vip, client)).toBe(5 + 25);
    expect(buf.subarray(0, 5)).toEqual(poisoned(5));
    expect(buf.subarray(5, 30)).toEqual(data);
    expect(buf[30]).toBe(0xa5);
  });

  it('pads options to a whole word with zeros', () => {
    const repr = { ...synRepr, options: hex('02 04 05 b4 01 01'), payload: hex('aa') };
    expect(tcpReprLen(repr)).toBe(29);
    const buf = poisoned(29);
    emitTcp(repr, buf, 0, client, vip);
    expect(buf[12]).toBe(0x70);
    expect(buf.subarray(20, 29)).toEqual(hex('02 04 05 b4 01 01 00 00 aa'));
    expect(referenceTcpChecksum(client, vip, buf)).toBe(((buf[16] as number) << 8) | (buf[17] as number));
  });

  it('round-trips through the view', () => {
    const view = new TcpView().reset(syn, 0, syn.length);
    expect(view.checkLen()).toBe(Reason.ok);
    expect(parseTcp(view)).toEqual(synRepr);
    const dataView = new TcpView().reset(data, 0, data.length);
    expect(dataView.checkLen()).toBe(Reason.ok);
    const repr = parseTcp(dataView);
    expect(repr.options).toBeUndefined();
    expect(repr.payload).toEqual(hex('68 65 6c 6c 6f'));
  });
});
