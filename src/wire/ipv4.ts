// IPv4 (RFC 791) header view. The datapath validates every header with `checkLen()`, rewrites addresses,
// TTL and TOS in place with incremental checksum updates (RFC 1624), and never copies the payload.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |  DSCP     |ECN|          Total Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Identification        |R|D|M|      Fragment Offset    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Source Address                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (0..40 bytes, IHL*4 - 20)          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
import { readIpv4, writeIpv4 } from './addr.js';
import { read16, read32i, write16 } from './bytes.js';
import { csumReplace16, csumReplace32, inetChecksum, ipv4HeaderChecksum } from './checksum.js';
import { Reason, type ReasonCode } from './reason.js';
import { WireView } from './view.js';

export const Ipv4Field = {
  versionIhl: 0,
  tos: 1,
  totalLength: 2,
  id: 4,
  flagsFragOffset: 6,
  ttl: 8,
  protocol: 9,
  checksum: 10,
  src: 12,
  dst: 16,
  options: 20,
} as const;

/** Header length without options (IHL 5). */
export const IPV4_MIN_HEADER_LEN = 20;
/** Header length with the most options IHL can describe (IHL 15). */
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_TOTAL_LEN = 0xffff;

/** Bits of the 16-bit flags/fragment-offset word. */
export const Ipv4Flag = {
  dontFrag: 0x4000,
  moreFrags: 0x2000,
  /** The fragment offset, in units of 8 bytes. */
  offsetMask: 0x1fff,
} as const;

/**
 * A view over an IPv4 packet at `buf[off, off+len)`; `len` is what the frame holds and may include
 * Ethernet padding past `totalLength`. `reset()` rebinds it without allocating; `checkLen()` must return
 * `Reason.ok` before the other accessors are used.
 */
export class Ipv4View extends WireView {
  /** The kernel's ip_rcv_core checks, in its order; the header checksum is left to `verifyChecksum()`. */
  checkLen(): ReasonCode {
    if (this.len < IPV4_MIN_HEADER_LEN) return Reason.ipv4Truncated;
    const first = this.buf[this.off] as number;
    if (first >>> 4 !== 4) return Reason.ipv4BadVersion;
    const headerLen = (first & 0x0f) * 4;
    if (headerLen < IPV4_MIN_HEADER_LEN || headerLen > this.len) return Reason.ipv4BadIhl;
    const totalLength = read16(this.buf, this.off + Ipv4Field.totalLength);
    if (totalLength < headerLen || totalLength > this.len) return Reason.ipv4BadTotalLen;
    return Reason.ok;
  }

  /** True when the header checksum is right (a stored 0xffff is accepted as the other form of zero). */
  verifyChecksum(): boolean {
    return inetChecksum(this.buf, this.off, this.headerLen) === 0;
  }

  /** Recomputes the header checksum from scratch (after raw writes, or for headers uvs builds). */
  fillChecksum(): void {
    write16(this.buf, this.off + Ipv4Field.checksum, ipv4HeaderChecksum(this.buf, this.off, this.headerLen));
  }

  get version(): number {
    return (this.buf[this.off] as number) >>> 4;
  }

  /** The IHL field: header length in 32-bit words. */
  get ihl(): number {
    return (this.buf[this.off] as number) & 0x0f;
  }

  /** Header length in bytes, options included: where the payload starts, relative to `off`. */
  get headerLen(): number {
    return ((this.buf[this.off] as number) & 0x0f) * 4;
  }

  get optionsLen(): number {
    return this.headerLen - IPV4_MIN_HEADER_LEN;
  }

  /** The whole TOS byte: DSCP in the upper six bits, ECN in the lower two (RFC 2474, RFC 3168). */
  get tos(): number {
    return this.buf[this.off + Ipv4Field.tos] as number;
  }

  get dscp(): number {
    return (this.buf[this.off + Ipv4Field.tos] as number) >>> 2;
  }

  get ecn(): number {
    return (this.buf[this.off + Ipv4Field.tos] as number) & 0x03;
  }

  get totalLength(): number {
    return read16(this.buf, this.off + Ipv4Field.totalLength);
  }

  get id(): number {
    return read16(this.buf, this.off + Ipv4Field.id);
  }

  get dontFrag(): boolean {
    return (read16(this.buf, this.off + Ipv4Field.flagsFragOffset) & Ipv4Flag.dontFrag) !== 0;
  }

  get moreFrags(): boolean {
    return (read16(this.buf, this.off + Ipv4Field.flagsFragOffset) & Ipv4Flag.moreFrags) !== 0;
  }

  /** Fragment offset in bytes (the field counts 8-byte units). */
  get fragOffset(): number {
    return (read16(this.buf, this.off + Ipv4Field.flagsFragOffset) & Ipv4Flag.offsetMask) * 8;
  }

  /** Any fragment, first or not: the kernel's ip_is_fragment (MF set or a non-zero offset). */
  get isFragment(): boolean {
    return (read16(this.buf, this.off + Ipv4Field.flagsFragOffset) & (Ipv4Flag.moreFrags | Ipv4Flag.offsetMask)) !== 0;
  }

  get ttl(): number {
    return this.buf[this.off + Ipv4Field.ttl] as number;
  }

  get protocol(): number {
    return this.buf[this.off + Ipv4Field.protocol] as number;
  }

  get checksum(): number {
    return read16(this.buf, this.off + Ipv4Field.checksum);
  }

  /** Raw write: no other field is touched. */
  set checksum(check: number) {
    write16(this.buf, this.off + Ipv4Field.checksum, check);
  }

  get src(): number {
    return readIpv4(this.buf, this.off + Ipv4Field.src);
  }

  get dst(): number {
    return readIpv4(this.buf, this.off + Ipv4Field.dst);
  }

  /** The source address as a signed 32-bit number (`src | 0`), which never allocates (see read32i). */
  get srcInt32(): number {
    return read32i(this.buf, this.off + Ipv4Field.src);
  }

  /** The destination address as a signed 32-bit number (`dst | 0`). */
  get dstInt32(): number {
    return read32i(this.buf, this.off + Ipv4Field.dst);
  }

  get payloadOff(): number {
    return this.off + this.headerLen;
  }

  /** From `totalLength`, not from the frame, so Ethernet padding after the packet is not payload. */
  get payloadLen(): number {
    return this.totalLength - this.headerLen;
  }

  /**
   * Rewrites the source address, keeping the header checksum valid (RFC 1624). `addr` may be unsigned or
   * signed (`addr | 0`, which the datapath passes so that it stays a small integer).
   */
  setSrc(addr: number): void {
    const at = this.off + Ipv4Field.src;
    const csumAt = this.off + Ipv4Field.checksum;
    write16(this.buf, csumAt, csumReplace32(read16(this.buf, csumAt), read32i(this.buf, at), addr));
    writeIpv4(this.buf, at, addr);
  }

  /** Rewrites the destination address, keeping the header checksum valid (RFC 1624). */
  setDst(addr: number): void {
    const at = this.off + Ipv4Field.dst;
    const csumAt = this.off + Ipv4Field.checksum;
    write16(this.buf, csumAt, csumReplace32(read16(this.buf, csumAt), read32i(this.buf, at), addr));
    writeIpv4(this.buf, at, addr);
  }

  /** Rewrites the whole TOS byte, keeping the header checksum valid (RFC 1624). */
  setTos(tos: number): void {
    const word = read16(this.buf, this.off);
    const csumAt = this.off + Ipv4Field.checksum;
    const newWord = (word & 0xff00) | (tos & 0xff);
    write16(this.buf, csumAt, csumReplace16(read16(this.buf, csumAt), word, newWord));
    this.buf[this.off + Ipv4Field.tos] = tos & 0xff;
  }

  /**
   * Decrements the TTL and returns the new value, updating the checksum as the kernel's ip_decrease_ttl
   * does: TTL is the high byte of its 16-bit word, so the checksum goes up by 0x0100 with end-around carry.
   * The caller checks `ttl > 1` first (IPVS answers ttl <= 1 with ICMP time exceeded instead); at TTL 0 the
   * wrap to 255 is not the 0x0100 step this arithmetic assumes, and the checksum would be off by one.
   */
  decrementTtl(): number {
    const csumAt = this.off + Ipv4Field.checksum;
    let check = read16(this.buf, csumAt) + 0x0100;
    check = (check + (check >= 0xffff ? 1 : 0)) & 0xffff;
    write16(this.buf, csumAt, check);
    const ttl = ((this.buf[this.off + Ipv4Field.ttl] as number) - 1) & 0xff;
    this.buf[this.off + Ipv4Field.ttl] = ttl;
    return ttl;
  }
}

/** Plain-object form for tests and the control plane; never used on the hot path. */
export interface Ipv4Repr {
  /** The whole TOS byte (DSCP << 2 | ECN). */
  tos: number;
  id: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** In bytes; a multiple of 8 (the low three bits are dropped on emit). */
  fragOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
  payloadLen: number;
  /** Raw option bytes; emit pads them with zeros (End of Option List) to a multiple of 4. */
  options?: Uint8Array;
}

/** Header length in bytes, options and their padding included. */
export function ipv4ReprLen(repr: Ipv4Repr): number {
  const optionsLen = repr.options?.length ?? 0;
  return IPV4_MIN_HEADER_LEN + ((optionsLen + 3) & ~3);
}

/**
 * Writes the header at `off`, checksum included; returns the offset of the payload.
 * Throws RangeError when the options do not fit in IHL (more than 40 bytes) or the total length does not
 * fit in 16 bits: this is the control plane's emitter, and a silently wrong header would be worse.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, off: number): number {
  const headerLen = ipv4ReprLen(repr);
  if (headerLen > IPV4_MAX_HEADER_LEN) throw new RangeError(`IPv4 options too long: ${headerLen - 20} bytes`);
  const totalLength = headerLen + repr.payloadLen;
  if (totalLength > IPV4_MAX_TOTAL_LEN) throw new RangeError(`IPv4 total length too large: ${totalLength}`);
  buf[off + Ipv4Field.versionIhl] = 0x40 | (headerLen / 4);
  buf[off + Ipv4Field.tos] = repr.tos & 0xff;
  write16(buf, off + Ipv4Field.totalLength, totalLength);
  write16(buf, off + Ipv4Field.id, repr.id);
  write16(
    buf,
    off + Ipv4Field.flagsFragOffset,
    (repr.dontFrag ? Ipv4Flag.dontFrag : 0) |
      (repr.moreFrags ? Ipv4Flag.moreFrags : 0) |
      ((repr.fragOffset >>> 3) & Ipv4Flag.offsetMask),
  );
  buf[off + Ipv4Field.ttl] = repr.ttl & 0xff;
  buf[off + Ipv4Field.protocol] = repr.protocol & 0xff;
  writeIpv4(buf, off + Ipv4Field.src, repr.src);
  writeIpv4(buf, off + Ipv4Field.dst, repr.dst);
  const options = repr.options;
  if (options) {
    buf.set(options, off + Ipv4Field.options);
    buf.fill(0, off + Ipv4Field.options + options.length, off + headerLen);
  }
  write16(buf, off + Ipv4Field.checksum, ipv4HeaderChecksum(buf, off, headerLen));
  return off + headerLen;
}

/** Parses a checked view back into its plain form; `options` is present only when the header has some. */
export function parseIpv4(view: Ipv4View): Ipv4Repr {
  const repr: Ipv4Repr = {
    tos: view.tos,
    id: view.id,
    dontFrag: view.dontFrag,
    moreFrags: view.moreFrags,
    fragOffset: view.fragOffset,
    ttl: view.ttl,
    protocol: view.protocol,
    src: view.src,
    dst: view.dst,
    payloadLen: view.payloadLen,
  };
  if (view.optionsLen > 0) {
    const start = view.off + Ipv4Field.options;
    repr.options = view.buf.slice(start, start + view.optionsLen);
  }
  return repr;
}
