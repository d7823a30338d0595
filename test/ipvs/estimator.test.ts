import { describe, expect, it } from 'vitest';
import { Stats } from '../../src/dest/stats.js';
import { EstimatorSet, emptyReadout } from '../../src/ipvs/estimator.js';

// Every value below was worked by hand from ip_vs_est.c:
//   rate = delta << 9 (conns, pkts) or delta << 4 (bytes); avg += (rate - avg) >> 2 (arithmetic shift);
//   shown pps/cps = (avg + 511) >> 10, bps = (avg + 15) >> 5.
describe('Estimator', () => {
  it('follows a hand-worked sequence of counter values', () => {
    const stats = new Stats();
    const set = new EstimatorSet(0); // milliseconds; runs at 2000, 4000, ...
    const est = set.add(stats);
    const out = emptyReadout();

    const script = [
      // t, conns, inPkts, inBytes -> cps avg, inPps avg, inBps avg, shown cps, inPps, inBps
      { t: 2000, conns: 10, inPkts: 5, inBytes: 100, avg: [1280, 640, 400], shown: [1, 1, 12] },
      { t: 4000, conns: 20, inPkts: 5, inBytes: 107, avg: [2240, 480, 328], shown: [2, 0, 10] },
      { t: 6000, conns: 20, inPkts: 5, inBytes: 107, avg: [1680, 360, 246], shown: [2, 0, 8] },
      // (0 - 246) >> 2 is -62 (floor), not -61: the avg is 184, not 185.
      { t: 8000, conns: 20, inPkts: 5, inBytes: 107, avg: [1260, 270, 184], shown: [1, 0, 6] },
    ];
    for (const step of script) {
      stats.conns = step.conns;
      stats.inPkts = step.inPkts;
      stats.inBytes = step.inBytes;
      expect(set.tick(step.t - 1)).toBe(0);
      expect(set.tick(step.t)).toBe(1);
      expect([est.cps, est.inPps, est.inBps]).toEqual(step.avg);
      est.read(out);
      expect([out.cps, out.inPps, out.inBps]).toEqual(step.shown);
      expect([out.conns, out.inPkts, out.inBytes]).toEqual([step.conns, step.inPkts, step.inBytes]);
      expect([out.outPps, out.outBps, out.outPkts, out.outBytes]).toEqual([0, 0, 0, 0]);
    }
  });

  it('shows counters as of the last run, like the kernel kstats', () => {
    const stats = new Stats();
    const set = new EstimatorSet(0);
    const est = set.add(stats);
    stats.outPkts = 7;
    stats.outBytes = 700;
    expect(est.read(emptyReadout())).toMatchObject({ outPkts: 0, outBytes: 0 });
    set.tick(2000);
    // outPps avg = 7 * 512 / 4 = 896 -> (896 + 511) >> 10 = 1; outBps avg = 700 * 16 / 4 = 2800 -> 2815 >> 5 = 87.
    expect(est.read(emptyReadout())).toMatchObject({ outPkts: 7, outBytes: 700, outPps: 1, outBps: 87 });
  });

  it('-Z moves the zero point to the last snapshot and restarts the rates', () => {
    const stats = new Stats();
    const set = new EstimatorSet(0);
    const est = set.add(stats);
    stats.conns = 20;
    set.tick(2000); // avg 20 * 512 / 4 = 2560
    stats.conns = 25; // arrives after the run
    est.zero();
    expect(est.read(emptyReadout())).toMatchObject({ conns: 0, cps: 0 });
    expect(est.cps).toBe(0);
    set.tick(4000);
    // delta since the snapshot (20) is 5: avg = 5 * 512 / 4 = 640 -> cps (640 + 511) >> 10 = 1; shown 25 - 20.
    expect(est.cps).toBe(640);
    expect(est.read(emptyReadout())).toMatchObject({ conns: 5, cps: 1 });
  });

  it('replays missed periods when ticked late', () => {
    const stats = new Stats();
    const set = new EstimatorSet(1000);
    const est = set.add(stats);
    stats.conns = 10;
    // Due at 3000, 5000, 7000, 9000: 1280, then -320 -> 960, -240 -> 720, -180 -> 540.
    expect(set.tick(9500)).toBe(4);
    expect(est.cps).toBe(540);
    expect(set.tick(10999)).toBe(0);
    expect(set.tick(11000)).toBe(1);
    expect(est.cps).toBe(405);
  });

  it('runs in seconds too, and stops estimating a removed estimator', () => {
    const a = new Stats();
    const set = new EstimatorSet(0, 1);
    const est = set.add(a);
    a.inPkts = 4;
    set.tick(2);
    expect(est.inPps).toBe(512); // 4 * 512 / 4
    set.remove(est);
    a.inPkts = 100;
    set.tick(4);
    expect(est.inPps).toBe(512);
    expect(set.count).toBe(0);
  });
});
