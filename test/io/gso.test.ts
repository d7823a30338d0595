// Segmentation of TCP/IPv4 GSO super-frames (native/gso.cc), the cut a receive makes on a socket with
// PACKET_VNET_HDR. Frames are built here byte by byte and every segment is checked against the rules of the
// kernel's tcp_gso_segment() with an independent RFC 1071 checksum (test/checksum/frames.ts): the headers in
// every segment, the payload cut at the MSS and put back together unchanged, sequence numbers advanced
// (across the 2^32 wrap too), IPv4 IDs incremented, FIN/PSH on the last segment only, CWR on the first only,
// and whole IPv4 and TCP checksums. The end-to-end case, real TSO senders through the daemon, is in
// test/netns/offloads.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native.js';
import { refChecksum, refSum } from '../checksum/frames.js';

const native = loadNative();
const GSO_TCPV4 = 1;
const GSO_UDP = 3;
const GSO_ECN = 0x80;
const ROOM = 2048 - 64;
const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

interface Spec {
  payload: Uint8Array;
  seq: number;
  flags: number;
  tcpOptionWords: number;
  ipId: number;
  proto?: number;
  etherType?: number;
  fragOffset?: number;
}

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

/** A super-frame as a TSO sender hands it over: one IPv4 header and one TCP header for the whole payload. */
function superFrame(s: Spec): Uint8Array {
  const tcpLen = 20 + s.tcpOptionWords * 4;
  const f = new Uint8Array(14 + 20 + tcpLen + s.payload.length);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
  put16(f, 12, s.etherType ?? 0x0800);
  f[14] = 0x45;
  put16(f, 16, Math.min(0xffff, 20 + tcpLen + s.payload.length));
  put16(f, 18, s.ipId);
  put16(f, 20, 0x4000 | (s.fragOffset ?? 0)); // DF
  f[22] = 64;
  f[23] = s.proto ?? 6;
  put16(f, 24, 0xbeef); // stale: segmentation must compute it
  f.set([192, 168, 1, 100, 192, 168, 1, 231], 26);
  const t = 34;
  put16(f, t, 40000);
  put16(f, t + 2, 80);
  put32(f, t + 4, s.seq);
  put32(f, t + 8, 0x01020304);
  f[t + 12] = (5 + s.tcpOptionWords) << 4;
  f[t + 13] = s.flags;
  put16(f, t + 14, 501);
  put16(f, t + 16, 0x1234); // a partial checksum, as CHECKSUM_PARTIAL leaves it
  for (let i = 20; i < tcpLen; i++) f[t + i] = i === 20 ? 1 : (i * 7) & 0xff; // NOP, then arbitrary bytes
  f.set(s.payload, t + tcpLen);
  return f;
}

function checkSegments(s: Spec, mss: number, segments: Uint8Array[]): void {
  const tcpLen = 20 + s.tcpOptionWords * 4;
  const headers = 14 + 20 + tcpLen;
  const count = Math.ceil(s.payload.length / mss);
  expect(segments).toHaveLength(count);
  const original = superFrame(s);
  const joined: number[] = [];
  segments.forEach((seg, k) => {
    const chunk = Math.min(mss, s.payload.length - k * mss);
    expect(seg.length).toBe(headers + chunk);
    // Ethernet and addresses unchanged; IPv4 header valid with this segment's length and ID.
    expect(Array.from(seg.subarray(0, 14))).toEqual(Array.from(original.subarray(0, 14)));
    expect(be16(seg, 16)).toBe(20 + tcpLen + chunk);
    expect(be16(seg, 18)).toBe((s.ipId + k) & 0xffff);
    expect(refChecksum(seg, 14, 20)).toBe(0);
    // TCP: ports, ack, window and options as sent; sequence advanced; flags per position.
    const t = 34;
    expect(Array.from(seg.subarray(t, t + 4))).toEqual(Array.from(original.subarray(t, t + 4)));
    expect(be32(seg, t + 4)).toBe((s.seq + k * mss) >>> 0);
    expect(be32(seg, t + 8)).toBe(0x01020304);
    expect(Array.from(seg.subarray(t + 20, t + tcpLen))).toEqual(Array.from(original.subarray(t + 20, t + tcpLen)));
    let flags = s.flags;
    if (k < count - 1) flags &= ~(FIN | PSH);
    if (k > 0) flags &= ~CWR;
    expect(seg[t + 13]).toBe(flags);
    const l4 = tcpLen + chunk;
    const pseudo = refSum(seg, 26, 8) + 6 + l4;
    expect(refChecksum(seg, t, l4, pseudo)).toBe(0);
    for (let i = headers; i < seg.length; i++) joined.push(seg[i]!);
  });
  expect(joined).toEqual(Array.from(s.payload));
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

describe('GSO segmentation (native/gso.cc)', () => {
  it('cuts a 64 KB super-frame at the MSS with the kernel rules', () => {
    const s: Spec = {
      payload: pattern(65_000),
      seq: 1_000_000,
      flags: ACK | PSH | FIN | CWR,
      tcpOptionWords: 3,
      ipId: 0xfff0,
    };
    const segments = native.gsoSegment(superFrame(s), GSO_TCPV4 | GSO_ECN, 1448, ROOM);
    expect(segments).not.toBeNull();
    checkSegments(s, 1448, segments!);
  });

  it('keeps every rule for random payloads, MSSes, sequence numbers (across 2^32) and flags', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12_000 }),
        fc.integer({ min: 200, max: 1460 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(ACK, ACK | PSH, ACK | FIN, ACK | PSH | FIN | CWR, ACK | CWR),
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 0xffff }),
        (len, mss, seq, flags, words, ipId) => {
          const s: Spec = { payload: pattern(len), seq, flags, tcpOptionWords: words, ipId };
          const segments = native.gsoSegment(superFrame(s), GSO_TCPV4, mss, ROOM);
          expect(segments).not.toBeNull();
          checkSegments(s, mss, segments!);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('cuts nothing it cannot: other GSO types, UDP, not IPv4, fragments, an MSS past the slot, no MSS', () => {
    const base: Spec = { payload: pattern(5000), seq: 1, flags: ACK, tcpOptionWords: 0, ipId: 1 };
    const frame = superFrame(base);
    expect(native.gsoSegment(frame, GSO_UDP, 1448, ROOM)).toBeNull();
    expect(native.gsoSegment(superFrame({ ...base, proto: 17 }), GSO_TCPV4, 1448, ROOM)).toBeNull();
    expect(native.gsoSegment(superFrame({ ...base, etherType: 0x86dd }), GSO_TCPV4, 1448, ROOM)).toBeNull();
    expect(native.gsoSegment(superFrame({ ...base, fragOffset: 0x2000 }), GSO_TCPV4, 1448, ROOM)).toBeNull();
    expect(native.gsoSegment(frame, GSO_TCPV4, ROOM, ROOM)).toBeNull();
    expect(native.gsoSegment(frame, GSO_TCPV4, 0, ROOM)).toBeNull();
    // Headers that run past the frame.
    expect(native.gsoSegment(frame.subarray(0, 40), GSO_TCPV4, 1448, ROOM)).toBeNull();
  });
});
