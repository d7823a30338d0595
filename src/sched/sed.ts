// Shortest expected delay (ip_vs_sed.c): wlc's comparison with overhead = active + 1, so the connection
// being placed counts and an idle heavy server beats an idle light one.
import type { Dest } from '../dest/dest.js';
import type { SchedInput, Scheduler } from './types.js';

/** ip_vs_sed_schedule() over a list. Allocates nothing. */
function shortestExpectedDelay(dests: readonly Dest[]): Dest | null {
  const n = dests.length;
  let i = 0;
  let least: Dest | null = null;
  for (; i < n; i++) {
    const dest = dests[i]!;
    if (!dest.overloaded && dest.weight > 0) {
      least = dest;
      break;
    }
  }
  if (least === null) return null;
  let loh = least.activeConns + 1;
  for (i++; i < n; i++) {
    const dest = dests[i]!;
    if (dest.overloaded) continue;
    const doh = dest.activeConns + 1;
    if (loh * dest.weight > doh * least.weight) {
      least = dest;
      loh = doh;
    }
  }
  return least;
}

export class SedScheduler implements Scheduler {
  readonly name = 'sed';
  private dests: Dest[] = [];

  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
  }

  pick(_input: SchedInput): Dest | null {
    return shortestExpectedDelay(this.dests);
  }
}
