import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash32, hsiphashBytes, hsiphashU32, hsipKey } from '../../src/sched/hash.js';

describe('hash32 (include/linux/hash.h hash_32)', () => {
  it('matches values worked out by hand', () => {
    // 10.0.0.1 = 0x0a000001. 0x0a000001 * 0x61c88647 mod 2^32
    //   = 0x61c88647 + (0x61c88647 * 0x0a) << 24 = 0x61c88647 + 0xc6000000 (only the low byte 0xc6 of
    //   0x3d1d53ec6 survives the shift) = 0x27c88647; its top 8 bits are 0x27 = 39.
    expect(hash32(0x0a000001, 8)).toBe(39);
    // 1 * 0x61c88647 = 0x61c88647: top 8 bits 0x61 = 97, top 10 bits 0x187 = 391.
    expect(hash32(1, 8)).toBe(97);
    expect(hash32(1, 10)).toBe(391);
    // 2 * 0x61c88647 = 0xc3910c8e: top 8 bits 0xc3 = 195.
    expect(hash32(2, 8)).toBe(195);
    expect(hash32(0, 8)).toBe(0);
  });

  it('agrees with exact 64-bit arithmetic for any u32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 32 }), (v, bits) => {
        const product = (BigInt(v) * 0x61c88647n) & 0xffffffffn;
        expect(hash32(v, bits)).toBe(Number(product >> BigInt(32 - bits)));
      }),
    );
  });
});

// lib/test_siphash.c (64-bit build): hsiphash(in, len, key) for in = 00 01 02 ... len-1, len = 0..63, with
// key {0x0706050403020100, 0x0f0e0d0c0b0a0908}. On 64-bit kernels hsiphash is SipHash-1-3.
const kernelKey = { k0lo: 0x03020100, k0hi: 0x07060504, k1lo: 0x0b0a0908, k1hi: 0x0f0e0d0c };
const vectors = [
  0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140, 0x8d299a8e,
  0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66, 0x63dbd80c,
  0xb473e63e, 0x8d297d1c, 0xa6cce040, 0x2b45f844, 0xa320872e, 0xdae6c123, 0x67349c8c, 0x705b0979, 0xca9913a5,
  0x4ade3b35, 0xef6cd00d, 0x4ab1e1f4, 0x43c5e663, 0x8c21d1bc, 0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e, 0xbf186b91,
  0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392, 0x99e41531, 0x3f1ad944, 0xc8138825, 0xc28949a6, 0xfaf8876b,
  0x9f042196, 0x68b1d623, 0x8b5114fd, 0xdf074c46, 0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0,
  0x73f0bce6, 0x70a7e980, 0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148, 0xf7a644ee, 0x0f1837f2, 0x4b6694e0,
  0xb7bbb3a8,
];

describe('hsiphash (lib/siphash.c, 64-bit: SipHash-1-3)', () => {
  it('reproduces the 64 known-answer vectors of lib/test_siphash.c', () => {
    expect(vectors).toHaveLength(64);
    for (let len = 0; len < 64; len++) {
      const data = Uint8Array.from({ length: len }, (_, i) => i);
      expect(hsiphashBytes(data, kernelKey), `len ${len}`).toBe(vectors[len]);
    }
  });

  it('hashes a u32 as its four little-endian bytes (vector 4: 00 01 02 03)', () => {
    expect(hsiphashU32(0x03020100, kernelKey)).toBe(0x88d38328);
  });

  it('hsiphashU32 equals the byte version on the little-endian encoding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        const le = Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
        expect(hsiphashU32(v, kernelKey)).toBe(hsiphashBytes(le, kernelKey));
      }),
    );
  });

  it('splits key words into halves', () => {
    expect(hsipKey(2654435761, 2654446892)).toEqual({ k0lo: 0x9e3779b1, k0hi: 0, k1lo: 0x9e37a52c, k1hi: 0 });
    expect(hsipKey(0x1_0000_0002, 3)).toEqual({ k0lo: 2, k0hi: 1, k1lo: 3, k1hi: 0 });
  });
});
