// TCP segment header (RFC 9293, which obsoletes RFC 793), with the checksum work a NAT forwarder needs:
// full computation over the IPv4 pseudo-header, and RFC 1624 incremental updates for port and address
// rewrites (what IPVS does in tcp_snat_handler/tcp_dnat_handler via tcp_fast_csum_update).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Acknowledgment Number                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Data |       |C|E|U|A|P|R|S|F|                               |
//  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//  |       |       |R|E|G|K|H|T|N|N|                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           Checksum            |         Urgent Pointer        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (Data Offset - 5 words)            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                             data                              |
import { IpProto } from '../constants.js';
import { read16, read32, write16, write32 } from './bytes.js';
import { csumReplace16, csumReplace32, fold16, l4Checksum, pseudoHeaderSum, sum16 } from './checksum.js';
import { Reason, type ReasonCode } from './reason.js';
import { WireView } from './view.js';

export const TcpField = {
  srcPort: 0,
  dstPort: 2,
  seq: 4,
  ack: 8,
  dataOffset: 12,
  flags: 13,
  window: 14,
  checksum: 16,
  urgent: 18,
  options: 20,
} as const;

/** Control bits of byte 13, as a bit set (RFC 9293 section 3.1; ECE and CWR from RFC 3168). */
export const TcpFlag = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ece: 0x40,
  cwr: 0x80,
} as const;

export const TCP_HEADER_LEN = 20;
/** The data offset is a 4-bit count of 32-bit words, so a header is at most 60 bytes. */
export const TCP_MAX_HEADER_LEN = 60;

const EMPTY = new Uint8Array(0);

/**
 * A view over a TCP segment at `buf[off, off+len)`, where `len` is the segment length (IPv4 total length
 * minus IHL). `reset()` rebinds it without allocating; `checkLen()` must return `Reason.ok` before the
 * other accessors are used. Ports have no plain setters: a NAT rewrite must go through `setSrcPort`/
 * `setDstPort`, which keep the checksum right.
 */
export class TcpView extends WireView {
  checkLen(): ReasonCode {
    if (this.len < TCP_HEADER_LEN) return Reason.tcpTruncated;
    const headerLen = this.headerLen;
    if (headerLen < TCP_HEADER_LEN || headerLen > this.len) return Reason.tcpBadDataOffset;
    return Reason.ok;
  }

  /** Header length in bytes, options included (data offset x 4). */
  get headerLen(): number {
    return ((this.buf[this.off + TcpField.dataOffset] as number) >>> 4) * 4;
  }

  set headerLen(bytes: number) {
    const at = this.off + TcpField.dataOffset;
    // The low nibble holds reserved bits (and the historic NS bit); keep whatever is there.
    this.buf[at] = (((bytes >>> 2) & 0x0f) << 4) | ((this.buf[at] as number) & 0x0f);
  }

  get optionsOff(): number {
    return this.off + TCP_HEADER_LEN;
  }

  get optionsLen(): number {
    return this.headerLen - TCP_HEADER_LEN;
  }

  get payloadOff(): number {
    return this.off + this.headerLen;
  }

  get payloadLen(): number {
    return this.len - this.headerLen;
  }

  get srcPort(): number {
    return read16(this.buf, this.off + TcpField.srcPort);
  }

  get dstPort(): number {
    return read16(this.buf, this.off + TcpField.dstPort);
  }

  get seq(): number {
    return read32(this.buf, this.off + TcpField.seq);
  }

  set seq(v: number) {
    write32(this.buf, this.off + TcpField.seq, v);
  }

  get ack(): number {
    return read32(this.buf, this.off + TcpField.ack);
  }

  set ack(v: number) {
    write32(this.buf, this.off + TcpField.ack, v);
  }

  /** The control bits as a `TcpFlag` bit set. */
  get flags(): number {
    return this.buf[this.off + TcpField.flags] as number;
  }

  set flags(bits: number) {
    this.buf[this.off + TcpField.flags] = bits & 0xff;
  }

  get fin(): boolean {
    return (this.flags & TcpFlag.fin) !== 0;
  }

  get syn(): boolean {
    return (this.flags & TcpFlag.syn) !== 0;
  }

  get rst(): boolean {
    return (this.flags & TcpFlag.rst) !== 0;
  }

  get ackFlag(): boolean {
    return (this.flags & TcpFlag.ack) !== 0;
  }

  get window(): number {
    return read16(this.buf, this.off + TcpField.window);
  }

  set window(v: number) {
    write16(this.buf, this.off + TcpField.window, v);
  }

  get checksum(): number {
    return read16(this.buf, this.off + TcpField.checksum);
  }

  set checksum(v: number) {
    write16(this.buf, this.off + TcpField.checksum, v);
  }

  get urgent(): number {
    return read16(this.buf, this.off + TcpField.urgent);
  }

  set urgent(v: number) {
    write16(this.buf, this.off + TcpField.urgent, v);
  }

  /** True when the checksum over the pseudo-header and `l4Len` bytes of segment is right. */
  verifyChecksum(src: number, dst: number, l4Len: number): boolean {
    // Summing the stored checksum along with everything it covers gives 0xffff when it is right; this also
    // accepts 0xffff in place of a computed 0, which is the same value in one's complement.
    return fold16(sum16(this.buf, this.off, l4Len, pseudoHeaderSum(src, dst, IpProto.tcp, l4Len))) === 0xffff;
  }

  fillChecksum(src: number, dst: number, l4Len: number): void {
    this.checksum = l4Checksum(this.buf, src, dst, IpProto.tcp, this.off, l4Len, TcpField.checksum);
  }

  setSrcPort(port: number): void {
    const at = this.off + TcpField.srcPort;
    this.checksum = csumReplace16(this.checksum, read16(this.buf, at), port);
    write16(this.buf, at, port);
  }

  setDstPort(port: number): void {
    const at = this.off + TcpField.dstPort;
    this.checksum = csumReplace16(this.checksum, read16(this.buf, at), port);
    write16(this.buf, at, port);
  }

  /**
   * Updates the checksum for an IPv4 source or destination rewrite. The address lives in the IP header,
   * which the IPv4 view rewrites, but the TCP checksum covers it through the pseudo-header.
   */
  adjustForAddressChange(oldAddr: number, newAddr: number): void {
    this.checksum = csumReplace32(this.checksum, oldAddr, newAddr);
  }
}

/** Plain-object form for tests and the control plane; never used on the hot path. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** `TcpFlag` bit set. */
  flags: number;
  window: number;
  urgent: number;
  /** Raw option bytes; emitted padded with zeros (end-of-option-list) to a multiple of 4. */
  options?: Uint8Array;
  payload: Uint8Array;
}

function tcpReprHeaderLen(repr: TcpRepr): number {
  return TCP_HEADER_LEN + (((repr.options?.length ?? 0) + 3) & ~3);
}

export function tcpReprLen(repr: TcpRepr): number {
  return tcpReprHeaderLen(repr) + repr.payload.length;
}

/**
 * Writes the segment at `off` with its checksum over the pseudo-header of `src` → `dst`; returns the
 * offset just past the payload.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, off: number, src: number, dst: number): number {
  const headerLen = tcpReprHeaderLen(repr);
  write16(buf, off + TcpField.srcPort, repr.srcPort);
  write16(buf, off + TcpField.dstPort, repr.dstPort);
  write32(buf, off + TcpField.seq, repr.seq);
  write32(buf, off + TcpField.ack, repr.ack);
  buf[off + TcpField.dataOffset] = (headerLen >>> 2) << 4;
  buf[off + TcpField.flags] = repr.flags & 0xff;
  write16(buf, off + TcpField.window, repr.window);
  write16(buf, off + TcpField.checksum, 0);
  write16(buf, off + TcpField.urgent, repr.urgent);
  const options = repr.options ?? EMPTY;
  buf.set(options, off + TcpField.options);
  buf.fill(0, off + TcpField.options + options.length, off + headerLen);
  buf.set(repr.payload, off + headerLen);
  const len = headerLen + repr.payload.length;
  write16(buf, off + TcpField.checksum, l4Checksum(buf, src, dst, IpProto.tcp, off, len, TcpField.checksum));
  return off + len;
}

/** Parses a checked view back into its plain form, copying options and payload. */
export function parseTcp(view: TcpView): TcpRepr {
  const repr: TcpRepr = {
    srcPort: view.srcPort,
    dstPort: view.dstPort,
    seq: view.seq,
    ack: view.ack,
    flags: view.flags,
    window: view.window,
    urgent: view.urgent,
    payload: view.buf.slice(view.payloadOff, view.off + view.len),
  };
  if (view.optionsLen > 0) repr.options = view.buf.slice(view.optionsOff, view.payloadOff);
  return repr;
}
