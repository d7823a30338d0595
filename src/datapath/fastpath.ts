// The JavaScript side of the native fast path (native/fastpath.cc): binds the datapath's tables once, hands
// runs of frames to C, and folds what C counted back into the destinations' stats.
//
// C takes a frame only when the JavaScript pipeline would do exactly what C does: a TCP/UDP packet of a
// live connection whose state the packet does not change, to an available destination, routed to a
// resolved next hop within the MTU. It stops at the first frame that is anything else and returns its
// index; Datapath runs that frame through the JavaScript stages and calls back for the rest. Output order
// and every counter are therefore the same as with the JavaScript path alone, which the tests check frame by
// frame (test/datapath/fastpath.test.ts).
//
// Per-packet byte and packet counts are added by C into a per-destination delta array and folded into the
// Dest objects' Stats after each run, so readers between batches (the estimator, uvsadm --stats) see the
// same figures as without the fast path.
import { ConnFlag, ConnRecord, type ConnTable, connHash } from '../conn/table.js';
import { nextStateTable, TCP_STATE_COUNT, TcpDir, TcpFlag, TcpState, type Timeouts } from '../conn/tcp-state.js';
import { type DestRegistry, Fwd } from '../dest/dest.js';
import type { FrameBatch } from '../io/batch.js';
import { batchLayoutValues } from '../io/native-layout.js';
import {
  type FastPathHandle,
  layoutEntries,
  loadNative,
  NativeLayoutError,
  type NativeLayoutExpectation,
} from '../native.js';
import { type NeighbourTable, NeighState } from './neighbours.js';

/** Control block slots (native/layout.h kCtl*). */
const Ctl = {
  rx: 0,
  tx: 1,
  start: 2,
  rxCount: 3,
  now: 4,
  secureTcp: 5,
  ticksPerSecond: 6,
  ipId: 7,
  handled: 8,
  forwardedIn: 9,
  forwardedOut: 10,
  touched: 11,
  txCount: 12,
  udpTimeout: 13,
  size: 14,
} as const;

/**
 * Everything native/fastpath.cc shares with the TypeScript tables it works on, as native/layout.h names it:
 * the addon is refused at load unless it agrees on each (and on the connection hash).
 */
export const fastPathLayout: NativeLayoutExpectation = {
  owner: 'src/datapath/fastpath.ts (the native fast path)',
  values: {
    ...layoutEntries('ConnRecord', ConnRecord),
    'ConnFlag.template': ConnFlag.template,
    'ConnFlag.noOutput': ConnFlag.noOutput,
    'Fwd.masq': Fwd.masq,
    'Fwd.tunnel': Fwd.tunnel,
    'Fwd.route': Fwd.route,
    'TcpFlag.fin': TcpFlag.fin,
    'TcpFlag.syn': TcpFlag.syn,
    'TcpFlag.rst': TcpFlag.rst,
    'TcpFlag.ack': TcpFlag.ack,
    ...layoutEntries('TcpDir', TcpDir),
    'TcpState.close': TcpState.close,
    TCP_STATE_COUNT,
    'NeighState.reachable': NeighState.reachable,
    'NeighState.static': NeighState.static,
    ...batchLayoutValues,
    ...layoutEntries('Ctl', Ctl),
  },
  connHash,
};

/** Batches the native side keeps at once (a daemon uses two per port). */
const MAX_BATCHES = 32;

/** The datapath's own arrays that C reads (interfaces and routes). */
export interface FastPathInterfaces {
  ifMacHigh: Uint16Array;
  ifMacLow: Int32Array;
  ifMtu: Uint32Array;
  ifIndex: Uint32Array;
  rtNetwork: Int32Array;
  rtMask: Int32Array;
  rtGateway: Int32Array;
  rtSrc: Int32Array;
  rtIf: Uint8Array;
}

/** What a run did, for the datapath's counters. */
export interface FastRunResult {
  handled: number;
  forwardedIn: number;
  forwardedOut: number;
}

export class FastPath {
  private batchIds = new WeakMap<FrameBatch, number>();
  private batchCount = 0;
  private destGeneration = -1;
  private delta = new Float64Array(0);
  private touched = new Int32Array(0);
  /** The counts of the last run (reused: no allocation per run). */
  readonly result: FastRunResult = { handled: 0, forwardedIn: 0, forwardedOut: 0 };
  /** The IPIP identification counter, shared with the JavaScript transmitter. */
  ipId = 0;

  private constructor(
    private readonly native: FastPathHandle,
    private readonly ctl: Float64Array,
    private readonly conns: ConnTable,
    private readonly dests: DestRegistry,
    private readonly timeouts: Timeouts,
  ) {}

  /**
   * The fast path over these tables, or null when the addon is not built (the JavaScript pipeline then
   * does everything; `npm install` builds it).
   */
  static create(
    conns: ConnTable,
    dests: DestRegistry,
    neigh: NeighbourTable,
    ifs: FastPathInterfaces,
    slotSize: number,
    headroom: number,
  ): FastPath | null {
    let addon: ReturnType<typeof loadNative>;
    try {
      addon = loadNative(fastPathLayout);
    } catch (err) {
      // An addon built from other sources would corrupt the tables: refuse it rather than run without it.
      if (err instanceof NativeLayoutError) throw err;
      return null;
    }
    const table = conns.nativeTables();
    const index = neigh.nativeIndex();
    const ctl = new Float64Array(Ctl.size);
    const native = new addon.FastPath({
      ...table,
      tcpTimeouts: conns.timeouts.tcp,
      nextState: nextStateTable as Uint8Array,
      ...ifs,
      neighKey: index.key,
      neighSlotPlusOne: index.slotPlusOne,
      neighMacHigh: neigh.macHigh,
      neighMacLow: neigh.macLow,
      neighState: neigh.state,
      neighDeadline: neigh.deadline,
      neighQueueLen: neigh.queueLen,
      ctl,
      slotSize,
      headroom,
    });
    return new FastPath(native, ctl, conns, dests, conns.timeouts);
  }

  /** The service addresses of the current rules (the datapath's VIP set), after every rules change. */
  setVips(addr: Int32Array, used: Uint8Array): void {
    this.native.setVips(addr, used);
  }

  /**
   * Runs frames `start`.. of `rx` into `tx` until one needs the JavaScript pipeline; returns its index
   * (rx.count when none does). `this.result` has the counts; tx.count and the stats are updated.
   */
  run(rx: FrameBatch, start: number, tx: FrameBatch, now: number): number {
    if (this.dests.generation !== this.destGeneration) this.bindDests();
    const ctl = this.ctl;
    let rxId = this.batchIds.get(rx);
    let txId = this.batchIds.get(tx);
    if (rxId === undefined || txId === undefined) {
      // The native side holds every batch it knows; a caller that makes batches as it goes must not make it
      // hold them all. Forget them and start again (the ones in use are registered anew on their next run).
      if (this.batchCount + 2 > MAX_BATCHES) {
        this.native.clearBatches();
        this.batchIds = new WeakMap();
        this.batchCount = 0;
      }
      rxId = this.idOf(rx);
      txId = this.idOf(tx);
    }
    ctl[Ctl.rx] = rxId;
    ctl[Ctl.tx] = txId;
    ctl[Ctl.start] = start;
    ctl[Ctl.rxCount] = rx.count;
    ctl[Ctl.now] = now;
    ctl[Ctl.secureTcp] = this.conns.secureTcp ? 1 : 0;
    ctl[Ctl.ticksPerSecond] = this.conns.ticksPerSecond;
    ctl[Ctl.ipId] = this.ipId;
    ctl[Ctl.txCount] = tx.count;
    ctl[Ctl.udpTimeout] = this.timeouts.udp;
    const stop = this.native.run();
    this.ipId = ctl[Ctl.ipId]!;
    tx.count = ctl[Ctl.txCount]!;
    const result = this.result;
    result.handled = ctl[Ctl.handled]!;
    result.forwardedIn = ctl[Ctl.forwardedIn]!;
    result.forwardedOut = ctl[Ctl.forwardedOut]!;
    const touched = ctl[Ctl.touched]!;
    if (touched > 0) this.foldStats(touched);
    return stop;
  }

  /** Adds the per-destination counts of the last run to the Dest and service Stats, and clears them. */
  private foldStats(touched: number): void {
    const delta = this.delta;
    for (let k = 0; k < touched; k++) {
      const id = this.touched[k]!;
      const o = id * 4;
      const dest = this.dests.get(id);
      if (dest !== undefined) {
        const s = dest.stats;
        const v = dest.svcStats;
        s.inPkts += delta[o]!;
        s.inBytes += delta[o + 1]!;
        s.outPkts += delta[o + 2]!;
        s.outBytes += delta[o + 3]!;
        v.inPkts += delta[o]!;
        v.inBytes += delta[o + 1]!;
        v.outPkts += delta[o + 2]!;
        v.outBytes += delta[o + 3]!;
      }
      delta[o] = 0;
      delta[o + 1] = 0;
      delta[o + 2] = 0;
      delta[o + 3] = 0;
    }
  }

  private bindDests(): void {
    const available = this.dests.availability;
    this.delta = new Float64Array(available.length * 4);
    this.touched = new Int32Array(available.length);
    this.native.setDests(available, this.delta, this.touched);
    this.destGeneration = this.dests.generation;
  }

  private idOf(batch: FrameBatch): number {
    const known = this.batchIds.get(batch);
    if (known !== undefined) return known;
    this.batchCount++;
    const id = this.native.addBatch(
      batch.bytes,
      batch.offset,
      batch.length,
      batch.ifindex,
      batch.egressIfindex,
      batch.flags,
      batch.vlanTci,
      batch.pktType,
    );
    this.batchIds.set(batch, id);
    return id;
  }
}
