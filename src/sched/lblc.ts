// Locality-based least-connection (ip_vs_lblc.c): each packet destination address sticks to one real
// server (cache clusters); a cached choice is abandoned when it is gone, quiesced, or overloaded while
// another server is under half load, and weighted least-connection picks a new one.
import type { Dest } from '../dest/dest.js';
import { LocalityCache, localityOverloaded } from './locality.js';
import { weightedLeastConn } from './overhead.js';
import type { SchedInput, SchedOptions, Scheduler } from './types.js';

export class LblcScheduler extends LocalityCache implements Scheduler {
  readonly name = 'lblc';
  private dests: Dest[] = [];
  private readonly entryDest: (Dest | null)[];

  constructor(options?: SchedOptions) {
    super(options);
    this.entryDest = new Array<Dest | null>(this.capacity).fill(null);
  }

  /** lblc has no add/del/upd hooks: the cache keeps entries for removed destinations and skips them. */
  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
  }

  /** The cached destination for a packet destination address, if any (for tests and tracing). */
  cached(daddr: number): Dest | null {
    const entry = this.find(daddr >>> 0);
    return entry < 0 ? null : (this.entryDest[entry] ?? null);
  }

  pick(input: SchedInput): Dest | null {
    const now = this.clock();
    const daddr = input.daddr >>> 0;
    const entry = this.find(daddr);
    if (entry >= 0) {
      this.lastUse[entry] = now;
      const dest = this.entryDest[entry]!;
      if (dest.available && dest.weight > 0 && !localityOverloaded(dest, this.dests)) return dest;
    }
    const dest = weightedLeastConn(this.dests);
    if (dest === null) return null;
    // ip_vs_lblc_new(): keep an entry that already names this destination, else replace it.
    if (entry >= 0) {
      if (this.entryDest[entry] === dest) return dest;
      this.remove(entry);
    }
    const fresh = this.insert(daddr, now);
    if (fresh >= 0) this.entryDest[fresh] = dest;
    return dest;
  }

  protected release(entry: number): void {
    this.entryDest[entry] = null;
  }
}
