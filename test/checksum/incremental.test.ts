// RFC 1624 incremental updates give the same checksum as recomputing it, for raw data and for the TCP/UDP
// checksum of whole frames whose addresses or ports a NAT rewrite changes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { read16, read32, write16, write32 } from '../../src/wire/bytes.js';
import { csumReplace16, csumReplace32, inetChecksum, l4Checksum } from '../../src/wire/checksum.js';
import {
  buildFrame,
  type FrameSpec,
  frameSpec,
  refChecksum,
  refFold,
  refPseudoSum,
  refSum,
  TCP,
  UDP,
  u16,
  u32,
} from './frames.js';

/** Data with a 16-bit-aligned field of `width` bytes inside it. */
function dataWithField(width: 2 | 4) {
  return fc.uint8Array({ minLength: width, maxLength: 1600 }).chain((data) =>
    fc.record({
      data: fc.constant(data),
      at: fc.integer({ min: 0, max: Math.floor((data.length - width) / 2) }).map((w) => w * 2),
    }),
  );
}

function allZero(data: Uint8Array): boolean {
  return data.every((b) => b === 0);
}

/**
 * The one place where eqn. 3 and a recompute differ: data of all zeros. Its sum is +0, so a recompute
 * gives ffff, while eqn. 3 works in one's complement and lands on -0, giving 0. Both verify (RFC 1624
 * section 3); only the UDP "no checksum" meaning of 0 cares, and UDP's pseudo-header is never zero.
 */
function expectedAfterUpdate(data: Uint8Array): number {
  return allZero(data) ? 0 : refChecksum(data);
}

describe('csumReplace16 / csumReplace32 on raw data', () => {
  it('replacing one aligned 16-bit word equals a full recompute', () => {
    fc.assert(
      fc.property(dataWithField(2), u16, ({ data, at }, word) => {
        const before = inetChecksum(data, 0, data.length);
        const old = read16(data, at);
        write16(data, at, word);
        expect(csumReplace16(before, old, word)).toBe(expectedAfterUpdate(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('replacing one aligned 32-bit field equals a full recompute', () => {
    fc.assert(
      fc.property(dataWithField(4), u32, ({ data, at }, field) => {
        const before = inetChecksum(data, 0, data.length);
        const old = read32(data, at);
        write32(data, at, field);
        expect(csumReplace32(before, old, field)).toBe(expectedAfterUpdate(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('chains: several updates in a row still equal a full recompute', () => {
    fc.assert(
      fc.property(
        dataWithField(2),
        fc.array(fc.tuple(fc.nat(), u16), { minLength: 1, maxLength: 20 }),
        ({ data }, edits) => {
          let check = inetChecksum(data, 0, data.length);
          const words = data.length >> 1;
          for (const [which, word] of edits) {
            const at = (which % words) * 2;
            check = csumReplace16(check, read16(data, at), word);
            write16(data, at, word);
          }
          expect(check).toBe(expectedAfterUpdate(data));
        },
      ),
    );
  });

  it('all-zero data: eqn. 3 gives 0 where a recompute gives ffff, and the two are the same checksum', () => {
    const data = Uint8Array.of(0x12, 0x34, 0, 0);
    const check = csumReplace16(inetChecksum(data, 0, 4), 0x1234, 0);
    expect(check).toBe(0);
    data[0] = 0;
    data[1] = 0;
    expect(inetChecksum(data, 0, 4)).toBe(0xffff);
  });
});

/** A NAT rewrite of one header field, as the datapath does it. */
type Rewrite = { field: 'src' | 'dst'; value: number } | { field: 'sport' | 'dport'; value: number };

const rewrite: fc.Arbitrary<Rewrite> = fc.oneof(
  fc.record({ field: fc.constantFrom('src' as const, 'dst' as const), value: u32 }),
  fc.record({ field: fc.constantFrom('sport' as const, 'dport' as const), value: u16 }),
);

/** RFC 768: a UDP sender transmits a computed 0 as ffff. The UDP view applies this after an update. */
function udpOnTheWire(check: number): number {
  return check === 0 ? 0xffff : check;
}

/**
 * The spec with an even payload and one more 16-bit word chosen so that the segment plus pseudo-header
 * sums to ffff: its computed checksum is 0. The L4 header length is even, so the word is aligned.
 */
function zeroSumSpec(spec: FrameSpec): FrameSpec {
  const even = spec.payload.subarray(0, spec.payload.length & ~1);
  const padded = { ...spec, payload: Uint8Array.from([...even, 0, 0]) };
  const f = buildFrame(padded);
  write16(f.bytes, f.checkOff, 0);
  const folded = refFold(refSum(f.bytes, f.l4Off, f.l4Len) + refPseudoSum(spec.src, spec.dst, spec.proto, f.l4Len));
  const word = 0xffff - folded;
  return { ...spec, payload: Uint8Array.from([...even, word >> 8, word & 0xff]) };
}

describe('l4Checksum of IPv4 TCP/UDP frames under NAT rewrites', () => {
  it('l4Checksum equals the reference checksum of random frames', () => {
    fc.assert(
      fc.property(frameSpec(), (spec) => {
        const f = buildFrame(spec);
        const fieldOff = f.checkOff - f.l4Off;
        expect(l4Checksum(f.bytes, spec.src, spec.dst, spec.proto, f.l4Off, f.l4Len, fieldOff)).toBe(
          read16(f.bytes, f.checkOff),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('an incremental update for a changed address or port equals l4Checksum of the new frame', () => {
    fc.assert(
      fc.property(frameSpec(), rewrite, (spec, change) => {
        const before = buildFrame(spec);
        const after: FrameSpec = { ...spec, [change.field]: change.value };
        const expected = buildFrame(after);
        const check = read16(before.bytes, before.checkOff);
        const updated =
          change.field === 'src' || change.field === 'dst'
            ? csumReplace32(check, spec[change.field], change.value)
            : csumReplace16(check, spec[change.field], change.value);
        const fieldOff = expected.checkOff - expected.l4Off;
        const recomputed = l4Checksum(
          expected.bytes,
          after.src,
          after.dst,
          after.proto,
          expected.l4Off,
          expected.l4Len,
          fieldOff,
        );
        expect(recomputed).toBe(read16(expected.bytes, expected.checkOff));
        // TCP's pseudo-header is never all zero, so eqn. 3 matches a recompute exactly; UDP needs the
        // RFC 768 rule on top, because eqn. 3 can land on 0 where l4Checksum sends ffff.
        expect(spec.proto === UDP ? udpOnTheWire(updated) : updated).toBe(recomputed);
      }),
      { numRuns: 1000 },
    );
  });

  it('UDP: a computed 0 is sent as ffff, and updating from ffff works like from any other checksum', () => {
    fc.assert(
      fc.property(frameSpec(64), u32, (spec, newDst) => {
        const udp = zeroSumSpec({ ...spec, proto: UDP });
        const z = buildFrame(udp);
        expect(read16(z.bytes, z.checkOff)).toBe(0xffff);
        expect(l4Checksum(z.bytes, udp.src, udp.dst, UDP, z.l4Off, z.l4Len, 6)).toBe(0xffff);
        const moved = buildFrame({ ...udp, dst: newDst });
        expect(udpOnTheWire(csumReplace32(0xffff, udp.dst, newDst))).toBe(read16(moved.bytes, moved.checkOff));
      }),
      { numRuns: 500 },
    );
  });

  it('TCP: a computed 0 stays 0 (no special meaning) and updates from it equal a recompute', () => {
    fc.assert(
      fc.property(frameSpec(64), u16, (spec, newPort) => {
        const tcp = zeroSumSpec({ ...spec, proto: TCP });
        const z = buildFrame(tcp);
        expect(read16(z.bytes, z.checkOff)).toBe(0);
        expect(l4Checksum(z.bytes, tcp.src, tcp.dst, TCP, z.l4Off, z.l4Len, 16)).toBe(0);
        const moved = buildFrame({ ...tcp, dport: newPort });
        expect(csumReplace16(0, tcp.dport, newPort)).toBe(read16(moved.bytes, moved.checkOff));
      }),
      { numRuns: 500 },
    );
  });
});
