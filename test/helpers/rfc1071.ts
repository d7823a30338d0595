// RFC 1071 written out plainly for tests, independent of src/wire/checksum.ts, so a wrong checksum in the
// code under test cannot hide behind the same code in the test.

/** The one's-complement sum of big-endian 16-bit words with end-around carry; an odd last byte is padded. */
export function referenceSum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const hi = bytes[i] as number;
    const lo = i + 1 < bytes.length ? (bytes[i + 1] as number) : 0;
    sum += hi * 256 + lo;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

/** The inverted sum: the Internet checksum of `bytes`. */
export function referenceChecksum(bytes: ArrayLike<number>): number {
  return ~referenceSum(bytes) & 0xffff;
}

/**
 * The IPv4 pseudo-header (RFC 768, RFC 9293 3.1) followed by the segment with 0 in its checksum field at
 * `fieldOff`, as the bytes a TCP or UDP checksum covers.
 */
export function pseudoHeaderAndSegment(
  src: number,
  dst: number,
  proto: number,
  segment: Uint8Array,
  fieldOff: number,
): number[] {
  const len = segment.length;
  const bytes = [
    src >>> 24,
    (src >>> 16) & 0xff,
    (src >>> 8) & 0xff,
    src & 0xff,
    dst >>> 24,
    (dst >>> 16) & 0xff,
    (dst >>> 8) & 0xff,
    dst & 0xff,
    0,
    proto,
    len >>> 8,
    len & 0xff,
    ...segment,
  ];
  bytes[12 + fieldOff] = 0;
  bytes[12 + fieldOff + 1] = 0;
  return bytes;
}
