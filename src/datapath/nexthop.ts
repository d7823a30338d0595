// The last stage: neighbour resolution (the kernel's neigh_output). A routed frame gets the egress
// interface's MAC as source and the next hop's MAC as destination, or, while that MAC is unknown, waits in
// the neighbour table's queue while an ARP request goes out in its place. Also what sends ARP on uvs's own
// behalf: the timers' retries and re-confirmations, the release of waiting frames, gratuitous ARP.
import type { DirectorConfig } from '../config/director.js';
import { EtherType } from '../constants.js';
import { type FrameBatch, SLOT_SIZE } from '../io/batch.js';
import { BROADCAST_MAC, writeMacWords } from '../wire/addr.js';
import { ArpOp, type ArpRepr, emitArp, emitGratuitousArp } from '../wire/arp.js';
import { ETH_HEADER_LEN, type EthernetRepr, EthField, emitEthernet } from '../wire/ethernet.js';
import type { DatapathCounters, PacketContext } from './context.js';
import type { FrameCopier } from './copy.js';
import type { L3Tables } from './l3.js';
import { type NeighbourTable, NeighTimer, NO_NEIGH } from './neighbours.js';
import { Drop, Verdict, type VerdictCode } from './reasons.js';

const ARP_FRAME_LEN = ETH_HEADER_LEN + 28;
/** Neighbour slots the periodic gc looks at per tick: a table of 1024 is walked in under two seconds. */
const NEIGH_GC_SLOTS_PER_TICK = 64;

export class NextHop {
  private readonly l3: L3Tables;
  private readonly neigh: NeighbourTable;
  private readonly counters: DatapathCounters;
  private readonly drops: Float64Array;
  private readonly copier: FrameCopier;
  private readonly ethRepr: EthernetRepr = { dst: 0, src: 0, etherType: EtherType.arp };
  private readonly arpRepr: ArpRepr = { op: ArpOp.request, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };

  constructor(
    l3: L3Tables,
    neigh: NeighbourTable,
    counters: DatapathCounters,
    drops: Float64Array,
    copier: FrameCopier,
  ) {
    this.l3 = l3;
    this.neigh = neigh;
    this.counters = counters;
    this.drops = drops;
    this.copier = copier;
  }

  /**
   * The last step for a frame in slot j, routed by L3Tables.route() into ctx: source MAC of the egress
   * interface and the next hop's MAC, or, while that is unknown, the frame waits in the neighbour queue and
   * slot j carries the ARP request instead (when one is due).
   */
  send(ctx: PacketContext, tx: FrameBatch, j: number, now: number, verdict: VerdictCode): VerdictCode {
    const buf = tx.bytes;
    const off = tx.offset[j]!;
    const ifPos = ctx.outIf;
    const hop = ctx.outHop;
    const l3 = this.l3;
    writeMacWords(buf, off + EthField.src, l3.ifMacHigh[ifPos]!, l3.ifMacLow[ifPos]!);
    tx.egressIfindex[j] = l3.ifIndex[ifPos]!;
    const neigh = this.neigh;
    const known = neigh.find(hop, now);
    if (known !== NO_NEIGH && neigh.resolved(known)) {
      neigh.use(known, now);
      writeMacWords(buf, off + EthField.dst, neigh.macHigh[known]!, neigh.macLow[known]!);
      ctx.emitted = true;
      return verdict;
    }
    const slot = neigh.resolve(hop, ifPos, now);
    if (slot === NO_NEIGH) return ctx.drop(Drop.neighTableFull);
    const held = neigh.enqueue(slot, buf, off, tx.length[j]!);
    if (neigh.probeDue) {
      this.writeArpRequest(tx, j, ifPos, hop);
      ctx.emitted = true;
    }
    if (!held) return ctx.drop(Drop.neighQueueFull);
    this.counters.queued++;
    return Verdict.queued;
  }

  /** An ARP request for `target`: broadcast, or to `dstMac` when re-confirming a known neighbour. */
  private writeArpRequest(tx: FrameBatch, j: number, ifPos: number, target: number, dstMac = BROADCAST_MAC): void {
    const off = tx.slotBase(j) + tx.headroom;
    const mac = this.l3.ifMac[ifPos]!;
    const eth = this.ethRepr;
    eth.dst = dstMac;
    eth.src = mac;
    eth.etherType = EtherType.arp;
    const arp = this.arpRepr;
    arp.op = ArpOp.request;
    arp.senderMac = mac;
    arp.senderIp = this.l3.sourceFor(ifPos, target);
    arp.targetMac = 0;
    arp.targetIp = target;
    emitArp(arp, tx.bytes, emitEthernet(eth, tx.bytes, off));
    this.setTxFrame(tx, j, off, ARP_FRAME_LEN, ifPos);
    this.counters.arpRequests++;
  }

  private setTxFrame(tx: FrameBatch, j: number, off: number, len: number, ifPos: number): void {
    tx.offset[j] = off;
    tx.length[j] = len;
    tx.egressIfindex[j] = this.l3.ifIndex[ifPos]!;
    tx.flags[j] = 0;
    tx.vlanTci[j] = 0;
  }

  /** Sends the packets waiting on neighbour `slot`, as many as tx has room for. */
  release(tx: FrameBatch, slot: number): void {
    const neigh = this.neigh;
    const macHigh = neigh.macHigh[slot]!;
    const macLow = neigh.macLow[slot]!;
    const ifPos = neigh.ifPos[slot]!;
    while (neigh.queueLen[slot]! > 0 && tx.count < tx.capacity) {
      const q = neigh.dequeue(slot);
      const j = tx.count;
      const len = neigh.queueLength[q]!;
      const base = tx.slotBase(j);
      const off = base + (len <= SLOT_SIZE - tx.headroom ? tx.headroom : SLOT_SIZE - len);
      const from = q * SLOT_SIZE;
      this.copier.copy(neigh.queueBytes, from, tx.bytes, off, len);
      writeMacWords(tx.bytes, off + EthField.dst, macHigh, macLow);
      this.setTxFrame(tx, j, off, len, ifPos);
      tx.count = j + 1;
      this.counters.tx++;
      this.counters.released++;
    }
  }

  /**
   * The neighbours' timers: ages them, retries pending resolutions and re-confirmations, gives up on those
   * out of retries, sends what became sendable.
   */
  tick(tx: FrameBatch, now: number): void {
    const neigh = this.neigh;
    neigh.age(now, NEIGH_GC_SLOTS_PER_TICK);
    this.counters.neighForgotten = neigh.gcFreed;
    if (neigh.size === 0) return;
    for (let s = 0; s < neigh.capacity; s++) {
      const action = neigh.timer(s, now, tx.count < tx.capacity);
      if (action === NeighTimer.failed) {
        this.drops[Drop.neighUnresolved]! += neigh.fail(s);
      } else if (action !== NeighTimer.none) {
        const dstMac = action === NeighTimer.unicast ? neigh.macOf(s) : BROADCAST_MAC;
        this.writeArpRequest(tx, tx.count, neigh.ifPos[s]!, neigh.ip[s]!, dstMac);
        tx.count++;
        this.counters.tx++;
      } else if (neigh.queueLen[s]! > 0 && neigh.resolved(s)) {
        this.release(tx, s);
      }
    }
  }

  /**
   * Gratuitous ARP for every owned address, or only those of interface `onlyIfPos`; returns tx.count.
   */
  announce(config: DirectorConfig, tx: FrameBatch, onlyIfPos: number): number {
    const l3 = this.l3;
    for (let i = 0; i < l3.ifCount; i++) {
      if (onlyIfPos >= 0 && i !== onlyIfPos) continue;
      for (const a of config.interfaces[i]!.addresses) {
        const j = tx.count;
        if (j >= tx.capacity) return j;
        const off = tx.slotBase(j) + tx.headroom;
        this.ethRepr.dst = BROADCAST_MAC;
        this.ethRepr.src = l3.ifMac[i]!;
        this.ethRepr.etherType = EtherType.arp;
        emitGratuitousArp(tx.bytes, emitEthernet(this.ethRepr, tx.bytes, off), l3.ifMac[i]!, a.addr);
        this.setTxFrame(tx, j, off, ARP_FRAME_LEN, i);
        tx.count = j + 1;
        this.counters.tx++;
      }
    }
    return tx.count;
  }
}
