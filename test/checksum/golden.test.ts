// Checksums worked out by hand (sums shown in the comments), for the JS helpers and the native addon alike.
import { describe, expect, it } from 'vitest';
import { loadNative, PartialResult } from '../../src/native.js';
import {
  csumReplace16,
  fold16,
  inetChecksum,
  ipv4HeaderChecksum,
  l4Checksum,
  pseudoHeaderSum,
} from '../../src/wire/checksum.js';
import { hex, poisoned } from '../helpers/bytes.js';

const native = loadNative();

// RFC 1071 section 3: 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2, inverted 220d.
const rfc1071 = hex('00 01 f2 03 f4 f5 f6 f7');

// The IPv4 header from Wikipedia's "IPv4 header checksum" article:
// 4500 + 0073 + 0000 + 4000 + 4011 + c0a8 + 0001 + c0a8 + 00c7 = 2479c, folded 479e, inverted b861.
const ipHeader = hex('45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7');

// UDP 10.0.0.1:1234 -> 10.0.0.2:80, payload "hi".
// Pseudo-header: 0a00 + 0001 + 0a00 + 0002 + 0011 + 000a = 141e.
// Header + payload: 04d2 + 0050 + 000a + 6869 = 6e95; total 81b3, inverted 7e4c.
const udpSrc = 0x0a000001;
const udpDst = 0x0a000002;
const udpSegment = hex('04 d2 00 50 00 0a 7e 4c 68 69');
// The same with payload e6b5 = ffff - (141e + 04d2 + 0050 + 000a): the sum is ffff, so the computed
// checksum is 0, which UDP must send as ffff (RFC 768).
const udpZeroSegment = hex('04 d2 00 50 00 0a ff ff e6 b5');

// TCP 192.168.0.1:12345 -> 192.168.0.2:80, SYN, window ffff, no payload.
// Pseudo-header: c0a8 + 0001 + c0a8 + 0002 + 0006 + 0014 = 1816d.
// Header: 3039 + 0050 + 0000 + 0001 + 0000 + 0000 + 5002 + ffff + 0000 + 0000 = 1808b.
// Total 301f8, folded 01fb, inverted fe04.
const tcpSegment = hex('30 39 00 50 00 00 00 01 00 00 00 00 50 02 ff ff fe 04 00 00');

// Ethernet + IPv4 (total length 30; header checksum: 4500 + 001e + 0000 + 4000 + 4011 + 0a00 + 0001 + 0a00
// + 0002 = d932, inverted 26cd) + the UDP segment above.
const ethIpUdp = hex(`
  02 00 00 00 00 02  02 00 00 00 00 01  08 00
  45 00 00 1e 00 00 40 00 40 11 26 cd 0a 00 00 01 0a 00 00 02
  04 d2 00 50 00 0a 7e 4c 68 69`);

describe('Internet checksum, golden values', () => {
  it('matches RFC 1071 section 3 in JS and C', () => {
    expect(fold16(0x2ddf0)).toBe(0xddf2);
    expect(inetChecksum(rfc1071, 0, 8)).toBe(0x220d);
    expect(native.checksum(rfc1071, 0, 8)).toBe(0x220d);
  });

  it('is independent of where the region starts, odd offsets included', () => {
    const buf = poisoned(3 + 8 + 5);
    buf.set(rfc1071, 3);
    expect(inetChecksum(buf, 3, 8)).toBe(0x220d);
    expect(native.checksum(buf, 3, 8)).toBe(0x220d);
    const view = buf.subarray(3, 11);
    expect(native.checksum(view, 0, 8)).toBe(0x220d);
  });

  it('pads an odd last byte with zero', () => {
    // 2ddf0 + aa00 = 387f0, folded 87f3, inverted 780c.
    const odd = hex('00 01 f2 03 f4 f5 f6 f7 aa');
    expect(inetChecksum(odd, 0, 9)).toBe(0x780c);
    expect(native.checksum(odd, 0, 9)).toBe(0x780c);
  });

  it('gives ffff for no data or zeros, and 0 for data that sums to ffff', () => {
    const zeros = new Uint8Array(6);
    expect(inetChecksum(zeros, 0, 0)).toBe(0xffff);
    expect(native.checksum(zeros, 0, 0)).toBe(0xffff);
    expect(inetChecksum(zeros, 0, 6)).toBe(0xffff);
    expect(native.checksum(zeros, 0, 6)).toBe(0xffff);
    const ones = hex('ff ff ff ff');
    expect(inetChecksum(ones, 0, 4)).toBe(0);
    expect(native.checksum(ones, 0, 4)).toBe(0);
  });

  it('folds with end-around carry, also above 2^32', () => {
    expect(fold16(0)).toBe(0);
    expect(fold16(0xffff)).toBe(0xffff);
    expect(fold16(0x10000)).toBe(1);
    expect(fold16(0x1fffe)).toBe(0xffff);
    expect(fold16(0xffffffff)).toBe(0xffff);
    // 2^32 = 65536^2 is 1 modulo ffff; 2^53 - 1 = 2^48 * 31 + (2^48 - 1), and 2^48 - 1 is 0 modulo ffff,
    // 2^48 is 1, so the fold is 31.
    expect(fold16(2 ** 32)).toBe(1);
    expect(fold16(2 ** 53 - 1)).toBe(31);
  });

  it('computes the IPv4 header checksum as if its field were zero', () => {
    expect(ipv4HeaderChecksum(ipHeader, 0, 20)).toBe(0xb861);
    const scrambled = Uint8Array.from(ipHeader);
    scrambled[10] = 0x12;
    scrambled[11] = 0x34;
    expect(ipv4HeaderChecksum(scrambled, 0, 20)).toBe(0xb861);
    // A header with a correct checksum sums to ffff, so its full checksum is 0.
    expect(inetChecksum(ipHeader, 0, 20)).toBe(0);
    expect(native.checksum(ipHeader, 0, 20)).toBe(0);
  });

  it('computes UDP and TCP checksums with the pseudo-header', () => {
    expect(pseudoHeaderSum(udpSrc, udpDst, 17, 10)).toBe(0x141e);
    expect(pseudoHeaderSum(0xc0a80001, 0xc0a80002, 6, 20)).toBe(0x1816d);
    expect(l4Checksum(udpSegment, udpSrc, udpDst, 17, 0, 10, 6)).toBe(0x7e4c);
    expect(l4Checksum(tcpSegment, 0xc0a80001, 0xc0a80002, 6, 0, 20, 16)).toBe(0xfe04);
  });

  it('applies RFC 1624 eqn. 3 as in its section 4 example', () => {
    // The other header words sum to cd7a; m changes from 5555 to 3285. HC = ~(cd7a + 5555) = dd2f, and
    // the new checksum ~(cd7a + 3285) = ~ffff = 0 (eqn. 2 of RFC 1141 wrongly gives ffff here).
    expect(csumReplace16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });
});

describe('UDP checksum zero, golden values', () => {
  it('l4Checksum sends a computed 0 as ffff for UDP only', () => {
    expect(l4Checksum(udpZeroSegment, udpSrc, udpDst, 17, 0, 10, 6)).toBe(0xffff);
    // The same bytes as TCP: a 0 checksum has no special meaning there (RFC 793), so it stays 0.
    // Pseudo-header with proto 6: 141e - 0011 + 0006 = 1413; payload word e6b5 + 000b = e6c0 makes the sum
    // ffff again.
    const tcpLike = hex('04 d2 00 50 00 0a 00 00 e6 c0');
    expect(l4Checksum(tcpLike, udpSrc, udpDst, 6, 0, 10, 6)).toBe(0);
  });

  it('csumReplace16 can yield 0, which the UDP view must then send as ffff', () => {
    // Payload word 6869 -> e6b5 turns udpSegment into udpZeroSegment: ~(81b3 + 9796 + e6b5) = ~ffff = 0.
    expect(csumReplace16(0x7e4c, 0x6869, 0xe6b5)).toBe(0);
  });

  it('csumReplace16 has no notion of "no checksum": a 0 field must be left alone by the caller', () => {
    // ~(ffff + edcb + 1235) = ~fold(1ffff) = ~0001 = fffe: an update would invent a wrong checksum.
    expect(csumReplace16(0, 0x1234, 0x1235)).toBe(0xfffe);
  });

  it('native completePartial writes ffff where the computed UDP checksum is 0', () => {
    const frame = Uint8Array.from(ethIpUdp);
    frame.set(hex('14 1e e6 b5'), 34 + 6);
    const status = Uint8Array.of(1);
    expect(native.completePartial(frame, Uint32Array.of(0), Uint32Array.of(frame.length), status, 1)).toBe(1);
    expect(status[0]).toBe(PartialResult.done);
    expect(frame.subarray(34)).toEqual(udpZeroSegment);
  });

  it('native completePartial completes the hand-worked UDP frame', () => {
    const frame = Uint8Array.from(ethIpUdp);
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, 141e.
    frame.set(hex('14 1e'), 34 + 6);
    const status = Uint8Array.of(1);
    expect(native.completePartial(frame, Uint32Array.of(0), Uint32Array.of(frame.length), status, 1)).toBe(1);
    expect(status[0]).toBe(PartialResult.done);
    expect(frame).toEqual(ethIpUdp);
  });
});
