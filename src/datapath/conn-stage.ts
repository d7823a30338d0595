// The connection stage (ip_vs_in, ip_vs_out, ip_vs_in_icmp/ip_vs_out_icmp): a TCP/UDP packet finds its
// connection client->VIP, or, for a NAT reply, RIP->client; on a miss the service is classified and the
// scheduler picks a real server (TCP only on a SYN without RST, UDP on any packet), or the client gets ICMP
// port unreachable (ip_vs_leave). Then the state transition, and the transmitter of the connection's
// forwarding method (xmit.ts). ICMP errors quoting a tracked connection and the later fragments of a
// forwarded datagram (fragments.ts) are handled here too, since they follow a connection.
import { NO_ENTRY } from '../conn/table.js';
import { TcpDir, TcpFlag } from '../conn/tcp-state.js';
import { IpProto } from '../constants.js';
import { Fwd } from '../dest/dest.js';
import type { FrameBatch } from '../io/batch.js';
import { type IpvsCore, Schedule } from '../ipvs/core.js';
import type { Service } from '../model/rules.js';
import { IcmpType, IcmpUnreachableCode } from '../wire/icmp.js';
import { Reason } from '../wire/reason.js';
import { CONTINUE, ConnKind, type DatapathCounters, type PacketContext } from './context.js';
import { FragAction, type FragmentTable } from './fragments.js';
import type { L3Tables } from './l3.js';
import type { NextHop } from './nexthop.js';
import { Drop, Verdict, type VerdictCode } from './reasons.js';
import type { Transmit } from './xmit.js';

/** conn_reuse_mode default: a SYN hitting a TIME_WAIT/CLOSE entry is scheduled anew. */
const CONN_REUSE_MODE = 1;

export class Connections {
  private readonly core: IpvsCore;
  private readonly l3: L3Tables;
  private readonly xmit: Transmit;
  private readonly nextHop: NextHop;
  private readonly frags: FragmentTable;
  private readonly counters: DatapathCounters;

  constructor(
    core: IpvsCore,
    l3: L3Tables,
    xmit: Transmit,
    nextHop: NextHop,
    frags: FragmentTable,
    counters: DatapathCounters,
  ) {
    this.core = core;
    this.l3 = l3;
    this.xmit = xmit;
    this.nextHop = nextHop;
    this.frags = frags;
    this.counters = counters;
  }

  /** A TCP or UDP packet (ctx.ip bound, not a later fragment). */
  l4(ctx: PacketContext, tx: FrameBatch, j: number, proto: number, now: number): VerdictCode {
    const ip = ctx.ip;
    let sport: number;
    let dport: number;
    let tcpFlags = 0;
    if (proto === IpProto.tcp) {
      const tcp = ctx.tcp.reset(ip.buf, ip.payloadOff, ip.payloadLen);
      const r = tcp.checkLen();
      if (r !== Reason.ok) return ctx.drop(r);
      sport = tcp.srcPort;
      dport = tcp.dstPort;
      tcpFlags = tcp.flags;
    } else {
      const udp = ctx.udp.reset(ip.buf, ip.payloadOff, ip.payloadLen);
      const r = ctx.firstFragment ? udp.checkHeader() : udp.checkLen();
      if (r !== Reason.ok) return ctx.drop(r);
      sport = udp.srcPort;
      dport = udp.dstPort;
    }
    const src = ip.srcInt32;
    const dst = ip.dstInt32;
    const core = this.core;
    const conns = core.conns;
    let slot = conns.lookupIn(proto, src, sport, dst, dport, now);
    if (
      slot !== NO_ENTRY &&
      proto === IpProto.tcp &&
      tcpFlags & TcpFlag.syn &&
      conns.isNewConnExpected(slot, CONN_REUSE_MODE)
    ) {
      // conn_reuse_mode: the old entry goes at once and the SYN is scheduled as a new connection.
      conns.expireEntry(slot, now);
      slot = NO_ENTRY;
    }
    if (slot !== NO_ENTRY) return this.inConn(ctx, tx, j, slot, proto, tcpFlags, ConnKind.known, now);
    const svc = this.l3.lookupService(core.rules.snapshot, proto, dst, dport);
    if (svc !== undefined) return this.scheduleIn(ctx, tx, j, svc, proto, src, sport, dst, dport, tcpFlags, now);
    const out = conns.lookupOut(proto, src, sport, dst, dport, now);
    if (out !== NO_ENTRY && conns.fwd[out] === Fwd.masq) return this.outConn(ctx, tx, j, out, proto, tcpFlags, now);
    return ctx.drop(this.l3.ownerOf(dst) >= 0 ? Drop.noService : Drop.notRouted);
  }

  /** A packet to a service without a connection (ip_vs_in() on a miss). */
  private scheduleIn(
    ctx: PacketContext,
    tx: FrameBatch,
    j: number,
    svc: Service,
    proto: number,
    src: number,
    sport: number,
    dst: number,
    dport: number,
    tcpFlags: number,
    now: number,
  ): VerdictCode {
    const core = this.core;
    ctx.trService = svc;
    // tcp_conn_schedule(): only a SYN without RST may create a connection.
    if (proto === IpProto.tcp && (tcpFlags & (TcpFlag.syn | TcpFlag.rst)) !== TcpFlag.syn) {
      return ctx.drop(Drop.tcpNoConn);
    }
    if (proto === IpProto.tcp && core.defense.dropsNewConnection()) return ctx.drop(Drop.defenseDropPacket);
    const decided = core.schedule(svc, proto, src, sport, dst, dport, now);
    if (decided === Schedule.created) return this.inConn(ctx, tx, j, core.slot, proto, tcpFlags, ConnKind.new, now);
    if (decided === Schedule.untracked) {
      const dest = core.dest!;
      ctx.trConn = ConnKind.untracked;
      ctx.trFwd = dest.fwd;
      this.counters.untracked++;
      return this.xmit.forward(ctx, tx, j, dest.fwd, dest.addr | 0, dest.port !== 0 ? dest.port : dport, now);
    }
    return this.xmit.sendIcmpError(ctx, tx, j, IcmpType.destUnreachable, IcmpUnreachableCode.port, 0, now);
  }

  /** ip_vs_in() after the lookup: server check, stats, state, then the connection's transmitter. */
  private inConn(
    ctx: PacketContext,
    tx: FrameBatch,
    j: number,
    slot: number,
    proto: number,
    tcpFlags: number,
    kind: number,
    now: number,
  ): VerdictCode {
    const conns = this.core.conns;
    ctx.trConn = kind;
    ctx.trSlot = slot;
    ctx.trStateBefore = conns.state[slot]!;
    ctx.trFwd = conns.fwd[slot]!;
    const dest = this.core.dests.get(conns.destId[slot]!);
    if (dest === undefined || !dest.available) return ctx.drop(Drop.destUnavailable);
    conns.countIn(slot, ctx.ip.totalLength);
    if (proto === IpProto.tcp) conns.tcpTransition(slot, TcpDir.input, tcpFlags, now);
    else conns.udpTransition(slot, now);
    return this.xmit.forward(ctx, tx, j, conns.fwd[slot]!, conns.daddrInt32Of(slot), conns.dportOf(slot), now);
  }

  /** handle_response(): a NAT reply RIP:rport -> client becomes VIP:vport -> client. */
  private outConn(
    ctx: PacketContext,
    tx: FrameBatch,
    j: number,
    slot: number,
    proto: number,
    tcpFlags: number,
    now: number,
  ): VerdictCode {
    const conns = this.core.conns;
    ctx.trConn = ConnKind.known;
    ctx.trSlot = slot;
    ctx.trStateBefore = conns.state[slot]!;
    ctx.trFwd = Fwd.masq;
    conns.countOut(slot, ctx.ip.totalLength);
    if (proto === IpProto.tcp) conns.tcpTransition(slot, TcpDir.output, tcpFlags, now);
    else conns.udpTransition(slot, now);
    return this.xmit.natReply(ctx, tx, j, conns.vaddrInt32Of(slot), conns.vportOf(slot), now);
  }

  /**
   * ICMP errors about a connection (ctx.icmp bound). To an owned address (ip_vs_in_icmp): the quoted packet
   * went VIP -> client, so the connection is found client -> VIP and the error goes to its real server; for
   * NAT the outer destination and the quoted source:port become RIP:rport (ip_vs_nat_icmp, inout 0). Passing
   * through (ip_vs_out_icmp): the quoted packet went client -> RIP; for NAT the outer source and the quoted
   * destination:port become VIP:vport. The quoted header's checksum and the ICMP checksum are recomputed.
   */
  icmpError(ctx: PacketContext, tx: FrameBatch, j: number, now: number): VerdictCode {
    const icmp = ctx.icmp;
    const ip = ctx.ip;
    const toOwned = this.l3.ownerOf(ip.dstInt32) >= 0;
    const r = icmp.checkInner();
    if (r !== Reason.ok) return ctx.drop(r);
    const proto = icmp.innerProtocol;
    if (icmp.innerFragOffset !== 0 || (proto !== IpProto.tcp && proto !== IpProto.udp)) {
      return ctx.drop(toOwned ? Drop.icmpUnrelated : Drop.notRouted);
    }
    const conns = this.core.conns;
    const qSrc = icmp.innerSrc;
    const qDst = icmp.innerDst;
    const qSport = icmp.innerSrcPort;
    const qDport = icmp.innerDstPort;
    if (toOwned) {
      const slot = conns.lookupIn(proto, qDst, qDport, qSrc, qSport, now);
      if (slot === NO_ENTRY) return ctx.drop(Drop.icmpUnrelated);
      ctx.trConn = ConnKind.known;
      ctx.trSlot = slot;
      ctx.trStateBefore = conns.state[slot]!;
      const fwd = conns.fwd[slot]!;
      ctx.trFwd = fwd;
      const dest = this.core.dests.get(conns.destId[slot]!);
      if (dest === undefined || !dest.available) return ctx.drop(Drop.destUnavailable);
      conns.countIn(slot, ip.totalLength);
      const rip = conns.daddrInt32Of(slot);
      if (fwd !== Fwd.masq) return this.xmit.forward(ctx, tx, j, fwd, rip, 0, now);
      const v = this.xmit.routeTtlMtu(ctx, tx, j, rip, 0, now);
      if (v !== CONTINUE) return v as VerdictCode;
      ip.setDst(rip);
      icmp.innerSrc = rip;
      icmp.innerSrcPort = conns.dportOf(slot);
      icmp.fillInnerHeaderChecksum();
      icmp.fillChecksum(ip.payloadLen);
      this.counters.forwardedIn++;
      return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
    }
    const slot = conns.lookupOut(proto, qDst, qDport, qSrc, qSport, now);
    if (slot === NO_ENTRY || conns.fwd[slot] !== Fwd.masq) return ctx.drop(Drop.notRouted);
    ctx.trConn = ConnKind.known;
    ctx.trSlot = slot;
    ctx.trStateBefore = conns.state[slot]!;
    ctx.trFwd = Fwd.masq;
    conns.countOut(slot, ip.totalLength);
    const v = this.xmit.routeTtlMtu(ctx, tx, j, ip.dstInt32, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    const vaddr = conns.vaddrInt32Of(slot);
    ip.setSrc(vaddr);
    icmp.innerDst = vaddr;
    icmp.innerDstPort = conns.vportOf(slot);
    icmp.fillInnerHeaderChecksum();
    icmp.fillChecksum(ip.payloadLen);
    this.counters.forwardedOut++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
  }

  /**
   * An IPv4 fragment (fragments.ts): the first one runs through the stage like a whole packet and its
   * transmitter is remembered; the later ones get the IP-level half of the same rewrite. Fragments of other
   * protocols are dropped (uvs's own ICMP needs the whole datagram).
   */
  fragment(ctx: PacketContext, tx: FrameBatch, j: number, now: number): VerdictCode {
    const ip = ctx.ip;
    const proto = ip.protocol;
    ctx.trProto = proto;
    if (proto !== IpProto.tcp && proto !== IpProto.udp) return ctx.drop(Drop.ipv4Fragment);
    const src = ip.srcInt32;
    const dst = ip.dstInt32;
    const id = ip.id;
    if (ip.fragOffset === 0) {
      ctx.fragAction = FragAction.none;
      ctx.firstFragment = true;
      const v = this.l4(ctx, tx, j, proto, now);
      ctx.firstFragment = false;
      if (v === Verdict.forward && ctx.fragAction !== FragAction.none) {
        this.frags.remember(src, dst, proto, id, ctx.fragAction, ctx.fragAddr, ctx.trSlot, now);
      }
      return v;
    }
    const k = this.frags.find(src, dst, proto, id, now);
    if (k < 0) return ctx.drop(Drop.fragmentUnknown);
    const addr = this.frags.addr[k]!;
    const slot = this.frags.conn[k]!;
    const conns = this.core.conns;
    const counted = slot !== NO_ENTRY && conns.isLive(slot);
    ctx.trSlot = counted ? slot : NO_ENTRY;
    const bytes = ip.totalLength;
    const action = this.frags.action[k];
    this.counters.fragments++;
    const xmit = this.xmit;
    if (action === FragAction.natOut) {
      const v = xmit.routeTtlMtu(ctx, tx, j, dst, 0, now);
      if (v !== CONTINUE) return v as VerdictCode;
      ip.setSrc(addr);
      if (counted) conns.countOut(slot, bytes);
      this.counters.forwardedOut++;
      return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
    }
    if (counted) conns.countIn(slot, bytes);
    if (action === FragAction.route) return xmit.dr(ctx, tx, j, addr, now);
    if (action === FragAction.tunnel) return xmit.tun(ctx, tx, j, addr, now);
    const v = xmit.routeTtlMtu(ctx, tx, j, addr, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    ip.setDst(addr);
    this.counters.forwardedIn++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.forward);
  }
}
