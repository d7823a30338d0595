// IP in IP (RFC 2003): an outer IPv4 header with protocol 4 directly before an inner IPv4 packet. uvs's TUN
// mode writes the outer header into the headroom in front of the packet it forwards, so the payload is never
// copied; the user-space decapsulator (`uvs rs tun`) uses `IpipView` to find the inner packet.
//
//  outerOff                innerOff = outerOff + 20
//  +-----------------------+--------------------------------------+
//  | outer IPv4 (IHL 5)    | inner IPv4 header | inner payload    |
//  | proto 4, DIP -> RIP   |                   |                  |
//  +-----------------------+--------------------------------------+
//  outer total length = inner total length + 20
import { IpProto } from '../constants.js';
import { writeIpv4 } from './addr.js';
import { read16, write16 } from './bytes.js';
import { ipv4HeaderChecksum } from './checksum.js';
import { IPV4_MAX_TOTAL_LEN, IPV4_MIN_HEADER_LEN, Ipv4Field, Ipv4Flag, Ipv4View } from './ipv4.js';
import { Reason, type ReasonCode } from './reason.js';

/** The outer header uvs writes has no options. */
export const IPIP_HEADER_LEN = IPV4_MIN_HEADER_LEN;

/**
 * The outer header's variable fields. The kernel's rules for choosing them (TTL and TOS copied from the
 * inner header, DF from the path MTU settings) live in the datapath; here they are plain inputs. The
 * datapath keeps one of these per worker and refills it, so encapsulating allocates nothing.
 */
export interface IpipOuter {
  src: number;
  dst: number;
  ttl: number;
  tos: number;
  df: boolean;
  id: number;
}

/**
 * Writes an outer IPv4 header in the `IPIP_HEADER_LEN` bytes before the inner IPv4 packet at `innerOff`,
 * whose total length is read from its header (the caller has validated it). Returns the outer header's
 * offset, or -1 when there is no headroom or the result would exceed 65535 bytes (the datapath then drops
 * or answers "fragmentation needed"; it never throws).
 */
export function encapIpip(buf: Uint8Array, innerOff: number, outer: IpipOuter): number {
  const off = innerOff - IPIP_HEADER_LEN;
  if (off < 0) return -1;
  const totalLength = read16(buf, innerOff + Ipv4Field.totalLength) + IPIP_HEADER_LEN;
  if (totalLength > IPV4_MAX_TOTAL_LEN) return -1;
  buf[off + Ipv4Field.versionIhl] = 0x45;
  buf[off + Ipv4Field.tos] = outer.tos & 0xff;
  write16(buf, off + Ipv4Field.totalLength, totalLength);
  write16(buf, off + Ipv4Field.id, outer.id);
  write16(buf, off + Ipv4Field.flagsFragOffset, outer.df ? Ipv4Flag.dontFrag : 0);
  buf[off + Ipv4Field.ttl] = outer.ttl & 0xff;
  buf[off + Ipv4Field.protocol] = IpProto.ipip;
  writeIpv4(buf, off + Ipv4Field.src, outer.src);
  writeIpv4(buf, off + Ipv4Field.dst, outer.dst);
  write16(buf, off + Ipv4Field.checksum, ipv4HeaderChecksum(buf, off, IPIP_HEADER_LEN));
  return off;
}

/**
 * A view over an IPIP packet whose outer IPv4 header is at `buf[off, off+len)`. `reset()` rebinds it without
 * allocating; after `checkLen()` returns `Reason.ok`, `outer` and `inner` are both checked IPv4 views and the
 * inner packet is `buf[innerOff, innerOff+innerLen)`. Checksums are left to `outer.verifyChecksum()` and
 * `inner.verifyChecksum()`.
 */
export class IpipView {
  readonly outer = new Ipv4View();
  readonly inner = new Ipv4View();

  reset(buf: Uint8Array, off: number, len: number): this {
    this.outer.reset(buf, off, len);
    this.inner.reset(buf, off, 0);
    return this;
  }

  checkLen(): ReasonCode {
    const outer = this.outer;
    const outerReason = outer.checkLen();
    if (outerReason !== Reason.ok) return outerReason;
    if (outer.protocol !== IpProto.ipip) return Reason.ipipBadProtocol;
    // A non-first fragment does not start with the inner header, and a first one holds only part of it.
    if (outer.isFragment) return Reason.ipipFragment;
    const inner = this.inner;
    const innerReason = inner.reset(outer.buf, outer.payloadOff, outer.payloadLen).checkLen();
    // The inner header not fitting in the outer payload is truncation; an IHL below 5 is a malformed header.
    if (innerReason === Reason.ipv4Truncated) return Reason.ipipTruncated;
    if (innerReason === Reason.ipv4BadIhl && inner.ihl >= 5) return Reason.ipipTruncated;
    return innerReason;
  }

  get innerOff(): number {
    return this.inner.off;
  }

  /** The inner packet's own total length: bytes after it inside the outer payload are not forwarded. */
  get innerLen(): number {
    return this.inner.totalLength;
  }
}
