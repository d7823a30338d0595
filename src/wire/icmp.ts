// ICMP for IPv4 (RFC 792; next-hop MTU from RFC 1191). uvs reads ICMP errors to find the connection they
// belong to (the quoted original header and ports), rewrites them for NAT as ip_vs_nat_icmp does, answers
// echo requests for its own addresses, and builds the errors a forwarder sends (fragmentation needed,
// port unreachable, time exceeded).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  echo: Identifier             |  echo: Sequence Number        |
//  |  type 3 code 4: unused (0)    |  Next-Hop MTU (RFC 1191)      |
//  |  other errors: unused (0)                                     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  echo: data ...                                               |
//  |  errors: original IPv4 header (IHL x 4) + first 8 bytes of    |
//  |          its payload (the L4 ports) ...                       |
import { read16, read32, write16, write32 } from './bytes.js';
import { csumReplace16, fold16, inetChecksum, ipv4HeaderChecksum, sum16 } from './checksum.js';
import { Reason, type ReasonCode } from './reason.js';
import { WireView } from './view.js';

export const IcmpField = {
  type: 0,
  code: 1,
  checksum: 2,
  echoId: 4,
  echoSeq: 6,
  nextHopMtu: 6,
  /** Where an error's quoted original datagram starts. */
  inner: 8,
} as const;

/** Offsets inside the quoted original IPv4 header, relative to its start. */
export const IcmpInnerField = {
  versionIhl: 0,
  fragOff: 6,
  protocol: 9,
  checksum: 10,
  src: 12,
  dst: 16,
} as const;

export const IcmpType = {
  echoReply: 0,
  destUnreachable: 3,
  sourceQuench: 4,
  redirect: 5,
  echoRequest: 8,
  timeExceeded: 11,
  parameterProblem: 12,
} as const;

export const IcmpUnreachableCode = {
  net: 0,
  host: 1,
  protocol: 2,
  port: 3,
  fragNeeded: 4,
  sourceRouteFailed: 5,
} as const;

export const IcmpTimeExceededCode = {
  ttl: 0,
  reassembly: 1,
} as const;

export const ICMP_HEADER_LEN = 8;
const IPV4_MIN_HEADER_LEN = 20;
/** RFC 792: an error quotes the original IP header and the first 64 bits of its data. */
export const ICMP_QUOTED_L4_LEN = 8;

/**
 * A view over an ICMP message at `buf[off, off+len)`, where `len` is the message length (IPv4 total
 * length minus IHL). `reset()` rebinds it without allocating; `checkLen()` must return `Reason.ok` before
 * the header accessors are used, and for an error `checkInner()` too before the `inner*` accessors are.
 */
export class IcmpView extends WireView {
  checkLen(): ReasonCode {
    return this.len < ICMP_HEADER_LEN ? Reason.icmpTruncated : Reason.ok;
  }

  /**
   * Checks that the quoted original header and 8 bytes of its payload fit, which is what it takes to
   * identify the flow. The quoted header's version is not checked, as IPVS does not check it either.
   */
  checkInner(): ReasonCode {
    if (this.len < ICMP_HEADER_LEN + IPV4_MIN_HEADER_LEN) return Reason.icmpInnerTruncated;
    const headerLen = this.innerHeaderLen;
    if (headerLen < IPV4_MIN_HEADER_LEN) return Reason.icmpInnerTruncated;
    if (ICMP_HEADER_LEN + headerLen + ICMP_QUOTED_L4_LEN > this.len) return Reason.icmpInnerTruncated;
    return Reason.ok;
  }

  get type(): number {
    return this.buf[this.off + IcmpField.type] as number;
  }

  set type(v: number) {
    this.buf[this.off + IcmpField.type] = v & 0xff;
  }

  get code(): number {
    return this.buf[this.off + IcmpField.code] as number;
  }

  set code(v: number) {
    this.buf[this.off + IcmpField.code] = v & 0xff;
  }

  get checksum(): number {
    return read16(this.buf, this.off + IcmpField.checksum);
  }

  set checksum(v: number) {
    write16(this.buf, this.off + IcmpField.checksum, v);
  }

  /**
   * An error that quotes a datagram IPVS relates to a connection: destination unreachable, source quench
   * and time exceeded (ip_vs_in_icmp/ip_vs_out_icmp ignore redirects and parameter problems).
   */
  get isError(): boolean {
    const type = this.type;
    return type === IcmpType.destUnreachable || type === IcmpType.sourceQuench || type === IcmpType.timeExceeded;
  }

  get echoId(): number {
    return read16(this.buf, this.off + IcmpField.echoId);
  }

  set echoId(v: number) {
    write16(this.buf, this.off + IcmpField.echoId, v);
  }

  get echoSeq(): number {
    return read16(this.buf, this.off + IcmpField.echoSeq);
  }

  set echoSeq(v: number) {
    write16(this.buf, this.off + IcmpField.echoSeq, v);
  }

  /** Next-hop MTU of a fragmentation-needed message (type 3 code 4); 0 from pre-RFC 1191 routers. */
  get nextHopMtu(): number {
    return read16(this.buf, this.off + IcmpField.nextHopMtu);
  }

  set nextHopMtu(v: number) {
    write16(this.buf, this.off + IcmpField.nextHopMtu, v);
  }

  /** Where the echo data or the quoted datagram starts. */
  get payloadOff(): number {
    return this.off + ICMP_HEADER_LEN;
  }

  get innerOff(): number {
    return this.off + IcmpField.inner;
  }

  get innerHeaderLen(): number {
    return ((this.buf[this.off + IcmpField.inner + IcmpInnerField.versionIhl] as number) & 0x0f) * 4;
  }

  get innerProtocol(): number {
    return this.buf[this.off + IcmpField.inner + IcmpInnerField.protocol] as number;
  }

  /** Fragment offset of the quoted datagram in 8-byte units; non-zero means no L4 header was quoted. */
  get innerFragOffset(): number {
    return read16(this.buf, this.off + IcmpField.inner + IcmpInnerField.fragOff) & 0x1fff;
  }

  get innerSrc(): number {
    return read32(this.buf, this.off + IcmpField.inner + IcmpInnerField.src);
  }

  /** Plain write: the quoted header's checksum is fixed by `fillInnerHeaderChecksum()` afterwards. */
  set innerSrc(addr: number) {
    write32(this.buf, this.off + IcmpField.inner + IcmpInnerField.src, addr);
  }

  get innerDst(): number {
    return read32(this.buf, this.off + IcmpField.inner + IcmpInnerField.dst);
  }

  set innerDst(addr: number) {
    write32(this.buf, this.off + IcmpField.inner + IcmpInnerField.dst, addr);
  }

  /** Where the quoted L4 header starts; its first 8 bytes are present once `checkInner()` is ok. */
  get innerL4Off(): number {
    return this.off + IcmpField.inner + this.innerHeaderLen;
  }

  /** Source port of a quoted TCP, UDP or SCTP header (the first 16 bits of each). */
  get innerSrcPort(): number {
    return read16(this.buf, this.innerL4Off);
  }

  /**
   * Plain write, as in ip_vs_nat_icmp: the quoted L4 checksum is left alone (it covers data that was not
   * quoted), and the ICMP checksum is recomputed by `fillChecksum()` afterwards.
   */
  set innerSrcPort(port: number) {
    write16(this.buf, this.innerL4Off, port);
  }

  get innerDstPort(): number {
    return read16(this.buf, this.innerL4Off + 2);
  }

  set innerDstPort(port: number) {
    write16(this.buf, this.innerL4Off + 2, port);
  }

  /** Recomputes the quoted IPv4 header's checksum after its addresses were rewritten (ip_send_check). */
  fillInnerHeaderChecksum(): void {
    const at = this.off + IcmpField.inner;
    write16(this.buf, at + IcmpInnerField.checksum, ipv4HeaderChecksum(this.buf, at, this.innerHeaderLen));
  }

  /** True when the checksum over the `len` bytes of message is right (no pseudo-header for ICMP). */
  verifyChecksum(len: number): boolean {
    return fold16(sum16(this.buf, this.off, len)) === 0xffff;
  }

  fillChecksum(len: number): void {
    this.checksum = 0;
    this.checksum = inetChecksum(this.buf, this.off, len);
  }
}

/**
 * Turns a checked echo request into the matching echo reply in place: type 0, code 0, the identifier,
 * sequence number and data kept (RFC 792), the checksum updated incrementally. The request's checksum
 * must have been verified first, since a wrong one stays wrong. Swapping the IPv4 addresses is the IPv4
 * view's part.
 */
export function emitEchoReplyInPlace(view: IcmpView): void {
  const at = view.off + IcmpField.type;
  const from = read16(view.buf, at);
  const to = IcmpType.echoReply << 8;
  view.checksum = csumReplace16(view.checksum, from, to);
  write16(view.buf, at, to);
}

/**
 * Writes an ICMP error at `off` quoting the original datagram at `orig[origOff, origOff+origLen)`: its
 * IPv4 header (IHL taken from its first byte) and the first 8 bytes of its payload, or less when the
 * datagram is shorter (RFC 792; RFC 1812 4.3.2.3 allows quoting more, which the kernel does up to 576
 * bytes, but the header and 8 bytes are what every receiver needs). `rest` fills bytes 4..7. `orig` may
 * be `buf` itself and overlap the output, as when the error is built over the frame that caused it.
 * Returns the offset just past the message.
 */
export function emitIcmpError(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  rest: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
): number {
  const wanted = ((orig[origOff] as number) & 0x0f) * 4 + ICMP_QUOTED_L4_LEN;
  const quoteLen = Math.min(origLen, wanted);
  // Quote first: the header written below may overlap the original.
  copyOverlapping(orig, origOff, buf, off + ICMP_HEADER_LEN, quoteLen);
  buf[off + IcmpField.type] = type;
  buf[off + IcmpField.code] = code;
  write16(buf, off + IcmpField.checksum, 0);
  write32(buf, off + 4, rest);
  const len = ICMP_HEADER_LEN + quoteLen;
  write16(buf, off + IcmpField.checksum, inetChecksum(buf, off, len));
  return off + len;
}

/** Fragmentation needed and DF set (type 3 code 4), announcing the next-hop `mtu` (RFC 1191). */
export function emitFragNeeded(
  buf: Uint8Array,
  off: number,
  mtu: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
): number {
  const type = IcmpType.destUnreachable;
  return emitIcmpError(buf, off, type, IcmpUnreachableCode.fragNeeded, mtu & 0xffff, orig, origOff, origLen);
}

/** Port unreachable (type 3 code 3): what ip_vs_leave sends when a service has no destination. */
export function emitPortUnreachable(
  buf: Uint8Array,
  off: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
): number {
  return emitIcmpError(buf, off, IcmpType.destUnreachable, IcmpUnreachableCode.port, 0, orig, origOff, origLen);
}

/** Time to live exceeded in transit (type 11 code 0). */
export function emitTimeExceeded(
  buf: Uint8Array,
  off: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
): number {
  return emitIcmpError(buf, off, IcmpType.timeExceeded, IcmpTimeExceededCode.ttl, 0, orig, origOff, origLen);
}

/** memmove: copies backwards when the destination overlaps the source from above. */
function copyOverlapping(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): void {
  if (src === dst && dstOff > srcOff) {
    for (let i = len - 1; i >= 0; i--) dst[dstOff + i] = src[srcOff + i] as number;
  } else {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i] as number;
  }
}

/** Plain-object form for tests and the control plane; never used on the hot path. */
export interface IcmpRepr {
  type: number;
  code: number;
  /** Echo request and reply only. */
  id?: number;
  seq?: number;
  /** Fragmentation needed (type 3 code 4) only. */
  mtu?: number;
  /** Echo data, or an error's quoted datagram. */
  payload: Uint8Array;
}

function isEcho(type: number): boolean {
  return type === IcmpType.echoRequest || type === IcmpType.echoReply;
}

function isFragNeeded(type: number, code: number): boolean {
  return type === IcmpType.destUnreachable && code === IcmpUnreachableCode.fragNeeded;
}

export function icmpReprLen(repr: IcmpRepr): number {
  return ICMP_HEADER_LEN + repr.payload.length;
}

/** Writes the message at `off` with its checksum; returns the offset just past it. */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, off: number): number {
  buf[off + IcmpField.type] = repr.type;
  buf[off + IcmpField.code] = repr.code;
  write16(buf, off + IcmpField.checksum, 0);
  if (isEcho(repr.type)) {
    write16(buf, off + IcmpField.echoId, repr.id ?? 0);
    write16(buf, off + IcmpField.echoSeq, repr.seq ?? 0);
  } else {
    write32(buf, off + 4, isFragNeeded(repr.type, repr.code) ? (repr.mtu ?? 0) & 0xffff : 0);
  }
  buf.set(repr.payload, off + ICMP_HEADER_LEN);
  const len = icmpReprLen(repr);
  write16(buf, off + IcmpField.checksum, inetChecksum(buf, off, len));
  return off + len;
}

/** Parses a checked view back into its plain form, copying the payload. */
export function parseIcmp(view: IcmpView): IcmpRepr {
  const repr: IcmpRepr = {
    type: view.type,
    code: view.code,
    payload: view.buf.slice(view.payloadOff, view.off + view.len),
  };
  if (isEcho(repr.type)) {
    repr.id = view.echoId;
    repr.seq = view.echoSeq;
  } else if (isFragNeeded(repr.type, repr.code)) {
    repr.mtu = view.nextHopMtu;
  }
  return repr;
}
