// Least-connection (ip_vs_lc.c): the lowest overhead wins; ties go to the first in list order.
import type { Dest } from '../dest/dest.js';
import { connOverhead } from './overhead.js';
import type { SchedInput, Scheduler } from './types.js';

export class LcScheduler implements Scheduler {
  readonly name = 'lc';
  private dests: Dest[] = [];

  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
  }

  pick(_input: SchedInput): Dest | null {
    const dests = this.dests;
    let least: Dest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const dest = dests[i]!;
      if (dest.overloaded || dest.weight === 0) continue;
      // ip_vs_lc_schedule() keeps the overhead in an unsigned int.
      const doh = connOverhead(dest) >>> 0;
      if (least === null || doh < loh) {
        least = dest;
        loh = doh;
      }
    }
    return least;
  }
}
