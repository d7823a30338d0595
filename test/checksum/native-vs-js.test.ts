// The C checksum shims and the JS helpers agree with each other and with a plain reference, on any input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/native.js';
import { fold16, inetChecksum, sum16 } from '../../src/wire/checksum.js';
import { refChecksum, refFold, refSum } from './frames.js';

const native = loadNative();

/** A buffer and a region inside it: any offset and length (odd or even) up to 1600 bytes. */
const region = fc
  .uint8Array({ maxLength: 1600 })
  .chain((buf) =>
    fc
      .integer({ min: 0, max: buf.length })
      .chain((off) => fc.record({ buf: fc.constant(buf), off: fc.constant(off), len: fc.nat(buf.length - off) })),
  );

/** Several regions of one buffer, overlapping or not, as a batch call takes them. */
const batch = fc.uint8Array({ minLength: 1, maxLength: 4096 }).chain((buf) =>
  fc.record({
    buf: fc.constant(buf),
    regions: fc.array(
      fc
        .integer({ min: 0, max: buf.length })
        .chain((off) => fc.tuple(fc.constant(off), fc.integer({ min: 0, max: Math.min(1600, buf.length - off) }))),
      { maxLength: 64 },
    ),
  }),
);

describe('JS and C checksums agree', () => {
  it('inetChecksum, native checksum and the reference agree on every region', () => {
    fc.assert(
      fc.property(region, ({ buf, off, len }) => {
        const expected = refChecksum(buf, off, len);
        expect(inetChecksum(buf, off, len)).toBe(expected);
        expect(native.checksum(buf, off, len)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('native checksum honours the byte offset of a view into a larger buffer', () => {
    fc.assert(
      fc.property(region, fc.nat(15), ({ buf, off, len }, lead) => {
        const backing = new Uint8Array(lead + buf.length);
        backing.set(buf, lead);
        const view = backing.subarray(lead);
        expect(native.checksum(view, off, len)).toBe(refChecksum(buf, off, len));
      }),
    );
  });

  it('sum16 with a seed and fold16 match the reference for any safe integer', () => {
    fc.assert(
      fc.property(region, fc.maxSafeNat(), ({ buf, off, len }, big) => {
        expect(sum16(buf, off, len)).toBe(refSum(buf, off, len));
        expect(fold16(big)).toBe(refFold(big));
        const seed = big % 2 ** 40;
        expect(inetChecksum(buf, off, len, seed)).toBe(refChecksum(buf, off, len, seed));
      }),
      { numRuns: 1000 },
    );
  });

  it('checksumBatch equals one JS checksum per region', () => {
    fc.assert(
      fc.property(batch, ({ buf, regions }) => {
        const count = regions.length;
        const offs = Uint32Array.from(regions, ([off]) => off);
        const lens = Uint32Array.from(regions, ([, len]) => len);
        // One spare slot, poisoned, shows a write past `count`.
        const out = new Uint16Array(count + 1).fill(0xa5a5);
        expect(native.checksumBatch(buf, offs, lens, out, count)).toBe(count);
        for (let i = 0; i < count; i++) expect(out[i]).toBe(inetChecksum(buf, offs[i]!, lens[i]!));
        expect(out[count]).toBe(0xa5a5);
      }),
      { numRuns: 300 },
    );
  });
});

describe('native checksum bounds', () => {
  it('throws a RangeError for a region past the end instead of reading it', () => {
    const buf = new Uint8Array(10);
    expect(() => native.checksum(buf, 0, 11)).toThrow(RangeError);
    expect(() => native.checksum(buf, 11, 0)).toThrow(RangeError);
    expect(() => native.checksum(buf, 0xffffffff, 0xffffffff)).toThrow(RangeError);
    expect(native.checksum(buf, 10, 0)).toBe(0xffff);
  });

  it('checksumBatch stops at the first region out of bounds and leaves the rest of out alone', () => {
    const buf = Uint8Array.of(0x00, 0x01, 0xf2, 0x03);
    const offs = Uint32Array.of(0, 2, 3, 0);
    const lens = Uint32Array.of(2, 2, 2, 4);
    const out = new Uint16Array(4).fill(0x5a5a);
    // Region 2 is [3, 5) of a 4-byte buffer.
    expect(native.checksumBatch(buf, offs, lens, out, 4)).toBe(2);
    expect(Array.from(out)).toEqual([0xfffe, 0x0dfc, 0x5a5a, 0x5a5a]);
    const huge = Uint32Array.of(0xffffffff);
    expect(native.checksumBatch(buf, huge, huge, out, 1)).toBe(0);
  });

  it('checksumBatch throws a RangeError when count exceeds any array', () => {
    const buf = new Uint8Array(8);
    const two32 = new Uint32Array(2);
    const one32 = new Uint32Array(1);
    expect(() => native.checksumBatch(buf, two32, two32, new Uint16Array(1), 2)).toThrow(RangeError);
    expect(() => native.checksumBatch(buf, one32, two32, new Uint16Array(2), 2)).toThrow(RangeError);
    expect(() => native.checksumBatch(buf, two32, one32, new Uint16Array(2), 2)).toThrow(RangeError);
    // -1 arrives as 2^32 - 1 (ToUint32), which no array can hold.
    expect(() => native.checksumBatch(buf, two32, two32, new Uint16Array(2), -1)).toThrow(RangeError);
  });

  it('rejects typed arrays of the wrong element type, which would be read or written past their end', () => {
    const buf = new Uint8Array(8);
    const u32 = Uint32Array.of(0);
    const out = new Uint16Array(1);
    const misuse = native as unknown as Record<string, (...args: unknown[]) => number>;
    expect(() => misuse.checksumBatch!(buf, Uint8Array.of(0), u32, out, 1)).toThrow(TypeError);
    expect(() => misuse.checksumBatch!(buf, u32, Uint16Array.of(8), out, 1)).toThrow(TypeError);
    expect(() => misuse.checksumBatch!(buf, u32, u32, Uint8Array.of(0), 1)).toThrow(TypeError);
    expect(() => misuse.checksumBatch!(new Uint16Array(4), u32, u32, out, 1)).toThrow(TypeError);
    expect(() => misuse.checksum!([1, 2], 0, 2)).toThrow(TypeError);
    expect(() => misuse.completePartial!(buf, u32, u32, Uint16Array.of(1), 1)).toThrow(TypeError);
    expect(() => misuse.completePartial!(buf, new Float64Array(1), u32, Uint8Array.of(1), 1)).toThrow(TypeError);
  });
});
