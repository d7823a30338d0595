// The transmitters (ip_vs_xmit.c): what each forwarding method does to a packet bound for its real server,
// and to a NAT reply on its way back, before the next-hop stage (nexthop.ts) puts the MACs on. Also the
// route/TTL/MTU check every forwarded packet passes first (__ip_vs_get_out_rt) and the ICMP errors that
// check and the scheduler answer with (icmp_send). A new forwarding method is a method here beside nat(),
// dr() and tun(), called from forward(); see docs/architecture.md for the other places it touches.
import { IpProto } from '../constants.js';
import { Fwd } from '../dest/dest.js';
import type { FrameBatch } from '../io/batch.js';
import { writeIpv4 } from '../wire/addr.js';
import { read16, read32i, write16, write32 } from '../wire/bytes.js';
import { csumReplace16, csumReplace32, ipv4HeaderChecksum } from '../wire/checksum.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { emitIcmpError, IcmpType, IcmpUnreachableCode } from '../wire/icmp.js';
import { encapIpip, IPIP_HEADER_LEN, type IpipOuter } from '../wire/ipip.js';
import { Ipv4Field } from '../wire/ipv4.js';
import { TcpField } from '../wire/tcp.js';
import { CONTINUE, type DatapathCounters, type PacketContext } from './context.js';
import { FragAction } from './fragments.js';
import type { IcmpRateLimit } from './icmp-limit.js';
import type { L3Tables } from './l3.js';
import type { NextHop } from './nexthop.js';
import { Drop, Verdict, type VerdictCode } from './reasons.js';

/** sysctl ip_default_ttl, used for the packets uvs makes itself (echo replies, ICMP errors). */
export const OWN_TTL = 64;
/** icmp_send(): TOS of an ICMP error is IPTOS_PREC_INTERNETCONTROL. */
const ICMP_ERROR_TOS = 0xc0;
/** RFC 791: the smallest MTU; IPVS drops tunnel packets when the inner MTU would go below it. */
const MIN_MTU = 68;

export class Transmit {
  /** The IPv4 ID counter of the packets uvs makes or encapsulates; the native fast path shares it. */
  ipId = 0;
  private readonly l3: L3Tables;
  private readonly nextHop: NextHop;
  private readonly counters: DatapathCounters;
  private readonly icmpLimit: IcmpRateLimit;
  private readonly outer: IpipOuter = { src: 0, dst: 0, ttl: 0, tos: 0, df: false, id: 0 };

  constructor(l3: L3Tables, nextHop: NextHop, counters: DatapathCounters, icmpLimit: IcmpRateLimit) {
    this.l3 = l3;
    this.nextHop = nextHop;
    this.counters = counters;
    this.icmpLimit = icmpLimit;
  }

  /** The transmitter of forwarding method `fwd`, toward `rip` (`| 0`) and, for NAT, `rport`. */
  forward(
    ctx: PacketContext,
    tx: FrameBatch,
    j: number,
    fwd: number,
    rip: number,
    rport: number,
    now: number,
  ): VerdictCode {
    if (fwd === Fwd.masq) return this.nat(ctx, tx, j, rip, rport, now);
    if (fwd === Fwd.route) return this.dr(ctx, tx, j, rip, now);
    if (fwd === Fwd.tunnel) return this.tun(ctx, tx, j, rip, now);
    return ctx.drop(Drop.localForward);
  }

  /** ip_vs_nat_xmit(): daddr:dport -> RIP:rport, L4 checksum updated incrementally, TTL - 1. */
  private nat(ctx: PacketContext, tx: FrameBatch, j: number, rip: number, rport: number, now: number): VerdictCode {
    const ip = ctx.ip;
    const v = this.routeTtlMtu(ctx, tx, j, rip, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    if (ip.protocol === IpProto.tcp) {
      rewriteTcpAddressPort(ip.buf, ip.off, ctx.tcp.off, Ipv4Field.dst, TcpField.dstPort, rip, rport);
    } else {
      ctx.udp.adjustForAddressChange(ip.dstInt32, rip);
      ctx.udp.setDstPort(rport);
      ip.setDst(rip);
    }
    ctx.fragAction = FragAction.natIn;
    ctx.fragAddr = rip;
    this.counters.forwardedIn++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
  }

  /** ip_vs_dr_xmit(): the RIP is the next hop (FLOWI_FLAG_KNOWN_NH); only TTL and header checksum change. */
  dr(ctx: PacketContext, tx: FrameBatch, j: number, rip: number, now: number): VerdictCode {
    if (!this.l3.route(rip, ctx) || ctx.outHop !== rip) return ctx.drop(Drop.drOffLink);
    const v = this.routeTtlMtu(ctx, tx, j, rip, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    ctx.fragAction = FragAction.route;
    ctx.fragAddr = rip;
    this.counters.forwardedIn++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
  }

  /**
   * ip_vs_tunnel_xmit(): an outer IPv4 header (route source -> RIP, protocol 4) written into the headroom.
   * TTL = inner TTL after the decrement; TOS = inner TOS with CE turned into ECT(0) (INET_ECN_encapsulate);
   * DF copied from the inner header (pmtu_disc=1); ID 0 with DF, else from a counter. The inner packet may
   * be at most the route MTU - 20: larger with DF set -> ICMP fragmentation needed with that MTU.
   */
  tun(ctx: PacketContext, tx: FrameBatch, j: number, rip: number, now: number): VerdictCode {
    const ip = ctx.ip;
    const v = this.routeTtlMtu(ctx, tx, j, rip, IPIP_HEADER_LEN, now);
    if (v !== CONTINUE) return v as VerdictCode;
    const ttl = ip.ttl;
    const tos = ip.tos;
    const outer = this.outer;
    outer.src = ctx.outSrc;
    outer.dst = rip;
    outer.ttl = ttl;
    outer.tos = (tos & 0xfc) | ((tos & 3) === 3 ? 2 : tos & 3);
    outer.df = ip.dontFrag;
    outer.id = outer.df ? 0 : this.nextIpId();
    const buf = tx.bytes;
    const off = tx.offset[j]!;
    // The Ethernet header moves 20 bytes forward into the headroom (a loop: copyWithin is a native call).
    for (let k = 0; k < ETH_HEADER_LEN; k++) buf[off - IPIP_HEADER_LEN + k] = buf[off + k]!;
    encapIpip(buf, off + ETH_HEADER_LEN, outer);
    tx.adjustHead(j, -IPIP_HEADER_LEN);
    ctx.fragAction = FragAction.tunnel;
    ctx.fragAddr = rip;
    this.counters.forwardedIn++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
  }

  /** handle_response()'s rewrite: a NAT reply RIP:rport -> client leaves as VIP:vport -> client. */
  natReply(ctx: PacketContext, tx: FrameBatch, j: number, vaddr: number, vport: number, now: number): VerdictCode {
    const ip = ctx.ip;
    const v = this.routeTtlMtu(ctx, tx, j, ip.dstInt32, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    if (ip.protocol === IpProto.tcp) {
      rewriteTcpAddressPort(ip.buf, ip.off, ctx.tcp.off, Ipv4Field.src, TcpField.srcPort, vaddr, vport);
    } else {
      ctx.udp.adjustForAddressChange(ip.srcInt32, vaddr);
      ctx.udp.setSrcPort(vport);
      ip.setSrc(vaddr);
    }
    ctx.fragAction = FragAction.natOut;
    ctx.fragAddr = vaddr;
    this.counters.forwardedOut++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
  }

  /**
   * __ip_vs_get_out_rt(), in the kernel's order: route to `dst`; TTL <= 1 -> ICMP time exceeded, else TTL - 1
   * (decrement_ttl); then the MTU, less `overhead` for a tunnel (below 68 -> drop): larger with DF ->
   * ICMP fragmentation needed with that MTU (ensure_mtu_is_adequate; not for ICMP), larger without DF ->
   * dropped, since uvs does not fragment. Leaves the route in ctx (outIf/outHop/outSrc); CONTINUE when the
   * packet may go.
   */
  routeTtlMtu(ctx: PacketContext, tx: FrameBatch, j: number, dst: number, overhead: number, now: number): number {
    const ip = ctx.ip;
    if (!this.l3.route(dst, ctx)) return ctx.drop(Drop.noRoute);
    if (ip.ttl <= 1) return this.sendIcmpError(ctx, tx, j, IcmpType.timeExceeded, 0, 0, now);
    ip.decrementTtl();
    const mtu = this.l3.ifMtu[ctx.outIf]! - overhead;
    if (overhead !== 0 && mtu < MIN_MTU) return ctx.drop(Drop.tunMtuTooSmall);
    if (ip.totalLength > mtu) {
      if (ip.dontFrag && ip.protocol !== IpProto.icmp) {
        return this.sendIcmpError(ctx, tx, j, IcmpType.destUnreachable, IcmpUnreachableCode.fragNeeded, mtu, now);
      }
      return ctx.drop(Drop.needsFragmentation);
    }
    return CONTINUE;
  }

  /**
   * Replaces the packet in slot j by an ICMP error about it, to its sender (icmp_send()): from the address
   * it was sent to when uvs owns it, else from the route's source toward the sender; it quotes the IP header
   * and 8 bytes. Errors about ICMP errors are never sent (RFC 1122 3.2.2).
   */
  sendIcmpError(
    ctx: PacketContext,
    tx: FrameBatch,
    j: number,
    type: number,
    code: number,
    rest: number,
    now: number,
  ): VerdictCode {
    const ip = ctx.ip;
    const buf = ip.buf;
    if (ip.protocol === IpProto.icmp && ctx.icmp.isError) return ctx.drop(Drop.icmpErrorSuppressed);
    // icmp_send(): "only reply to fragment 0".
    if (ip.fragOffset !== 0) return ctx.drop(Drop.icmpErrorSuppressed);
    const sender = ip.srcInt32;
    if (!this.icmpLimit.allow(type, code, sender, now)) return ctx.drop(Drop.icmpRateLimited);
    const dst = ip.dstInt32;
    if (!this.l3.route(sender, ctx)) return ctx.drop(Drop.noRoute);
    const src = this.l3.ownerOf(dst) >= 0 ? dst : ctx.outSrc;
    const ipOff = ip.off;
    const end = emitIcmpError(buf, ipOff + 20, type, code, rest, buf, ipOff, ip.totalLength);
    const total = end - ipOff;
    this.writeIpv4Header(buf, ipOff, total, IpProto.icmp, src, sender);
    tx.length[j] = ipOff - tx.offset[j]! + total;
    this.counters.icmpErrorsSent++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.reply);
  }

  /** A plain 20-byte header for a packet uvs makes: no DF (icmp_send does not set it), TTL 64. */
  private writeIpv4Header(buf: Uint8Array, off: number, total: number, proto: number, src: number, dst: number): void {
    buf[off] = 0x45;
    buf[off + Ipv4Field.tos] = ICMP_ERROR_TOS;
    write16(buf, off + Ipv4Field.totalLength, total);
    write16(buf, off + Ipv4Field.id, this.nextIpId());
    write16(buf, off + Ipv4Field.flagsFragOffset, 0);
    buf[off + Ipv4Field.ttl] = OWN_TTL;
    buf[off + Ipv4Field.protocol] = proto;
    writeIpv4(buf, off + Ipv4Field.src, src);
    writeIpv4(buf, off + Ipv4Field.dst, dst);
    write16(buf, off + Ipv4Field.checksum, ipv4HeaderChecksum(buf, off, 20));
  }

  private nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }
}

/**
 * The NAT rewrite of a TCP segment in one step: the address at `ipOff + addrField` and the port at
 * `tcpOff + portField` become `addr` (`| 0`) and `port`, with the TCP checksum (pseudo-header address, then
 * port) and the IPv4 header checksum updated by RFC 1624 in the same order, and so to the same bits, as
 * TcpView.adjustForAddressChange + setSrcPort/setDstPort + Ipv4View.setSrc/setDst. One function instead of
 * five view calls: those small calls were not all inlined, and each re-derived its offsets.
 */
export function rewriteTcpAddressPort(
  buf: Uint8Array,
  ipOff: number,
  tcpOff: number,
  addrField: number,
  portField: number,
  addr: number,
  port: number,
): void {
  const addrAt = ipOff + addrField;
  const oldAddr = read32i(buf, addrAt);
  const portAt = tcpOff + portField;
  const tcpCheckAt = tcpOff + TcpField.checksum;
  const tcpCheck = csumReplace16(csumReplace32(read16(buf, tcpCheckAt), oldAddr, addr), read16(buf, portAt), port);
  write16(buf, tcpCheckAt, tcpCheck);
  write16(buf, portAt, port);
  const ipCheckAt = ipOff + Ipv4Field.checksum;
  write16(buf, ipCheckAt, csumReplace32(read16(buf, ipCheckAt), oldAddr, addr));
  write32(buf, addrAt, addr);
}
