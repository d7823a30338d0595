// Weighted round-robin (ip_vs_wrr.c): passes over the list at a falling weight threshold cw, in steps of the
// weights' gcd, so a destination of weight w is picked w/gcd times per cycle, heaviest first.
import type { Dest } from '../dest/dest.js';
import type { SchedInput, Scheduler } from './types.js';

/** Index standing for the list head (struct list_head of the service), before the first destination. */
const HEAD = -1;
/** `stop` before it is set: matches no index (the kernel's NULL). */
const NO_STOP = -2;

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

export class WrrScheduler implements Scheduler {
  readonly name = 'wrr';
  private dests: Dest[] = [];
  /** mark->cl: index of the current destination, or HEAD. */
  private cl = HEAD;
  /** mark->cw: the current weight threshold. */
  private cw = 0;
  /** mark->mw: the largest weight, less (di - 1) so that the last pass runs at cw = 1. */
  private mw = 0;
  /** mark->di: gcd of the positive weights, 1 if none. */
  private di = 1;

  /** ip_vs_wrr_dest_changed(), the add/del/upd hook; from the initial state it equals ip_vs_wrr_init_svc(). */
  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
    let g = 0;
    let max = 0;
    for (const dest of this.dests) {
      const w = dest.weight;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > max) max = w;
    }
    this.cl = HEAD;
    this.di = g > 0 ? g : 1;
    this.mw = max - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }

  pick(_input: SchedInput): Dest | null {
    const dests = this.dests;
    if (this.mw === 0) return null;
    const last = this.cl;
    let index = last;
    let stop = NO_STOP;
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (let i = index + 1; i < dests.length; i++) {
        const dest = dests[i]!;
        if (!dest.overloaded && dest.weight >= this.cw) {
          this.cl = i;
          return dest;
        }
        if (i === stop) {
          this.cl = i;
          return null;
        }
      }
      index = HEAD;
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        // Every destination has been tried down to weight 1: either a last pass already ran, or the walk
        // began at the head so the one pass covered the whole list.
        if (lastPass || last === HEAD) {
          this.cl = HEAD;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      // The pass at weight >= 1 only covered the entries after `last`; finish with those up to it.
      if (lastPass && restarted && last !== HEAD) stop = last;
    }
  }
}
