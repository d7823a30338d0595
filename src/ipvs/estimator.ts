// The IPVS rate estimator (net/netfilter/ipvs/ip_vs_est.c) and the counter zero point of `ipvsadm -Z`
// (ip_vs_zero_stats() in ip_vs_ctl.c), driven by a tick(now) call instead of a kernel timer.
//
// Every 2 s each estimator snapshots its Stats (the kernel's kstats), takes the change since the previous
// snapshot and folds it into a weighted average with weight 1/4:
//   conns/pkts: rate = delta << 9 (x 2^10, / 2 s)   bytes: rate = delta << 4 (x 2^5, / 2 s)
//   avg += (rate - avg) >> 2     (signed 64-bit, an arithmetic shift: floor, not truncation)
// and shows cps/pps = (avg + 0x1FF) >> 10, bps = (avg + 0xF) >> 5 (ip_vs_read_estimator()).
// Shown counters are snapshot minus zero point, so, as in the kernel, they move only when the estimator
// runs. Values here are doubles: exact integers up to 2^53, which byte counts scaled by 2^5 do not reach.

import type { Stats } from '../dest/stats.js';

/** Estimation period (the kernel's 2*HZ), in the ticks of `now`. */
export const ESTIMATOR_PERIOD_SECONDS = 2;
/** Missed periods replayed by one tick() before the schedule is simply restarted (decay is ~1/4 per run). */
const MAX_CATCH_UP_RUNS = 200;

/** Counters and rates as `ipvsadm -L --stats/--rate` reports them (struct ip_vs_kstats after copy_stats). */
export interface StatsReadout {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export function emptyReadout(): StatsReadout {
  return { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
}

/** avg += (rate - avg) >> 2 with the kernel's arithmetic (flooring) shift on a negative difference. */
function fold(avg: number, rate: number): number {
  return avg + Math.floor((rate - avg) / 4);
}

/** One estimator per Stats object (struct ip_vs_estimator plus kstats/kstats0). */
export class Estimator {
  readonly stats: Stats;
  // kstats: the counters as of the last run (also the estimator's last_* values, which always equal them).
  snapConns: number;
  snapInPkts: number;
  snapOutPkts: number;
  snapInBytes: number;
  snapOutBytes: number;
  // kstats0: the zero point moved by zero().
  zeroConns: number;
  zeroInPkts: number;
  zeroOutPkts: number;
  zeroInBytes: number;
  zeroOutBytes: number;
  // Scaled averages: rates x 2^10 for conns/pkts, x 2^5 for bytes.
  cps = 0;
  inPps = 0;
  outPps = 0;
  inBps = 0;
  outBps = 0;

  constructor(stats: Stats) {
    this.stats = stats;
    this.snapConns = this.zeroConns = stats.conns;
    this.snapInPkts = this.zeroInPkts = stats.inPkts;
    this.snapOutPkts = this.zeroOutPkts = stats.outPkts;
    this.snapInBytes = this.zeroInBytes = stats.inBytes;
    this.snapOutBytes = this.zeroOutBytes = stats.outBytes;
  }

  /** One 2-s estimation step (ip_vs_chain_estimation() / estimation_timer() for this entry). */
  estimate(): void {
    const s = this.stats;
    this.cps = fold(this.cps, (s.conns - this.snapConns) * 512);
    this.inPps = fold(this.inPps, (s.inPkts - this.snapInPkts) * 512);
    this.outPps = fold(this.outPps, (s.outPkts - this.snapOutPkts) * 512);
    this.inBps = fold(this.inBps, (s.inBytes - this.snapInBytes) * 16);
    this.outBps = fold(this.outBps, (s.outBytes - this.snapOutBytes) * 16);
    this.snapConns = s.conns;
    this.snapInPkts = s.inPkts;
    this.snapOutPkts = s.outPkts;
    this.snapInBytes = s.inBytes;
    this.snapOutBytes = s.outBytes;
  }

  /**
   * `ipvsadm -Z` (ip_vs_zero_stats() + ip_vs_zero_estimator()): the last snapshot becomes the zero point
   * and the rates restart from 0. Traffic since the last run is not lost: the next run still sees it.
   */
  zero(): void {
    this.zeroConns = this.snapConns;
    this.zeroInPkts = this.snapInPkts;
    this.zeroOutPkts = this.snapOutPkts;
    this.zeroInBytes = this.snapInBytes;
    this.zeroOutBytes = this.snapOutBytes;
    this.cps = 0;
    this.inPps = 0;
    this.outPps = 0;
    this.inBps = 0;
    this.outBps = 0;
  }

  /** ip_vs_copy_stats(): shown counters and decoded rates. */
  read(out: StatsReadout): StatsReadout {
    out.conns = this.snapConns - this.zeroConns;
    out.inPkts = this.snapInPkts - this.zeroInPkts;
    out.outPkts = this.snapOutPkts - this.zeroOutPkts;
    out.inBytes = this.snapInBytes - this.zeroInBytes;
    out.outBytes = this.snapOutBytes - this.zeroOutBytes;
    out.cps = Math.floor((this.cps + 0x1ff) / 1024);
    out.inPps = Math.floor((this.inPps + 0x1ff) / 1024);
    out.outPps = Math.floor((this.outPps + 0x1ff) / 1024);
    out.inBps = Math.floor((this.inBps + 0xf) / 32);
    out.outBps = Math.floor((this.outBps + 0xf) / 32);
    return out;
  }
}

/**
 * All estimators of one director, run together every 2 s like the kernel's per-netns estimation timer: the
 * first run comes one period after construction. `now` is in ticks of `ticksPerSecond` (ms by default).
 */
export class EstimatorSet {
  private readonly estimators = new Set<Estimator>();
  private readonly period: number;
  private nextRun: number;
  /** Estimation runs so far. */
  runs = 0;

  constructor(start: number, ticksPerSecond = 1000) {
    this.period = ESTIMATOR_PERIOD_SECONDS * ticksPerSecond;
    this.nextRun = start + this.period;
  }

  add(stats: Stats): Estimator {
    const est = new Estimator(stats);
    this.estimators.add(est);
    return est;
  }

  remove(est: Estimator): void {
    this.estimators.delete(est);
  }

  get count(): number {
    return this.estimators.size;
  }

  /**
   * Runs every estimation period that has come due by `now`. Periods missed because tick() came late are
   * replayed (the first sees all the change, later ones none), so averages decay as the kernel's would.
   * Returns the number of runs made.
   */
  tick(now: number): number {
    let made = 0;
    while (this.nextRun <= now) {
      if (made === MAX_CATCH_UP_RUNS) {
        this.nextRun = now + this.period;
        break;
      }
      for (const est of this.estimators) est.estimate();
      this.nextRun += this.period;
      made++;
    }
    this.runs += made;
    return made;
  }

  /** ipvsadm -Z for everything. */
  zeroAll(): void {
    for (const est of this.estimators) est.zero();
  }
}
