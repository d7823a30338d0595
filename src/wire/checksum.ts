// Internet checksum (RFC 1071), pseudo-header sums (RFC 793, RFC 768) and incremental update (RFC 1624).
// All sums are of big-endian 16-bit words. JS numbers hold integers exactly up to 2^53, so sums are
// accumulated wide and folded once at the end.

/** Unfolded one's-complement sum of `buf[off, off+len)` plus `seed`; an odd last byte is zero-padded. */
export function sum16(buf: Uint8Array, off: number, len: number, seed = 0): number {
  let sum = seed;
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) sum += ((buf[i] as number) << 8) | (buf[i + 1] as number);
  if (len & 1) sum += (buf[i] as number) << 8;
  return sum;
}

/** Folds a wide sum to 16 bits with end-around carry. */
export function fold16(sum: number): number {
  // Bitwise operators truncate to 32 bits, so larger sums (up to 2^53) are split with division first; one
  // split can leave up to 2^37, hence the loop.
  let s = sum;
  while (s > 0xffffffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The inverted 16-bit Internet checksum of a region. */
export function inetChecksum(buf: Uint8Array, off: number, len: number, seed = 0): number {
  return ~fold16(sum16(buf, off, len, seed)) & 0xffff;
}

/** IPv4 header checksum over `ihlBytes` bytes at `off`, computed as if the checksum field were zero. */
export function ipv4HeaderChecksum(buf: Uint8Array, off: number, ihlBytes: number): number {
  return ~fold16(sum16(buf, off + 12, ihlBytes - 12, sum16(buf, off, 10))) & 0xffff;
}

/** Unfolded sum of the IPv4 pseudo-header: source, destination, zero+protocol, L4 length. */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4Len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4Len;
}

/**
 * The TCP or UDP checksum of the segment at `l4Off` (length `l4Len`), computed as if its checksum field
 * (at `l4Off + fieldOff`) were zero. For UDP a computed 0 is returned as 0xffff (RFC 768: 0 means none).
 */
export function l4Checksum(
  buf: Uint8Array,
  src: number,
  dst: number,
  proto: number,
  l4Off: number,
  l4Len: number,
  fieldOff: number,
): number {
  // fieldOff is even for TCP (16) and UDP (6), so skipping the field keeps the 16-bit word alignment.
  const head = sum16(buf, l4Off, fieldOff, pseudoHeaderSum(src, dst, proto, l4Len));
  const c = ~fold16(sum16(buf, l4Off + fieldOff + 2, l4Len - fieldOff - 2, head)) & 0xffff;
  return proto === 17 && c === 0 ? 0xffff : c;
}

/** RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from `from` to `to`. */
export function csumReplace16(check: number, from: number, to: number): number {
  const s = (~check & 0xffff) + (~from & 0xffff) + (to & 0xffff);
  return ~fold16(s) & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address), as two 16-bit word replacements. */
export function csumReplace32(check: number, from: number, to: number): number {
  const s = (~check & 0xffff) + (~(from >>> 16) & 0xffff) + (~from & 0xffff) + (to >>> 16) + (to & 0xffff);
  return ~fold16(s) & 0xffff;
}
