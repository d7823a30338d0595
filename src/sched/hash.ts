// The two hash functions the IPVS schedulers use, bit-exact with the kernel:
// - hash_32() from include/linux/hash.h (sh, dh, lblc, lblcr buckets);
// - hsiphash() from lib/siphash.c as built on 64-bit kernels, where it is SipHash-1-3 with 64-bit key words
//   and the low 32 bits of v0^v1^v2^v3 as the result (mh's permutation and lookup).
// SipHash's 64-bit words are kept as pairs of 32-bit halves in a module-level scratch array, so hashing
// allocates nothing and needs no BigInt; mh calls hsiphashU32() on every pick.

/** GOLDEN_RATIO_32 (include/linux/hash.h). */
const GOLDEN_RATIO_32 = 0x61c88647;

/** hash_32(val, bits): the top `bits` bits of val·GOLDEN_RATIO_32 mod 2^32. `bits` is 1..32. */
export function hash32(value: number, bits: number): number {
  return Math.imul(value, GOLDEN_RATIO_32) >>> (32 - bits);
}

/** An hsiphash_key_t on a 64-bit kernel: two unsigned longs, each split into 32-bit halves. */
export interface HsipKey {
  readonly k0lo: number;
  readonly k0hi: number;
  readonly k1lo: number;
  readonly k1hi: number;
}

/** Builds a key from two unsigned longs below 2^53 (the kernel's keys for mh fit in 32 bits). */
export function hsipKey(key0: number, key1: number): HsipKey {
  return {
    k0lo: key0 >>> 0,
    k0hi: Math.floor(key0 / 0x100000000) >>> 0,
    k1lo: key1 >>> 0,
    k1hi: Math.floor(key1 / 0x100000000) >>> 0,
  };
}

// v0..v3 as (lo, hi) int32 pairs: [v0lo, v0hi, v1lo, v1hi, v2lo, v2hi, v3lo, v3hi].
const sip = new Int32Array(8);

/** PREAMBLE(len) of lib/siphash.c: the "somepseudorandomlygeneratedbytes" constants xored with the key. */
function sipInit(key: HsipKey): void {
  sip[0] = 0x70736575 ^ key.k0lo;
  sip[1] = 0x736f6d65 ^ key.k0hi;
  sip[2] = 0x6e646f6d ^ key.k1lo;
  sip[3] = 0x646f7261 ^ key.k1hi;
  sip[4] = 0x6e657261 ^ key.k0lo;
  sip[5] = 0x6c796765 ^ key.k0hi;
  sip[6] = 0x79746573 ^ key.k1lo;
  sip[7] = 0x74656462 ^ key.k1hi;
}

/** SIPROUND on 64-bit words held as 32-bit halves; additions carry from the low half into the high half. */
function sipRound(): void {
  let v0lo = sip[0]!;
  let v0hi = sip[1]!;
  let v1lo = sip[2]!;
  let v1hi = sip[3]!;
  let v2lo = sip[4]!;
  let v2hi = sip[5]!;
  let v3lo = sip[6]!;
  let v3hi = sip[7]!;
  let sum: number;
  let t: number;

  // v0 += v1; v1 = rol64(v1, 13); v1 ^= v0; v0 = rol64(v0, 32);
  sum = (v0lo >>> 0) + (v1lo >>> 0);
  v0hi = (v0hi + v1hi + (sum > 0xffffffff ? 1 : 0)) | 0;
  v0lo = sum | 0;
  t = (v1hi << 13) | (v1lo >>> 19);
  v1lo = (v1lo << 13) | (v1hi >>> 19);
  v1hi = t ^ v0hi;
  v1lo ^= v0lo;
  t = v0lo;
  v0lo = v0hi;
  v0hi = t;

  // v2 += v3; v3 = rol64(v3, 16); v3 ^= v2;
  sum = (v2lo >>> 0) + (v3lo >>> 0);
  v2hi = (v2hi + v3hi + (sum > 0xffffffff ? 1 : 0)) | 0;
  v2lo = sum | 0;
  t = (v3hi << 16) | (v3lo >>> 16);
  v3lo = ((v3lo << 16) | (v3hi >>> 16)) ^ v2lo;
  v3hi = t ^ v2hi;

  // v0 += v3; v3 = rol64(v3, 21); v3 ^= v0;
  sum = (v0lo >>> 0) + (v3lo >>> 0);
  v0hi = (v0hi + v3hi + (sum > 0xffffffff ? 1 : 0)) | 0;
  v0lo = sum | 0;
  t = (v3hi << 21) | (v3lo >>> 11);
  v3lo = ((v3lo << 21) | (v3hi >>> 11)) ^ v0lo;
  v3hi = t ^ v0hi;

  // v2 += v1; v1 = rol64(v1, 17); v1 ^= v2; v2 = rol64(v2, 32);
  sum = (v2lo >>> 0) + (v1lo >>> 0);
  v2hi = (v2hi + v1hi + (sum > 0xffffffff ? 1 : 0)) | 0;
  v2lo = sum | 0;
  t = (v1hi << 17) | (v1lo >>> 15);
  v1lo = ((v1lo << 17) | (v1hi >>> 15)) ^ v2lo;
  v1hi = t ^ v2hi;
  t = v2lo;
  v2lo = v2hi;
  v2hi = t;

  sip[0] = v0lo;
  sip[1] = v0hi;
  sip[2] = v1lo;
  sip[3] = v1hi;
  sip[4] = v2lo;
  sip[5] = v2hi;
  sip[6] = v3lo;
  sip[7] = v3hi;
}

/** One message word: v3 ^= m; SIPROUND (c = 1); v0 ^= m. */
function sipCompress(mlo: number, mhi: number): void {
  sip[6] = sip[6]! ^ mlo;
  sip[7] = sip[7]! ^ mhi;
  sipRound();
  sip[0] = sip[0]! ^ mlo;
  sip[1] = sip[1]! ^ mhi;
}

/** HPOSTAMBLE on 64-bit: the final word b, then d = 3 rounds; returns the low 32 bits of v0^v1^v2^v3. */
function sipFinish(blo: number, bhi: number): number {
  sipCompress(blo, bhi);
  sip[4] = sip[4]! ^ 0xff;
  sipRound();
  sipRound();
  sipRound();
  return (sip[0]! ^ sip[2]! ^ sip[4]! ^ sip[6]!) >>> 0;
}

/**
 * hsiphash(&value, 4, key) on a little-endian 64-bit kernel (hsiphash_1u32): how ip_vs_mh hashes its u32.
 * Allocates nothing.
 */
export function hsiphashU32(value: number, key: HsipKey): number {
  sipInit(key);
  // b = len << 56 | le32(value): the four bytes go in the low half, the length in the top byte.
  return sipFinish(value | 0, 4 << 24);
}

/** hsiphash over arbitrary bytes (lib/siphash.c __hsiphash_unaligned, 64-bit build). For tests and setup. */
export function hsiphashBytes(data: Uint8Array, key: HsipKey): number {
  sipInit(key);
  const len = data.length;
  const whole = len - (len % 8);
  for (let i = 0; i < whole; i += 8) {
    const lo = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    const hi = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    sipCompress(lo, hi);
  }
  let blo = 0;
  let bhi = (len & 0xff) << 24;
  for (let i = whole; i < len; i++) {
    const shift = (i - whole) * 8;
    if (shift < 32) blo |= data[i]! << shift;
    else bhi |= data[i]! << (shift - 32);
  }
  return sipFinish(blo, bhi);
}
