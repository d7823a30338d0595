// The neighbour table (the kernel's ARP cache): next-hop IPv4 -> MAC per interface, static entries from the
// configuration and entries learned from ARP, plus a bounded queue of packets waiting for a resolution.
//
// Entries live in typed arrays indexed by slot; an open-addressing index finds the slot of an address (no
// allocation on a lookup). Learned entries age as the kernel's do (net/core/neighbour.c):
//   - an ARP from the neighbour confirms it: REACHABLE for reachable_time, drawn at random in
//     [base_reachable_time/2, 3*base_reachable_time/2) and drawn again every 300 s (neigh_rand_reach_time);
//   - then STALE: the MAC is still used; the first packet sent through a stale entry makes it DELAY, and
//     DELAY_PROBE_SECONDS later (the next tick), unless confirmed meanwhile, PROBE: up to UCAST_PROBES
//     unicast ARP requests RETRY_SECONDS apart, after which the entry is forgotten and the next packet
//     resolves it anew;
//   - periodic gc (neigh_periodic_work), only while the table holds gc_thresh1 entries or more, forgets STALE
//     entries neither used nor confirmed for gc_stale_time;
//   - forced gc (neigh_forced_gc) when an entry is created with gc_thresh2 entries or more (at most every
//     FORCED_GC_SECONDS) or gc_thresh3 (every time): it frees idle entries down to gc_thresh2, and at
//     gc_thresh3, when none is idle, the least recently active one. Only entries holding waiting packets
//     are never evicted, so a full table never turns a new neighbour away while one could go.
// Static entries never age and do not count against the thresholds.
// Where uvs differs, and why: any ARP from the neighbour confirms it (the kernel makes an entry created by a
// request STALE), so that the fast path serves a client from its first ARP on; DELAY lasts until the next
// tick, not 5 s (see DELAY_PROBE_SECONDS); an entry out of probes is
// freed at once rather than kept FAILED; the native fast path does not mark what it sends through as used,
// so forced gc counts a reachable entry as active and evicts one only as the least recently active.
//
// Resolution sends an ARP request at once and again every RETRY_SECONDS, at most MAX_PROBES times (Linux's
// mcast_solicit default is 3); when the last one goes unanswered the waiting packets are dropped. The queue
// holds at most `queueCapacity` packets in total and PER_NEIGHBOUR_QUEUE per next hop; a packet that does
// not fit is dropped (counted), not an older one.
import { type ArpConfig, DEFAULT_ARP } from '../config/director.js';
import { SLOT_SIZE } from '../io/batch.js';
import { macHigh16, macLow32 } from '../wire/addr.js';
import { copyBytes } from '../wire/bytes.js';

/** Interval between ARP requests for an unresolved or probed next hop (Linux retrans_time, 1 s). */
export const RETRY_SECONDS = 1;
/** Broadcast ARP requests sent before giving up on a next hop (Linux mcast_solicit). */
export const MAX_PROBES = 3;
/** Unicast ARP requests sent to re-confirm a stale neighbour before forgetting it (Linux ucast_solicit). */
export const UCAST_PROBES = 3;
/**
 * From the first use of a stale entry to its first unicast probe. Linux waits delay_first_probe_time (5 s)
 * for its own TCP to confirm the neighbour; nothing in uvs confirms one but its ARP, and the native fast
 * path serves only reachable entries, so uvs probes at once (the next tick) rather than run 5 s in
 * JavaScript for nothing.
 */
export const DELAY_PROBE_SECONDS = 0;
/** Forced gc below gc_thresh3 runs at most this often; it spares entries active this recently (5 * HZ). */
export const FORCED_GC_SECONDS = 5;
/** reachable_time is drawn anew this often (neigh_periodic_work). */
export const REACHABLE_REDRAW_SECONDS = 300;
/** An overflow of the table is logged at most this often (the kernel rate-limits "neighbor table overflow!"). */
export const OVERFLOW_REPORT_SECONDS = 60;
/** Packets one unresolved next hop may hold. */
export const PER_NEIGHBOUR_QUEUE = 16;

export const NeighState = {
  free: 0,
  /** Resolution under way: no MAC yet, packets may be waiting. */
  incomplete: 1,
  /** Confirmed within reachable_time (`deadline`); the only learned state the native fast path uses. */
  reachable: 2,
  /** From the configuration: never ages, never overwritten by ARP. */
  static: 3,
  /** Past reachable_time: MAC still used, first use starts re-confirmation. */
  stale: 4,
  /** Used while stale: the first unicast probe is due at `deadline`. */
  delay: 5,
  /** Unicast probes under way; MAC still used. */
  probe: 6,
} as const;

/** What an entry's timer asks the caller to do (NeighbourTable.timer). */
export const NeighTimer = {
  none: 0,
  /** Send a broadcast ARP request for the entry. */
  broadcast: 1,
  /** Send an ARP request to the entry's MAC. */
  unicast: 2,
  /** Out of probes: drop its waiting packets and forget it (NeighbourTable.fail). */
  failed: 3,
} as const;
export type NeighTimerCode = (typeof NeighTimer)[keyof typeof NeighTimer];

export const NO_NEIGH = -1;

/** What NeighbourTable.onOverflow reports: the table was too small for the neighbours in use. */
export interface NeighOverflow {
  /** Active entries evicted at gc_thresh3 to make room, since the last report. */
  readonly evicted: number;
  /** New neighbours turned away because every entry held packets, since the last report. */
  readonly refused: number;
  readonly gcThresh3: number;
}

export interface NeighbourTableOptions {
  /** Packets that may wait for resolution, over all next hops. */
  queueCapacity: number;
  ticksPerSecond: number;
  /** Static entries the table must also hold (they do not count against gc_thresh3). */
  staticCapacity?: number;
  /** The kernel's neighbour thresholds and times (default DEFAULT_ARP). */
  arp?: ArpConfig;
  /** Uniform in [0, 1), for reachable_time (default Math.random; tests fix it). */
  random?: () => number;
}

export class NeighbourTable {
  /** Slots: gc_thresh3 learned entries plus the static ones. */
  readonly capacity: number;
  readonly queueCapacity: number;
  private readonly ticksPerSecond: number;
  private readonly gcThresh1: number;
  private readonly gcThresh2: number;
  private readonly gcThresh3: number;
  private readonly gcStaleTicks: number;
  private readonly baseReachableTicks: number;
  private readonly random: () => number;
  /** The table's current reachable_time, and when it is drawn again. */
  reachableTicks: number;
  private nextReachableDraw: number;
  private lastForcedGc = Number.NEGATIVE_INFINITY;
  /**
   * After a forced gc found nothing idle, those within FORCED_GC_SECONDS skip the search and take the least
   * recently active entry: under a flood of new senders every insert at gc_thresh3 runs one, and one walk
   * of the table each is enough.
   */
  private noIdleUntil = Number.NEGATIVE_INFINITY;
  /** Where the periodic gc resumes its walk over the slots. */
  private gcCursor = 0;
  /** Entries other than static ones (the kernel's gc_entries). */
  learnedCount = 0;
  /** Entries forgotten by gc, periodic and forced. */
  gcFreed = 0;
  /** At gc_thresh3 with nothing idle: least recently active entries evicted, and inserts refused. */
  overflowEvicted = 0;
  overflowRefused = 0;
  private reportedEvicted = 0;
  private reportedRefused = 0;
  private nextOverflowReport = Number.NEGATIVE_INFINITY;
  /** Told from age(), at most every OVERFLOW_REPORT_SECONDS, when the table overflowed since the last time. */
  onOverflow: ((overflow: NeighOverflow, message: string) => void) | null = null;
  /**
   * `ip | 0` -> slot: open addressing with linear probing over typed arrays, at most half full, deletion by
   * backward shift (no tombstones). A Map lookup cost more than the rest of the next-hop step; keys are signed
   * so that an address above 2^31 is never boxed.
   */
  private readonly indexKey: Int32Array;
  /** Slot + 1; 0 marks an empty position. */
  private readonly indexSlotPlusOne: Int32Array;
  private readonly indexMask: number;
  private indexSize = 0;
  readonly ip: Uint32Array;
  /**
   * The MAC as two small integers (macHigh16, macLow32 of src/wire/addr.ts): a 48-bit number read from a
   * Float64Array would be boxed into a heap number on its way to any call V8 did not inline.
   */
  readonly macHigh: Uint16Array;
  readonly macLow: Int32Array;
  readonly state: Uint8Array;
  /** Interface position (in the configuration's list) the neighbour is on. */
  readonly ifPos: Uint8Array;
  /**
   * Reachable: when it stops being trusted (the native fast path reads this). Incomplete and probe: when the
   * next ARP request is due. Delay: when probing starts.
   */
  readonly deadline: Float64Array;
  /** Last ARP from the neighbour, and last packet the JavaScript path sent through the entry. */
  readonly confirmed: Float64Array;
  readonly used: Float64Array;
  readonly probes: Uint8Array;
  /** Head and tail of each entry's waiting packets (queue slot numbers), and their count. */
  readonly queueHead: Int32Array;
  private readonly queueTail: Int32Array;
  readonly queueLen: Uint16Array;
  private freeEntries: number[];

  // Waiting packets: one SLOT_SIZE buffer per queue slot, linked per entry.
  readonly queueBytes: Uint8Array;
  readonly queueLength: Uint32Array;
  readonly queueNext: Int32Array;
  private queueFree: number;
  queued = 0;

  constructor(options: NeighbourTableOptions) {
    const arp = options.arp ?? DEFAULT_ARP;
    const tps = options.ticksPerSecond;
    const capacity = arp.gcThresh3 + (options.staticCapacity ?? 0);
    const queueCapacity = options.queueCapacity;
    this.capacity = capacity;
    this.queueCapacity = queueCapacity;
    this.ticksPerSecond = tps;
    this.gcThresh1 = arp.gcThresh1;
    this.gcThresh2 = arp.gcThresh2;
    this.gcThresh3 = arp.gcThresh3;
    this.gcStaleTicks = arp.gcStaleTime * tps;
    this.baseReachableTicks = arp.baseReachableTime * tps;
    this.random = options.random ?? Math.random;
    this.reachableTicks = this.drawReachable();
    this.nextReachableDraw = Number.NEGATIVE_INFINITY;
    let indexLength = 8;
    while (indexLength < capacity * 2) indexLength *= 2;
    this.indexKey = new Int32Array(indexLength);
    this.indexSlotPlusOne = new Int32Array(indexLength);
    this.indexMask = indexLength - 1;
    this.ip = new Uint32Array(capacity);
    this.macHigh = new Uint16Array(capacity);
    this.macLow = new Int32Array(capacity);
    this.state = new Uint8Array(capacity);
    this.ifPos = new Uint8Array(capacity);
    this.deadline = new Float64Array(capacity);
    this.confirmed = new Float64Array(capacity);
    this.used = new Float64Array(capacity);
    this.probes = new Uint8Array(capacity);
    this.queueHead = new Int32Array(capacity).fill(-1);
    this.queueTail = new Int32Array(capacity).fill(-1);
    this.queueLen = new Uint16Array(capacity);
    this.freeEntries = [];
    for (let i = capacity - 1; i >= 0; i--) this.freeEntries.push(i);
    this.queueBytes = new Uint8Array(queueCapacity * SLOT_SIZE);
    this.queueLength = new Uint32Array(queueCapacity);
    this.queueNext = new Int32Array(queueCapacity);
    for (let i = 0; i < queueCapacity; i++) this.queueNext[i] = i + 1 < queueCapacity ? i + 1 : -1;
    this.queueFree = queueCapacity > 0 ? 0 : -1;
  }

  /** neigh_rand_reach_time: uniform in [base/2, 3*base/2), whole ticks. */
  private drawReachable(): number {
    const base = this.baseReachableTicks;
    return Math.floor(base / 2 + this.random() * base);
  }

  get size(): number {
    return this.indexSize;
  }

  /** The entry of `ip` (signed or unsigned) whatever its state, or NO_NEIGH. */
  private indexGet(ip: number): number {
    const key = ip | 0;
    const mask = this.indexMask;
    for (let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask; ; i = (i + 1) & mask) {
      const slotPlusOne = this.indexSlotPlusOne[i]!;
      if (slotPlusOne === 0) return NO_NEIGH;
      if (this.indexKey[i] === key) return slotPlusOne - 1;
    }
  }

  private indexSet(ip: number, slot: number): void {
    const key = ip | 0;
    const mask = this.indexMask;
    let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask;
    while (this.indexSlotPlusOne[i] !== 0 && this.indexKey[i] !== key) i = (i + 1) & mask;
    if (this.indexSlotPlusOne[i] === 0) this.indexSize++;
    this.indexKey[i] = key;
    this.indexSlotPlusOne[i] = slot + 1;
  }

  /** Removes `ip`; the entries after it in its probe run move back so that no lookup stops short (Knuth 6.4 R). */
  private indexDelete(ip: number): void {
    const key = ip | 0;
    const mask = this.indexMask;
    let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask;
    for (;;) {
      if (this.indexSlotPlusOne[i] === 0) return;
      if (this.indexKey[i] === key) break;
      i = (i + 1) & mask;
    }
    this.indexSize--;
    let hole = i;
    for (let j = (hole + 1) & mask; this.indexSlotPlusOne[j] !== 0; j = (j + 1) & mask) {
      const home = (Math.imul(this.indexKey[j]!, 0x9e3779b1) >>> 16) & mask;
      // The entry at j may fill the hole only if its home is not cyclically within (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        this.indexKey[hole] = this.indexKey[j]!;
        this.indexSlotPlusOne[hole] = this.indexSlotPlusOne[j]!;
        hole = j;
      }
    }
    this.indexSlotPlusOne[hole] = 0;
  }

  /** The entry of `ip`, or NO_NEIGH; a reachable entry past its reachable_time turns stale here. */
  find(ip: number, now: number): number {
    const slot = this.indexGet(ip);
    if (slot !== NO_NEIGH && this.state[slot] === NeighState.reachable && this.deadline[slot]! <= now) {
      this.state[slot] = NeighState.stale;
    }
    return slot;
  }

  /** The index arrays, for the native fast path's lookups (native/fastpath.cc `Neighbour`). */
  nativeIndex(): { key: Int32Array; slotPlusOne: Int32Array } {
    return { key: this.indexKey, slotPlusOne: this.indexSlotPlusOne };
  }

  /** The MAC of `slot` as a 48-bit number (control plane and tests). */
  macOf(slot: number): number {
    return this.macHigh[slot]! * 0x100000000 + (this.macLow[slot]! >>> 0);
  }

  /** True when `slot` has a usable MAC (a stale one included, as the kernel keeps sending to it). */
  resolved(slot: number): boolean {
    const s = this.state[slot];
    return s !== NeighState.free && s !== NeighState.incomplete;
  }

  /**
   * The JavaScript path sends a packet through resolved `slot` (neigh_event_send): marks it used, and a
   * stale entry starts its re-confirmation.
   */
  use(slot: number, now: number): void {
    this.used[slot] = now;
    if (this.state[slot] === NeighState.stale) {
      this.state[slot] = NeighState.delay;
      this.deadline[slot] = now + DELAY_PROBE_SECONDS * this.ticksPerSecond;
    }
  }

  addStatic(ip: number, mac: number, ifPos: number): void {
    const known = this.indexGet(ip);
    let slot = known;
    if (known === NO_NEIGH) {
      slot = this.freeEntries.pop() ?? NO_NEIGH;
      if (slot === NO_NEIGH) throw new RangeError('neighbour table full of static entries');
      this.indexSet(ip, slot);
      this.ip[slot] = ip;
    } else if (this.state[slot] !== NeighState.static) {
      this.learnedCount--;
    }
    this.state[slot] = NeighState.static;
    this.macHigh[slot] = macHigh16(mac);
    this.macLow[slot] = macLow32(mac);
    this.ifPos[slot] = ifPos;
  }

  /**
   * An ARP from `ip` at the MAC (macHigh16, macLow32) on interface `ifPos`: confirms its entry, or creates
   * one when `create` (the ARP was aimed at us). Static entries are left alone. Returns the slot when the
   * entry now has packets to release, else NO_NEIGH.
   */
  learn(ip: number, macHigh: number, macLow: number, ifPos: number, create: boolean, now: number): number {
    this.learned = false;
    let slot = this.indexGet(ip);
    if (slot === NO_NEIGH) {
      if (!create) return NO_NEIGH;
      slot = this.allocate(ip, now);
      if (slot === NO_NEIGH) return NO_NEIGH;
    } else if (this.state[slot] === NeighState.static) {
      return NO_NEIGH;
    }
    this.learned = true;
    this.state[slot] = NeighState.reachable;
    this.macHigh[slot] = macHigh;
    this.macLow[slot] = macLow;
    this.ifPos[slot] = ifPos;
    this.confirmed[slot] = now;
    this.deadline[slot] = now + this.reachableTicks;
    this.probes[slot] = 0;
    return this.queueLen[slot]! > 0 ? slot : NO_NEIGH;
  }

  /**
   * Starts (or continues) resolving `ip` on `ifPos`, which has no usable entry: returns the entry, or NO_NEIGH
   * when the table is full of entries holding packets. `probeDue` tells the caller to send an ARP request now.
   */
  resolve(ip: number, ifPos: number, now: number): number {
    let slot = this.indexGet(ip);
    this.probeDue = false;
    if (slot === NO_NEIGH) {
      slot = this.allocate(ip, now);
      if (slot === NO_NEIGH) return NO_NEIGH;
      this.state[slot] = NeighState.incomplete;
      this.ifPos[slot] = ifPos;
      this.probes[slot] = 1;
      this.used[slot] = now;
      this.deadline[slot] = now + RETRY_SECONDS * this.ticksPerSecond;
      this.probeDue = true;
    }
    return slot;
  }

  /** Set by learn(): the ARP updated or created an entry. */
  learned = false;

  /** Set by resolve(): an ARP request for the entry should go out now. */
  probeDue = false;

  /**
   * The timer of `slot` at `now` (neigh_timer_handler): a retry or probe due, or out of probes. Nothing
   * changes when a request is due but `canSend` is false; it is asked again on the next tick.
   */
  timer(slot: number, now: number, canSend: boolean): NeighTimerCode {
    const s = this.state[slot];
    if (s !== NeighState.incomplete && s !== NeighState.delay && s !== NeighState.probe) return NeighTimer.none;
    if (this.deadline[slot]! > now) return NeighTimer.none;
    if (s !== NeighState.delay && this.probes[slot]! >= (s === NeighState.incomplete ? MAX_PROBES : UCAST_PROBES)) {
      return NeighTimer.failed;
    }
    if (!canSend) return NeighTimer.none;
    if (s === NeighState.delay) {
      this.state[slot] = NeighState.probe;
      this.probes[slot] = 0;
    }
    this.probes[slot]!++;
    this.deadline[slot] = now + RETRY_SECONDS * this.ticksPerSecond;
    return s === NeighState.incomplete ? NeighTimer.broadcast : NeighTimer.unicast;
  }

  /**
   * Housekeeping (neigh_periodic_work), looking at `budget` slots per call: draws reachable_time anew every
   * REACHABLE_REDRAW_SECONDS and, while at least gc_thresh1 entries are learned (the sysctl's "minimum number
   * of entries to keep"), forgets stale entries neither used nor confirmed for gc_stale_time. Returns how many
   * it forgot.
   */
  age(now: number, budget: number): number {
    if (now >= this.nextReachableDraw) {
      if (this.nextReachableDraw !== Number.NEGATIVE_INFINITY) this.reachableTicks = this.drawReachable();
      this.nextReachableDraw = now + REACHABLE_REDRAW_SECONDS * this.ticksPerSecond;
    }
    let freed = 0;
    let s = this.gcCursor;
    for (let k = Math.min(budget, this.capacity); k > 0 && this.learnedCount >= this.gcThresh1; k--) {
      if (this.periodicGcCandidate(s, now)) {
        this.release(s);
        freed++;
      }
      s = s + 1 === this.capacity ? 0 : s + 1;
    }
    this.gcCursor = s;
    this.gcFreed += freed;
    this.reportOverflow(now);
    return freed;
  }

  private reportOverflow(now: number): void {
    const evicted = this.overflowEvicted - this.reportedEvicted;
    const refused = this.overflowRefused - this.reportedRefused;
    if ((evicted === 0 && refused === 0) || now < this.nextOverflowReport || this.onOverflow === null) return;
    this.reportedEvicted = this.overflowEvicted;
    this.reportedRefused = this.overflowRefused;
    this.nextOverflowReport = now + OVERFLOW_REPORT_SECONDS * this.ticksPerSecond;
    const gcThresh3 = this.gcThresh3;
    const turnedAway =
      refused === 0 ? '' : `; new neighbours turned away (every entry had packets waiting for ARP): ${refused}`;
    this.onOverflow(
      { evicted, refused, gcThresh3 },
      `neighbour table overflow: all ${gcThresh3} learned entries (arp.gc_thresh3) were in use; ` +
        `least recently active evicted to make room: ${evicted}${turnedAway}; ` +
        'raise arp.gc_thresh3 if that many neighbours are really active',
    );
  }

  /** Stale (or reachable past its time), nothing waiting, idle for gc_stale_time. */
  private periodicGcCandidate(slot: number, now: number): boolean {
    const s = this.state[slot];
    const expired = s === NeighState.stale || (s === NeighState.reachable && this.deadline[slot]! <= now);
    return expired && this.queueLen[slot] === 0 && this.lastActive(slot) + this.gcStaleTicks <= now;
  }

  /** n->used after neigh_periodic_work's `used = max(used, confirmed)`. */
  private lastActive(slot: number): number {
    return Math.max(this.used[slot]!, this.confirmed[slot]!);
  }

  /**
   * neigh_forced_gc, at the moment an entry is to be created: frees entries holding no packets that were
   * idle for gc_stale_time, then ones idle for FORCED_GC_SECONDS, until gc_thresh2 entries are left; a
   * reachable entry counts as active (the native fast path sends through it without marking it used). If
   * the table is still at gc_thresh3, the least recently active entry holding no packets goes, whatever its
   * state. Returns how many it freed.
   */
  private forcedGc(now: number): number {
    this.lastForcedGc = now;
    const excess = this.learnedCount - this.gcThresh2;
    let freed = 0;
    if (now >= this.noIdleUntil) {
      freed = this.freeIdle(now, this.gcStaleTicks, excess);
      if (freed < excess) freed += this.freeIdle(now, FORCED_GC_SECONDS * this.ticksPerSecond, excess - freed);
      if (freed === 0 && excess > 0) this.noIdleUntil = now + FORCED_GC_SECONDS * this.ticksPerSecond;
    }
    if (this.learnedCount >= this.gcThresh3) {
      let oldest = NO_NEIGH;
      let oldestTime = Number.POSITIVE_INFINITY;
      for (let s = 0; s < this.capacity; s++) {
        if (!this.evictable(s)) continue;
        const t = this.lastActive(s);
        if (t < oldestTime) {
          oldest = s;
          oldestTime = t;
        }
      }
      if (oldest !== NO_NEIGH) {
        this.release(oldest);
        freed++;
        this.overflowEvicted++;
      }
    }
    this.gcFreed += freed;
    return freed;
  }

  /** Frees up to `limit` entries holding no packets and idle for `idle` ticks; returns how many. */
  private freeIdle(now: number, idle: number, limit: number): number {
    let freed = 0;
    for (let s = 0; s < this.capacity && freed < limit; s++) {
      if (!this.evictable(s)) continue;
      const activeNow = this.state[s] === NeighState.reachable && this.deadline[s]! > now;
      if (!activeNow && this.lastActive(s) + idle <= now) {
        this.release(s);
        freed++;
      }
    }
    return freed;
  }

  /** A learned entry with no packets waiting on it. */
  private evictable(slot: number): boolean {
    const s = this.state[slot];
    return s !== NeighState.free && s !== NeighState.static && this.queueLen[slot] === 0;
  }

  /** Copies `buf[off, off+len)` into the entry's queue; false when the queue (or the entry's share) is full. */
  enqueue(slot: number, buf: Uint8Array, off: number, len: number): boolean {
    const q = this.queueFree;
    if (q === -1 || this.queueLen[slot]! >= PER_NEIGHBOUR_QUEUE || len > SLOT_SIZE) return false;
    this.queueFree = this.queueNext[q]!;
    copyBytes.call(buf, this.queueBytes, q * SLOT_SIZE, off, off + len);
    this.queueLength[q] = len;
    this.queueNext[q] = -1;
    const tail = this.queueTail[slot]!;
    if (tail === -1) this.queueHead[slot] = q;
    else this.queueNext[tail] = q;
    this.queueTail[slot] = q;
    this.queueLen[slot]!++;
    this.queued++;
    return true;
  }

  /** Takes the oldest waiting packet of `slot` off its queue; its bytes stay valid until the next enqueue. */
  dequeue(slot: number): number {
    const q = this.queueHead[slot]!;
    if (q === -1) return -1;
    this.queueHead[slot] = this.queueNext[q]!;
    if (this.queueHead[slot] === -1) this.queueTail[slot] = -1;
    this.queueLen[slot]!--;
    this.queueNext[q] = this.queueFree;
    this.queueFree = q;
    this.queued--;
    return q;
  }

  /** Drops the entry and every packet waiting on it; returns how many packets were dropped. */
  fail(slot: number): number {
    let dropped = 0;
    while (this.queueLen[slot]! > 0) {
      this.dequeue(slot);
      dropped++;
    }
    this.release(slot);
    return dropped;
  }

  /** A slot for a new learned entry of `ip` (neigh_alloc), after a forced gc when the table is that full. */
  private allocate(ip: number, now: number): number {
    const n = this.learnedCount;
    if (
      n >= this.gcThresh3 ||
      (n >= this.gcThresh2 && now >= this.lastForcedGc + FORCED_GC_SECONDS * this.ticksPerSecond)
    ) {
      this.forcedGc(now);
      if (this.learnedCount >= this.gcThresh3) {
        this.overflowRefused++;
        return NO_NEIGH;
      }
    }
    const slot = this.freeEntries.pop();
    if (slot === undefined) return NO_NEIGH;
    this.indexSet(ip, slot);
    this.ip[slot] = ip;
    this.probes[slot] = 0;
    this.used[slot] = now;
    this.confirmed[slot] = Number.NEGATIVE_INFINITY;
    this.learnedCount++;
    return slot;
  }

  private release(slot: number): void {
    this.indexDelete(this.ip[slot]!);
    if (this.state[slot] !== NeighState.static) this.learnedCount--;
    this.state[slot] = NeighState.free;
    this.freeEntries.push(slot);
  }
}
