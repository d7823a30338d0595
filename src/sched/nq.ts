// Never queue (ip_vs_nq.c): the first available destination with no active connection wins at once;
// otherwise the shortest expected delay, (active + 1) / weight.
import type { Dest } from '../dest/dest.js';
import type { SchedInput, Scheduler } from './types.js';

export class NqScheduler implements Scheduler {
  readonly name = 'nq';
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
      if (dest.activeConns === 0) return dest;
      const doh = dest.activeConns + 1;
      if (least === null || loh * dest.weight > doh * least.weight) {
        least = dest;
        loh = doh;
      }
    }
    return least;
  }
}
