// Locality-based least-connection with replication (ip_vs_lblcr.c): each packet destination address maps
// to a set of real servers (newest first). The set's weighted least-connection member serves; when it is
// overloaded, or none is usable, weighted least-connection over the service adds a member. A set untouched
// for the expiration sheds its most loaded member.
import type { Dest } from '../dest/dest.js';
import { LocalityCache, localityOverloaded } from './locality.js';
import { connOverhead, weightedLeastConn } from './overhead.js';
import type { SchedInput, SchedOptions, Scheduler } from './types.js';

const NONE = -1;

export class LblcrScheduler extends LocalityCache implements Scheduler {
  readonly name = 'lblcr';
  private dests: Dest[] = [];
  // Per entry: its set (struct ip_vs_dest_set) as a chain of members.
  private readonly setHead: Int32Array;
  private readonly setSize: Int32Array;
  private readonly setLastMod: Float64Array;
  // Member pool (struct ip_vs_dest_set_elem).
  private readonly memberDest: (Dest | null)[];
  private readonly memberNext: Int32Array;
  private memberFree: number;

  constructor(options?: SchedOptions) {
    super(options);
    this.setHead = new Int32Array(this.capacity).fill(NONE);
    this.setSize = new Int32Array(this.capacity);
    this.setLastMod = new Float64Array(this.capacity);
    const members = this.capacity * 2;
    this.memberDest = new Array<Dest | null>(members).fill(null);
    this.memberNext = new Int32Array(members);
    for (let i = 0; i < members; i++) this.memberNext[i] = i + 1 < members ? i + 1 : NONE;
    this.memberFree = 0;
  }

  /** lblcr has no add/del/upd hooks: sets keep removed destinations and skip them. */
  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
  }

  /** The set for a packet destination address, newest member first (for tests and tracing). */
  cachedSet(daddr: number): Dest[] {
    const entry = this.find(daddr >>> 0);
    const out: Dest[] = [];
    if (entry < 0) return out;
    for (let m = this.setHead[entry]!; m !== NONE; m = this.memberNext[m]!) out.push(this.memberDest[m]!);
    return out;
  }

  pick(input: SchedInput): Dest | null {
    const now = this.clock();
    const daddr = input.daddr >>> 0;
    const entry = this.find(daddr);
    if (entry >= 0) {
      this.lastUse[entry] = now;
      let dest = this.setMin(entry);
      // More than one member and no change for the expiration: drop the most loaded (time_after is strict).
      if (this.setSize[entry]! > 1 && now > this.setLastMod[entry]! + this.expiration) {
        const most = this.setMax(entry);
        if (most !== null) this.setErase(entry, most, now);
      }
      if (dest !== null && !localityOverloaded(dest, this.dests)) return dest;
      dest = weightedLeastConn(this.dests);
      if (dest === null) return null;
      this.setInsert(entry, dest, true, now);
      return dest;
    }
    const dest = weightedLeastConn(this.dests);
    if (dest === null) return null;
    // ip_vs_lblcr_new()
    const fresh = this.insert(daddr, now);
    if (fresh >= 0) {
      this.setHead[fresh] = NONE;
      this.setSize[fresh] = 0;
      this.setLastMod[fresh] = now;
      this.setInsert(fresh, dest, false, now);
    }
    return dest;
  }

  protected release(entry: number): void {
    let m = this.setHead[entry]!;
    while (m !== NONE) {
      const following = this.memberNext[m]!;
      this.freeMember(m);
      m = following;
    }
    this.setHead[entry] = NONE;
    this.setSize[entry] = 0;
  }

  private freeMember(m: number): void {
    this.memberDest[m] = null;
    this.memberNext[m] = this.memberFree;
    this.memberFree = m;
  }

  /** ip_vs_dest_set_insert(): at the head of the set; with `check`, nothing if already a member. */
  private setInsert(entry: number, dest: Dest, check: boolean, now: number): void {
    if (check) {
      for (let m = this.setHead[entry]!; m !== NONE; m = this.memberNext[m]!) {
        if (this.memberDest[m] === dest) return;
      }
    }
    const m = this.memberFree;
    if (m === NONE) return;
    this.memberFree = this.memberNext[m]!;
    this.memberDest[m] = dest;
    this.memberNext[m] = this.setHead[entry]!;
    this.setHead[entry] = m;
    this.setSize[entry] = this.setSize[entry]! + 1;
    this.setLastMod[entry] = now;
  }

  /** ip_vs_dest_set_erase() */
  private setErase(entry: number, dest: Dest, now: number): void {
    let prev = NONE;
    for (let m = this.setHead[entry]!; m !== NONE; prev = m, m = this.memberNext[m]!) {
      if (this.memberDest[m] !== dest) continue;
      this.setSize[entry] = this.setSize[entry]! - 1;
      this.setLastMod[entry] = now;
      if (prev === NONE) this.setHead[entry] = this.memberNext[m]!;
      else this.memberNext[prev] = this.memberNext[m]!;
      this.freeMember(m);
      return;
    }
  }

  /**
   * ip_vs_dest_set_min(): the first member that is not overloaded, has weight > 0 and is still in its
   * service; later non-overloaded members that are still in the service replace it when less loaded.
   */
  private setMin(entry: number): Dest | null {
    let m = this.setHead[entry]!;
    let least: Dest | null = null;
    for (; m !== NONE; m = this.memberNext[m]!) {
      const dest = this.memberDest[m]!;
      if (dest.overloaded) continue;
      if (dest.weight > 0 && dest.available) {
        least = dest;
        break;
      }
    }
    if (least === null) return null;
    let loh = connOverhead(least);
    for (m = this.memberNext[m]!; m !== NONE; m = this.memberNext[m]!) {
      const dest = this.memberDest[m]!;
      if (dest.overloaded) continue;
      const doh = connOverhead(dest);
      if (loh * dest.weight > doh * least.weight && dest.available) {
        least = dest;
        loh = doh;
      }
    }
    return least;
  }

  /** ip_vs_dest_set_max(): the most loaded member by overhead/weight, among members with weight > 0. */
  private setMax(entry: number): Dest | null {
    let m = this.setHead[entry]!;
    let most: Dest | null = null;
    for (; m !== NONE; m = this.memberNext[m]!) {
      const dest = this.memberDest[m]!;
      if (dest.weight > 0) {
        most = dest;
        break;
      }
    }
    if (most === null) return null;
    let moh = connOverhead(most);
    for (m = this.memberNext[m]!; m !== NONE; m = this.memberNext[m]!) {
      const dest = this.memberDest[m]!;
      const doh = connOverhead(dest);
      if (moh * dest.weight < doh * most.weight && dest.weight > 0) {
        most = dest;
        moh = doh;
      }
    }
    return most;
  }
}
