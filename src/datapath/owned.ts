// Owned-address handling: what uvs answers itself for the addresses its interfaces own, since no kernel
// stack does it for them (arp.c's arp_process, icmp.c's icmp_echo). ARP requests for an owned address on
// the link they came in on are answered and their sender learned; echo requests to an owned address are
// turned into their reply in place. ICMP errors go on to the connection stage (conn-stage.ts).
import type { FrameBatch } from '../io/batch.js';
import { writeIpv4, writeMacWords } from '../wire/addr.js';
import { ArpField, ArpOp } from '../wire/arp.js';
import { read16, read32i } from '../wire/bytes.js';
import { EthField } from '../wire/ethernet.js';
import { emitEchoReplyInPlace, IcmpType } from '../wire/icmp.js';
import { Ipv4Field } from '../wire/ipv4.js';
import { Reason } from '../wire/reason.js';
import { CONTINUE, type DatapathCounters, type PacketContext } from './context.js';
import type { L3Tables } from './l3.js';
import { type NeighbourTable, NO_NEIGH } from './neighbours.js';
import type { NextHop } from './nexthop.js';
import { Drop, Verdict, type VerdictCode } from './reasons.js';
import { OWN_TTL } from './xmit.js';

export class OwnedAddresses {
  private readonly l3: L3Tables;
  private readonly neigh: NeighbourTable;
  private readonly counters: DatapathCounters;
  private readonly nextHop: NextHop;

  constructor(l3: L3Tables, neigh: NeighbourTable, counters: DatapathCounters, nextHop: NextHop) {
    this.l3 = l3;
    this.neigh = neigh;
    this.counters = counters;
    this.nextHop = nextHop;
  }

  /** An ARP frame (ctx.eth bound) received on interface `ifPos`. */
  arp(ctx: PacketContext, tx: FrameBatch, j: number, ifPos: number, now: number): VerdictCode {
    const eth = ctx.eth;
    const arp = ctx.arp.reset(eth.buf, eth.payloadOff, eth.payloadLen);
    const r = arp.checkLen();
    if (r !== Reason.ok) return ctx.drop(r);
    const l3 = this.l3;
    const abuf = arp.buf;
    const aoff = arp.off;
    const senderIp = read32i(abuf, aoff + ArpField.senderIp);
    const senderMacHigh = read16(abuf, aoff + ArpField.senderMac);
    const senderMacLow = read32i(abuf, aoff + ArpField.senderMac + 2);
    const targetIp = read32i(abuf, aoff + ArpField.targetIp);
    // Someone else claiming one of our addresses (or our own announcement looped back): never learn it.
    if (l3.ownerOf(senderIp) >= 0) return ctx.drop(Drop.arpIgnored);
    const forUs = l3.ownerOf(targetIp) === ifPos;
    let learned = false;
    // An ARP probe (sender 0.0.0.0, RFC 5227) teaches nothing; others are learned when aimed at us, and
    // refresh an existing entry whoever they were for (arp_process()).
    if (senderIp !== 0 && l3.onLink(ifPos, senderIp)) {
      const ready = this.neigh.learn(senderIp, senderMacHigh, senderMacLow, ifPos, forUs, now);
      learned = this.neigh.learned;
      if (learned) this.counters.arpLearned++;
      if (ready !== NO_NEIGH) ctx.releaseSlot = ready;
    }
    if (arp.op === ArpOp.request && forUs) {
      const macHigh = l3.ifMacHigh[ifPos]!;
      const macLow = l3.ifMacLow[ifPos]!;
      arp.turnIntoReplyWords(macHigh, macLow);
      writeMacWords(eth.buf, eth.off + EthField.dst, senderMacHigh, senderMacLow);
      writeMacWords(eth.buf, eth.off + EthField.src, macHigh, macLow);
      tx.egressIfindex[j] = l3.ifIndex[ifPos]!;
      ctx.emitted = true;
      this.counters.arpReplies++;
      return Verdict.reply;
    }
    return learned ? Verdict.consumed : ctx.drop(Drop.arpIgnored);
  }

  /**
   * An ICMP message (ctx.ip bound): checked, and answered when it is an echo request to an owned address.
   * CONTINUE for an error, which the connection stage handles.
   */
  icmp(ctx: PacketContext, tx: FrameBatch, j: number, now: number): number {
    const ip = ctx.ip;
    const icmp = ctx.icmp.reset(ip.buf, ip.payloadOff, ip.payloadLen);
    const r = icmp.checkLen();
    if (r !== Reason.ok) return ctx.drop(r);
    if (!icmp.verifyChecksum(ip.payloadLen)) return ctx.drop(Reason.icmpBadChecksum);
    const toOwned = this.l3.ownerOf(ip.dstInt32) >= 0;
    if (toOwned && icmp.type === IcmpType.echoRequest) return this.echoReply(ctx, tx, j, now);
    if (icmp.isError) return CONTINUE;
    return ctx.drop(toOwned ? Drop.icmpUnhandled : Drop.notRouted);
  }

  /** icmp_echo(): the request turned into its reply in place, from the address that was pinged. */
  private echoReply(ctx: PacketContext, tx: FrameBatch, j: number, now: number): VerdictCode {
    const ip = ctx.ip;
    const buf = ip.buf;
    const client = ip.srcInt32;
    const own = ip.dstInt32;
    if (!this.l3.route(client, ctx)) return ctx.drop(Drop.noRoute);
    writeIpv4(buf, ip.off + Ipv4Field.src, own);
    writeIpv4(buf, ip.off + Ipv4Field.dst, client);
    buf[ip.off + Ipv4Field.ttl] = OWN_TTL;
    ip.fillChecksum();
    emitEchoReplyInPlace(ctx.icmp);
    this.counters.echoReplies++;
    return this.nextHop.send(ctx, tx, j, now, Verdict.reply);
  }
}
