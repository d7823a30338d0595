// The cache shared by lblc and lblcr (ip_vs_lblc.c, ip_vs_lblcr.c): packet destination address -> entry,
// in 1024 buckets chosen by hash_32(daddr, 10) with the newest entry first in its bucket, as the kernel's
// hlists. Entries live in preallocated typed arrays so that a pick allocates nothing; a full pool behaves
// like the kernel's failed GFP_ATOMIC allocation (the pick stands, uncached).
// Expiry follows the kernel's 60-second timer (ip_vs_lblc_check_expire) tick for tick: the ticks are run
// lazily, from the clock, before the next pick looks at the table, which is the only place they show.
import type { Dest } from '../dest/dest.js';
import { hash32 } from './hash.js';
import type { SchedOptions } from './types.js';

/** CONFIG_IP_VS_LBLC_TAB_BITS / CONFIG_IP_VS_LBLCR_TAB_BITS default. */
export const LOCALITY_TAB_BITS = 10;
const TAB_SIZE = 1 << LOCALITY_TAB_BITS;
const TAB_MASK = TAB_SIZE - 1;
/** tbl->max_size: above this many entries the timer collects entries idle for ENTRY_TIMEOUT. */
export const LOCALITY_MAX_SIZE = TAB_SIZE * 16;
/** Seconds between timer runs (CHECK_EXPIRE_INTERVAL). */
export const CHECK_EXPIRE_INTERVAL = 60;
/** Idle seconds after which an entry may go when the table is over max_size (ENTRY_TIMEOUT). */
export const ENTRY_TIMEOUT = 6 * 60;
/** lblc_expiration / lblcr_expiration default (DEFAULT_EXPIRATION), seconds. */
export const DEFAULT_EXPIRATION = 24 * 60 * 60;
/** Every this many quiet timer runs, a full check drops entries idle for the expiration (half an hour). */
const COUNT_FOR_FULL_EXPIRATION = 30;
const DEFAULT_CAPACITY = 32768;
const NONE = -1;

export function defaultClock(): number {
  return performance.now() / 1000;
}

/**
 * is_overloaded() of lblc/lblcr: more active connections than weight, while some destination of the
 * service has fewer than half its weight active.
 */
export function localityOverloaded(dest: Dest, dests: readonly Dest[]): boolean {
  if (dest.activeConns > dest.weight) {
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (d.activeConns * 2 < d.weight) return true;
    }
  }
  return false;
}

export abstract class LocalityCache {
  /** The sysctl lblc_expiration / lblcr_expiration, seconds. */
  expiration: number;
  /**
   * tbl->entries, counted as the kernel counts it: +1 per new entry, -1 per entry the timer drops. (lblc
   * replaces an entry without the -1, so its count drifts upwards, which moves its collection threshold.)
   */
  entries = 0;
  protected readonly capacity: number;
  protected readonly key: Uint32Array;
  protected readonly lastUse: Float64Array;
  private readonly bucketHead = new Int32Array(TAB_SIZE).fill(NONE);
  private readonly next: Int32Array;
  private freeHead: number;
  /** Entries actually held (unlike `entries`). */
  private live = 0;
  private rover = 0;
  private counter = 1;
  private nextCheck = 0;
  private now: () => number;

  constructor(options: SchedOptions | undefined) {
    this.expiration = options?.expiration ?? DEFAULT_EXPIRATION;
    this.capacity = Math.max(1, options?.cacheCapacity ?? DEFAULT_CAPACITY);
    this.key = new Uint32Array(this.capacity);
    this.lastUse = new Float64Array(this.capacity);
    this.next = new Int32Array(this.capacity);
    for (let i = 0; i < this.capacity; i++) this.next[i] = i + 1 < this.capacity ? i + 1 : NONE;
    this.freeHead = 0;
    this.now = options?.now ?? defaultClock;
    this.nextCheck = this.now() + CHECK_EXPIRE_INTERVAL;
  }

  /** Replaces the clock; the collection timer restarts one interval from the new clock's present. */
  setClock(now: () => number): void {
    this.now = now;
    this.nextCheck = now() + CHECK_EXPIRE_INTERVAL;
  }

  /** Number of cache entries held. */
  get size(): number {
    return this.live;
  }

  /** Reads the clock, first running any timer ticks that fell due. */
  protected clock(): number {
    const now = this.now();
    while (this.nextCheck <= now) {
      this.checkExpire(this.nextCheck);
      this.nextCheck += CHECK_EXPIRE_INTERVAL;
    }
    return now;
  }

  /** ip_vs_lblc_get(): the entry for `addr`, or -1. */
  protected find(addr: number): number {
    for (let i = this.bucketHead[hash32(addr, LOCALITY_TAB_BITS)]!; i !== NONE; i = this.next[i]!) {
      if (this.key[i] === addr) return i;
    }
    return NONE;
  }

  /** A new entry at the head of its bucket (ip_vs_lblc_hash), or -1 when the pool is exhausted. */
  protected insert(addr: number, now: number): number {
    const i = this.freeHead;
    if (i === NONE) return NONE;
    this.freeHead = this.next[i]!;
    const bucket = hash32(addr, LOCALITY_TAB_BITS);
    this.key[i] = addr;
    this.lastUse[i] = now;
    this.next[i] = this.bucketHead[bucket]!;
    this.bucketHead[bucket] = i;
    this.entries++;
    this.live++;
    return i;
  }

  /** Unhashes and frees an entry; does not touch `entries` (callers decide, as the kernel does). */
  protected remove(entry: number): void {
    const bucket = hash32(this.key[entry]!, LOCALITY_TAB_BITS);
    let prev = NONE;
    for (let i = this.bucketHead[bucket]!; i !== NONE; prev = i, i = this.next[i]!) {
      if (i !== entry) continue;
      if (prev === NONE) this.bucketHead[bucket] = this.next[i]!;
      else this.next[prev] = this.next[i]!;
      this.release(i);
      this.next[i] = this.freeHead;
      this.freeHead = i;
      this.live--;
      return;
    }
  }

  /** Frees what an entry holds (its destination, or its set). */
  protected abstract release(entry: number): void;

  /** Drops the entries of one bucket idle for `idle` seconds or more at `now`; returns how many. */
  private expireBucket(bucket: number, idle: number, now: number): number {
    let dropped = 0;
    let i = this.bucketHead[bucket]!;
    while (i !== NONE) {
      const following = this.next[i]!;
      // time_before(now, lastuse + idle) keeps the entry.
      if (!(now < this.lastUse[i]! + idle)) {
        this.remove(i);
        this.entries--;
        dropped++;
      }
      i = following;
    }
    return dropped;
  }

  /** One run of ip_vs_lblc_check_expire() / ip_vs_lblcr_check_expire() at time `now`. */
  checkExpire(now: number): void {
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      // ip_vs_lblc_full_check(): every bucket, entries idle for the expiration; the rover ends where it began.
      if (this.live > 0) {
        for (let i = 0, j = this.rover; i < TAB_SIZE; i++) {
          j = (j + 1) & TAB_MASK;
          this.expireBucket(j, this.expiration, now);
        }
      }
      this.counter = 1;
      return;
    }
    if (this.entries <= LOCALITY_MAX_SIZE) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - LOCALITY_MAX_SIZE) * 4) / 3);
    if (goal > Math.trunc(LOCALITY_MAX_SIZE / 2)) goal = Math.trunc(LOCALITY_MAX_SIZE / 2);
    let j = this.rover;
    for (let i = 0; i < TAB_SIZE; i++) {
      j = (j + 1) & TAB_MASK;
      goal -= this.expireBucket(j, ENTRY_TIMEOUT, now);
      if (goal <= 0) break;
    }
    this.rover = j;
  }
}
