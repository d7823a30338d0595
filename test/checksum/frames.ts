// Independent reference for the checksum tests: a plain RFC 1071 checksum and a builder of Ethernet/IPv4
// TCP and UDP frames. Written without src/wire so that a bug there cannot hide in the expected values.
import fc from 'fast-check';

/**
 * One's-complement sum folded to 16 bits, by the arithmetic identity rather than end-around carry:
 * adding 2^16 is adding 1 modulo 0xffff, and a non-zero sum never folds to 0 (RFC 1071 section 1).
 */
export function refFold(sum: number): number {
  if (sum === 0) return 0;
  return sum % 0xffff || 0xffff;
}

/** Plain sum of big-endian 16-bit words, byte by byte; an odd last byte counts as the high half of a word. */
export function refSum(bytes: ArrayLike<number>, off = 0, len = bytes.length - off): number {
  let sum = 0;
  for (let i = 0; i < len; i++) sum += (bytes[off + i] as number) * (i % 2 === 0 ? 256 : 1);
  return sum;
}

export function refChecksum(bytes: ArrayLike<number>, off = 0, len = bytes.length - off, seed = 0): number {
  return 0xffff - refFold(refSum(bytes, off, len) + seed);
}

export const TCP = 6;
export const UDP = 17;

export interface FrameSpec {
  /** 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) VLAN tags. */
  tags: number;
  proto: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
  /** 32-bit words of IPv4 options (IHL = 5 + ipOptionWords). */
  ipOptionWords: number;
  /** 32-bit words of TCP options (data offset = 5 + tcpOptionWords); ignored for UDP. */
  tcpOptionWords: number;
  payload: Uint8Array;
  /** Random filler for the header bytes that do not matter here (MACs, TTL, ID, sequence numbers, ...). */
  filler: Uint8Array;
}

/** Offsets of the parts of a frame built by `buildFrame`. */
export interface FrameLayout {
  bytes: Uint8Array;
  ipOff: number;
  ihl: number;
  l4Off: number;
  l4Len: number;
  /** Offset of the L4 checksum field from the start of the frame. */
  checkOff: number;
}

export function l4HeaderLen(spec: FrameSpec): number {
  return spec.proto === TCP ? 20 + 4 * spec.tcpOptionWords : 8;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >> 8;
  b[off + 1] = v & 0xff;
}

function put32(b: Uint8Array, off: number, v: number): void {
  put16(b, off, Math.floor(v / 65536));
  put16(b, off + 2, v % 65536);
}

/** Pseudo-header sum (RFC 793 section 3.1, RFC 768), unfolded. */
export function refPseudoSum(src: number, dst: number, proto: number, l4Len: number): number {
  return Math.floor(src / 65536) + (src % 65536) + Math.floor(dst / 65536) + (dst % 65536) + proto + l4Len;
}

/** A frame with a correct IPv4 header checksum and a correct TCP/UDP checksum (a UDP 0 sent as 0xffff). */
export function buildFrame(spec: FrameSpec): FrameLayout {
  const ethLen = 14 + 4 * spec.tags;
  const ihl = 20 + 4 * spec.ipOptionWords;
  const l4Len = l4HeaderLen(spec) + spec.payload.length;
  const bytes = new Uint8Array(ethLen + ihl + l4Len);
  const fill = (off: number, len: number): void => {
    for (let i = 0; i < len; i++) bytes[off + i] = spec.filler[(off + i) % spec.filler.length] as number;
  };
  fill(0, 12);
  let off = 12;
  if (spec.tags === 2) {
    put16(bytes, off, 0x88a8);
    fill(off + 2, 2);
    off += 4;
  }
  if (spec.tags >= 1) {
    put16(bytes, off, 0x8100);
    fill(off + 2, 2);
    off += 4;
  }
  put16(bytes, off, 0x0800);
  const ipOff = off + 2;
  fill(ipOff, ihl);
  bytes[ipOff] = 0x40 | (ihl / 4);
  put16(bytes, ipOff + 2, ihl + l4Len);
  // DF may be set or not; MF and the fragment offset must be clear for an unfragmented datagram.
  bytes[ipOff + 6] = (bytes[ipOff + 6] as number) & 0x40;
  bytes[ipOff + 7] = 0;
  bytes[ipOff + 9] = spec.proto;
  put16(bytes, ipOff + 10, 0);
  put32(bytes, ipOff + 12, spec.src);
  put32(bytes, ipOff + 16, spec.dst);
  put16(bytes, ipOff + 10, refChecksum(bytes, ipOff, ihl));

  const l4Off = ipOff + ihl;
  fill(l4Off, l4HeaderLen(spec));
  put16(bytes, l4Off, spec.sport);
  put16(bytes, l4Off + 2, spec.dport);
  let checkOff: number;
  if (spec.proto === TCP) {
    bytes[l4Off + 12] = ((5 + spec.tcpOptionWords) << 4) | ((bytes[l4Off + 12] as number) & 0x0f);
    checkOff = l4Off + 16;
  } else {
    put16(bytes, l4Off + 4, l4Len);
    checkOff = l4Off + 6;
  }
  bytes.set(spec.payload, l4Off + l4HeaderLen(spec));
  put16(bytes, checkOff, 0);
  let check = refChecksum(bytes, l4Off, l4Len, refPseudoSum(spec.src, spec.dst, spec.proto, l4Len));
  if (spec.proto === UDP && check === 0) check = 0xffff;
  put16(bytes, checkOff, check);
  return { bytes, ipOff, ihl, l4Off, l4Len, checkOff };
}

/**
 * Puts a correct frame in the state Linux hands AF_PACKET for CHECKSUM_PARTIAL: the checksum field holds
 * the folded pseudo-header sum, not inverted (tcp_v4_send_check / udp4_hwcsum store
 * ~csum_tcpudp_magic(saddr, daddr, len, proto, 0), and csum_tcpudp_magic is itself the inverted fold).
 */
export function toPartial(frame: FrameLayout, spec: FrameSpec): Uint8Array {
  const partial = Uint8Array.from(frame.bytes);
  put16(partial, frame.checkOff, refFold(refPseudoSum(spec.src, spec.dst, spec.proto, frame.l4Len)));
  return partial;
}

export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const u16 = fc.integer({ min: 0, max: 0xffff });

export function frameSpec(maxPayload = 1400): fc.Arbitrary<FrameSpec> {
  return fc.record({
    tags: fc.integer({ min: 0, max: 2 }),
    proto: fc.constantFrom(TCP, UDP),
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    ipOptionWords: fc.integer({ min: 0, max: 10 }),
    tcpOptionWords: fc.integer({ min: 0, max: 10 }),
    payload: fc.uint8Array({ maxLength: maxPayload }),
    filler: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  });
}
