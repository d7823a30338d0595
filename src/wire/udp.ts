// UDP datagram header (RFC 768), with full and RFC 1624 incremental checksums for NAT rewrites. Over IPv4
// a checksum of 0 means the sender computed none: it is valid as it stands and stays 0 through rewrites,
// as the kernel's udp_snat_handler/udp_dnat_handler leave it; a computed 0 is sent as 0xffff instead.
//
//   0      7 8     15 16    23 24    31
//  +--------+--------+--------+--------+
//  |     Source      |   Destination   |
//  |      Port       |      Port       |
//  +--------+--------+--------+--------+
//  |     Length      |    Checksum     |
//  +--------+--------+--------+--------+
//  |          data octets ...
import { IpProto } from '../constants.js';
import { read16, write16 } from './bytes.js';
import { csumReplace16, csumReplace32, fold16, l4Checksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { Reason, type ReasonCode } from './reason.js';
import { WireView } from './view.js';

export const UdpField = {
  srcPort: 0,
  dstPort: 2,
  length: 4,
  checksum: 6,
} as const;

export const UDP_HEADER_LEN = 8;

/** The checksum field value that means "no checksum" (RFC 768). */
export const UDP_NO_CHECKSUM = 0;

/**
 * A view over a UDP datagram at `buf[off, off+len)`, where `len` is the number of bytes available (the
 * IPv4 payload length). The datagram itself is `length` bytes, which `checkLen()` bounds by `len`; the
 * checksum covers exactly those bytes, so the checksum methods need no length argument. Ports have no
 * plain setters: a NAT rewrite must go through `setSrcPort`/`setDstPort`, which keep the checksum right.
 */
export class UdpView extends WireView {
  checkLen(): ReasonCode {
    if (this.len < UDP_HEADER_LEN) return Reason.udpTruncated;
    const length = this.length;
    if (length < UDP_HEADER_LEN || length > this.len) return Reason.udpBadLength;
    return Reason.ok;
  }

  /**
   * checkLen() for the first fragment of a datagram: the header must be there, and its length, which counts
   * the whole datagram, must exceed what this fragment holds of it.
   */
  checkHeader(): ReasonCode {
    if (this.len < UDP_HEADER_LEN) return Reason.udpTruncated;
    if (this.length <= this.len) return Reason.udpBadLength;
    return Reason.ok;
  }

  get srcPort(): number {
    return read16(this.buf, this.off + UdpField.srcPort);
  }

  get dstPort(): number {
    return read16(this.buf, this.off + UdpField.dstPort);
  }

  /** The length field: header plus data, in bytes. */
  get length(): number {
    return read16(this.buf, this.off + UdpField.length);
  }

  set length(v: number) {
    write16(this.buf, this.off + UdpField.length, v);
  }

  get checksum(): number {
    return read16(this.buf, this.off + UdpField.checksum);
  }

  set checksum(v: number) {
    write16(this.buf, this.off + UdpField.checksum, v);
  }

  get payloadOff(): number {
    return this.off + UDP_HEADER_LEN;
  }

  get payloadLen(): number {
    return this.length - UDP_HEADER_LEN;
  }

  /** True when the checksum is right, or absent (0). */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum === UDP_NO_CHECKSUM) return true;
    const length = this.length;
    return fold16(sum16(this.buf, this.off, length, pseudoHeaderSum(src, dst, IpProto.udp, length))) === 0xffff;
  }

  /** Computes the checksum over the pseudo-header and `length` bytes; a computed 0 is written as 0xffff. */
  fillChecksum(src: number, dst: number): void {
    this.checksum = l4Checksum(this.buf, src, dst, IpProto.udp, this.off, this.length, UdpField.checksum);
  }

  setSrcPort(port: number): void {
    const at = this.off + UdpField.srcPort;
    const check = this.checksum;
    if (check !== UDP_NO_CHECKSUM) this.checksum = nonZero(csumReplace16(check, read16(this.buf, at), port));
    write16(this.buf, at, port);
  }

  setDstPort(port: number): void {
    const at = this.off + UdpField.dstPort;
    const check = this.checksum;
    if (check !== UDP_NO_CHECKSUM) this.checksum = nonZero(csumReplace16(check, read16(this.buf, at), port));
    write16(this.buf, at, port);
  }

  /**
   * Updates the checksum for an IPv4 source or destination rewrite. The address lives in the IP header,
   * which the IPv4 view rewrites, but the UDP checksum covers it through the pseudo-header.
   */
  adjustForAddressChange(oldAddr: number, newAddr: number): void {
    const check = this.checksum;
    if (check !== UDP_NO_CHECKSUM) this.checksum = nonZero(csumReplace32(check, oldAddr, newAddr));
  }
}

/** RFC 768: a computed 0 is transmitted as all ones, since 0 on the wire means "no checksum". */
function nonZero(check: number): number {
  return check === 0 ? 0xffff : check;
}

/** Plain-object form for tests and the control plane; never used on the hot path. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Emit with checksum 0 ("none") instead of computing it. */
  noChecksum?: boolean;
  payload: Uint8Array;
}

export function udpReprLen(repr: UdpRepr): number {
  return UDP_HEADER_LEN + repr.payload.length;
}

/**
 * Writes the datagram at `off`, with its checksum over the pseudo-header of `src` → `dst` unless
 * `noChecksum`; returns the offset just past the payload.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, off: number, src: number, dst: number): number {
  const len = udpReprLen(repr);
  write16(buf, off + UdpField.srcPort, repr.srcPort);
  write16(buf, off + UdpField.dstPort, repr.dstPort);
  write16(buf, off + UdpField.length, len);
  write16(buf, off + UdpField.checksum, UDP_NO_CHECKSUM);
  buf.set(repr.payload, off + UDP_HEADER_LEN);
  if (!repr.noChecksum) {
    write16(buf, off + UdpField.checksum, l4Checksum(buf, src, dst, IpProto.udp, off, len, UdpField.checksum));
  }
  return off + len;
}

/** Parses a checked view back into its plain form, copying the payload (bytes past `length` are dropped). */
export function parseUdp(view: UdpView): UdpRepr {
  const repr: UdpRepr = {
    srcPort: view.srcPort,
    dstPort: view.dstPort,
    payload: view.buf.slice(view.payloadOff, view.off + view.length),
  };
  if (view.checksum === UDP_NO_CHECKSUM) repr.noChecksum = true;
  return repr;
}
