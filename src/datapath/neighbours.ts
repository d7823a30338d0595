// The neighbour table (the kernel's ARP cache): next-hop IPv4 -> MAC per interface, static entries from the
// configuration and entries learned from ARP, plus a bounded queue of packets waiting for a resolution.
//
// Entries live in typed arrays indexed by slot; a Map finds the slot of an address (no allocation on a
// lookup). Learned entries stay reachable for REACHABLE_SECONDS after their last confirmation, then count
// as unknown again and are resolved anew. Resolution sends an ARP request at once and again every
// RETRY_SECONDS, at most MAX_PROBES times (Linux's mcast_solicit default is 3); when the last one goes
// unanswered the waiting packets are dropped. The queue holds at most `queueCapacity` packets in total and
// PER_NEIGHBOUR_QUEUE per next hop; a packet that does not fit is dropped (counted), not an older one.
import { SLOT_SIZE } from '../io/batch.js';
import { macHigh16, macLow32 } from '../wire/addr.js';
import { copyBytes } from '../wire/bytes.js';

/** How long a learned entry is trusted without a new ARP from its owner. */
export const REACHABLE_SECONDS = 300;
/** Interval between ARP requests for an unresolved next hop (Linux retrans_time, 1 s). */
export const RETRY_SECONDS = 1;
/** ARP requests sent before giving up on a next hop (Linux mcast_solicit). */
export const MAX_PROBES = 3;
/** Packets one unresolved next hop may hold. */
export const PER_NEIGHBOUR_QUEUE = 16;

export const NeighState = {
  free: 0,
  /** Resolution under way: no MAC yet, packets may be waiting. */
  incomplete: 1,
  reachable: 2,
  /** From the configuration: never ages, never overwritten by ARP. */
  static: 3,
} as const;

export const NO_NEIGH = -1;

export class NeighbourTable {
  readonly capacity: number;
  readonly queueCapacity: number;
  private readonly ticksPerSecond: number;
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
  /** Reachable: when it stops being trusted. Incomplete: when the next ARP request is due. */
  readonly deadline: Float64Array;
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

  constructor(capacity: number, queueCapacity: number, ticksPerSecond: number) {
    this.capacity = capacity;
    this.queueCapacity = queueCapacity;
    this.ticksPerSecond = ticksPerSecond;
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

  /** The entry of `ip`, or NO_NEIGH; a learned entry past its time is released here and reported missing. */
  find(ip: number, now: number): number {
    const slot = this.indexGet(ip);
    if (slot === NO_NEIGH) return NO_NEIGH;
    if (this.state[slot] === NeighState.reachable && this.deadline[slot]! <= now && this.queueLen[slot] === 0) {
      this.release(slot);
      return NO_NEIGH;
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

  /** True when `slot` has a usable MAC. */
  resolved(slot: number): boolean {
    const s = this.state[slot];
    return s === NeighState.reachable || s === NeighState.static;
  }

  addStatic(ip: number, mac: number, ifPos: number): void {
    const known = this.indexGet(ip);
    const slot = known !== NO_NEIGH ? known : this.allocate(ip);
    if (slot === NO_NEIGH) throw new RangeError('neighbour table full of static entries');
    this.state[slot] = NeighState.static;
    this.macHigh[slot] = macHigh16(mac);
    this.macLow[slot] = macLow32(mac);
    this.ifPos[slot] = ifPos;
  }

  /**
   * An ARP from `ip` at the MAC (macHigh16, macLow32) on interface `ifPos`: updates its entry, or creates one
   * when `create` (the ARP was aimed at us). Static entries are left alone. Returns the slot when the entry
   * now has packets to release, else NO_NEIGH.
   */
  learn(ip: number, macHigh: number, macLow: number, ifPos: number, create: boolean, now: number): number {
    this.learned = false;
    let slot = this.indexGet(ip);
    if (slot === NO_NEIGH) {
      if (!create) return NO_NEIGH;
      slot = this.allocate(ip);
      if (slot === NO_NEIGH) return NO_NEIGH;
    } else if (this.state[slot] === NeighState.static) {
      return NO_NEIGH;
    }
    this.learned = true;
    this.state[slot] = NeighState.reachable;
    this.macHigh[slot] = macHigh;
    this.macLow[slot] = macLow;
    this.ifPos[slot] = ifPos;
    this.deadline[slot] = now + REACHABLE_SECONDS * this.ticksPerSecond;
    this.probes[slot] = 0;
    return this.queueLen[slot]! > 0 ? slot : NO_NEIGH;
  }

  /**
   * Starts (or continues) resolving `ip` on `ifPos`: returns the entry, or NO_NEIGH when the table is full.
   * `probeDue` tells the caller to send an ARP request now.
   */
  resolve(ip: number, ifPos: number, now: number): number {
    let slot = this.find(ip, now);
    this.probeDue = false;
    if (slot === NO_NEIGH) {
      slot = this.allocate(ip);
      if (slot === NO_NEIGH) return NO_NEIGH;
      this.state[slot] = NeighState.incomplete;
      this.ifPos[slot] = ifPos;
      this.probes[slot] = 1;
      this.deadline[slot] = now + RETRY_SECONDS * this.ticksPerSecond;
      this.probeDue = true;
    } else if (this.state[slot] === NeighState.reachable && this.deadline[slot]! <= now) {
      // Stale with packets still waiting to leave: ask again rather than trust the old MAC.
      this.state[slot] = NeighState.incomplete;
      this.probes[slot] = 1;
      this.deadline[slot] = now + RETRY_SECONDS * this.ticksPerSecond;
      this.probeDue = true;
    }
    return slot;
  }

  /** Set by learn(): the ARP updated or created an entry. */
  learned = false;

  /** Set by resolve(): an ARP request for the entry should go out now. */
  probeDue = false;

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

  private allocate(ip: number): number {
    const slot = this.freeEntries.pop();
    if (slot === undefined) return NO_NEIGH;
    this.indexSet(ip, slot);
    this.ip[slot] = ip;
    this.probes[slot] = 0;
    return slot;
  }

  private release(slot: number): void {
    this.indexDelete(this.ip[slot]!);
    this.state[slot] = NeighState.free;
    this.freeEntries.push(slot);
  }
}
