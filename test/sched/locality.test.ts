import { describe, expect, it } from 'vitest';
import type { Dest } from '../../src/dest/dest.js';
import { LblcScheduler } from '../../src/sched/lblc.js';
import { LblcrScheduler } from '../../src/sched/lblcr.js';
import { dest, input, ip } from './helpers.js';

/** A settable clock in seconds. */
function fakeClock(start = 0) {
  const clock = { t: start, now: () => clock.t };
  return clock;
}

function to(daddr: string | number) {
  const packet = input('10.9.9.9', 40000, '0.0.0.0');
  packet.daddr = typeof daddr === 'string' ? ip(daddr) : daddr;
  return packet;
}

function load(d: Dest, active: number, inactive = 0): Dest {
  d.activeConns = active;
  d.inactConns = inactive;
  return d;
}

describe('lblc', () => {
  it('sticks a destination address to its first wlc choice while that stays usable', () => {
    const clock = fakeClock();
    const lblc = new LblcScheduler({ now: clock.now });
    const [a, b] = [dest('10.5.0.1', 2), dest('10.5.0.2', 2)];
    lblc.update([a, b]);
    expect(lblc.pick(to('203.0.113.1'))).toBe(a); // wlc tie: first in list
    load(a, 2); // A busier than B, but not over its weight: the cache holds
    expect(lblc.pick(to('203.0.113.1'))).toBe(a);
    expect(lblc.pick(to('203.0.113.2'))).toBe(b); // a new address gets the wlc choice
    expect(lblc.cached(ip('203.0.113.1'))).toBe(a);
    expect(lblc.cached(ip('203.0.113.2'))).toBe(b);
  });

  it('moves an address when its server has active > weight while another is below half its weight', () => {
    const lblc = new LblcScheduler({ now: fakeClock().now });
    const [a, b] = [dest('10.5.0.1', 2), dest('10.5.0.2', 2)];
    lblc.update([a, b]);
    expect(lblc.pick(to('203.0.113.1'))).toBe(a);
    load(a, 3);
    load(b, 1); // 1*2 < 2 is false: nobody is under half load, so A stays
    expect(lblc.pick(to('203.0.113.1'))).toBe(a);
    load(b, 0); // 0*2 < 2: B is under half load, A (3 > 2) is overloaded
    expect(lblc.pick(to('203.0.113.1'))).toBe(b);
    expect(lblc.cached(ip('203.0.113.1'))).toBe(b);
    // the replaced entry was not subtracted from tbl->entries (ip_vs_lblc_new deletes without atomic_dec)
    expect(lblc.size).toBe(1);
    expect(lblc.entries).toBe(2);
  });

  it('reschedules when the cached server is removed or quiesced', () => {
    const lblc = new LblcScheduler({ now: fakeClock().now });
    const [a, b] = [dest('10.5.0.1', 1), dest('10.5.0.2', 1)];
    lblc.update([a, b]);
    expect(lblc.pick(to('203.0.113.1'))).toBe(a);
    a.available = false;
    lblc.update([b]);
    expect(lblc.pick(to('203.0.113.1'))).toBe(b);
    const c = dest('10.5.0.3', 1);
    lblc.update([c, b]);
    load(c, 0, 5);
    b.weight = 0;
    expect(lblc.pick(to('203.0.113.1'))).toBe(c);
    c.overloaded = true; // OVERLOAD does not invalidate a cache entry in lblc (only in wlc's choice)
    expect(lblc.pick(to('203.0.113.1'))).toBe(c);
    expect(lblc.pick(to('203.0.113.9'))).toBe(null); // a new address: wlc finds nothing
  });

  it('drops entries idle for the expiration at the half-hourly full check', () => {
    const clock = fakeClock();
    const lblc = new LblcScheduler({ now: clock.now, expiration: 3000 });
    lblc.update([dest('10.5.0.1', 1)]);
    clock.t = 10;
    lblc.pick(to('203.0.113.1'));
    // Timer runs every 60 s from t=0; the counter reaches 30 at the run at t=1800, which is a full check,
    // and so is every 30th run after: t=3600. Idle 3000 s by then (3600 >= 10 + 3000): dropped there.
    clock.t = 3599;
    lblc.pick(to('203.0.113.2'));
    expect(lblc.cached(ip('203.0.113.1'))).not.toBe(null);
    clock.t = 3600;
    lblc.pick(to('203.0.113.2'));
    expect(lblc.cached(ip('203.0.113.1'))).toBe(null);
    expect(lblc.cached(ip('203.0.113.2'))).not.toBe(null);
    expect(lblc.size).toBe(1);
  });

  it('over 16384 entries, collects entries idle for 6 minutes bucket by bucket from the rover', () => {
    const clock = fakeClock();
    const lblc = new LblcScheduler({ now: clock.now });
    lblc.update([dest('10.5.0.1', 1)]);
    clock.t = 1;
    const base = ip('10.128.0.0');
    for (let i = 0; i < 16400; i++) lblc.pick(to(base + i));
    expect(lblc.size).toBe(16400);
    // Runs at t=60..360 find nothing idle for 360 s; the run at t=420 does (420 >= 1 + 360). Its goal is
    // (16400 - 16384) * 4 / 3 = 21 entries; it empties whole buckets 1, 2, ... until 21 or more are gone.
    clock.t = 419;
    lblc.pick(to(base)); // refreshes one entry (bucket of 10.128.0.0) at t=419
    expect(lblc.size).toBe(16400);
    clock.t = 420;
    lblc.pick(to(base));
    const perBucket = new Array<number>(1024).fill(0);
    const bucketOf = (v: number) => Number((((BigInt(v) * 0x61c88647n) & 0xffffffffn) >> 22n) & 1023n);
    for (let i = 0; i < 16400; i++) if (i !== 0) perBucket[bucketOf(base + i)]!++;
    let removed = 0;
    for (let bucket = 1; bucket < 1024 && removed < 21; bucket++) removed += perBucket[bucket]!;
    expect(removed).toBeGreaterThanOrEqual(21);
    expect(lblc.size).toBe(16400 - removed);
  });

  it('still answers when its cache is full, without caching (like a failed GFP_ATOMIC allocation)', () => {
    const lblc = new LblcScheduler({ now: fakeClock().now, cacheCapacity: 2 });
    const [a, b] = [dest('10.5.0.1', 1), dest('10.5.0.2', 1)];
    lblc.update([a, b]);
    expect(lblc.pick(to('203.0.113.1'))).toBe(a);
    load(a, 0, 1);
    expect(lblc.pick(to('203.0.113.2'))).toBe(b);
    load(b, 0, 2);
    expect(lblc.pick(to('203.0.113.3'))).toBe(a);
    expect(lblc.cached(ip('203.0.113.3'))).toBe(null);
    expect(lblc.size).toBe(2);
  });
});

describe('lblcr', () => {
  it('grows a set when its best member is overloaded, newest member first', () => {
    const lblcr = new LblcrScheduler({ now: fakeClock().now });
    const [a, b, c] = [dest('10.6.0.1', 2), dest('10.6.0.2', 2), dest('10.6.0.3', 4)];
    lblcr.update([a, b, c]);
    const vip = to('203.0.113.1');
    expect(lblcr.pick(vip)).toBe(a);
    expect(lblcr.cachedSet(vip.daddr)).toEqual([a]);
    load(a, 3); // 3 > 2 while C (0*2 < 4) is under half load: wlc over the service adds a member
    load(b, 1, 10); // B: 266/2 = 133; C: 0/4
    expect(lblcr.pick(vip)).toBe(c);
    expect(lblcr.cachedSet(vip.daddr)).toEqual([c, a]);
    load(c, 1); // set min: A 768/2 vs C 256/4 -> C, and C is not overloaded
    expect(lblcr.pick(vip)).toBe(c);
    c.available = false; // removed from the service: skipped in the set, which leaves A
    lblcr.update([a, b]);
    expect(lblcr.pick(vip)).toBe(a); // 3 > 2, but no destination of the service is under half load
    load(b, 0, 10); // now B is (0*2 < 2): A counts as overloaded, wlc over the service picks B
    expect(lblcr.pick(vip)).toBe(b);
    expect(lblcr.cachedSet(vip.daddr)).toEqual([b, c, a]);
  });

  it('uses a set member that is quiesced only after the others, and skips OVERLOAD-flagged ones', () => {
    const lblcr = new LblcrScheduler({ now: fakeClock().now });
    const [a, b] = [dest('10.6.0.1', 1), dest('10.6.0.2', 1)];
    lblcr.update([a, b]);
    const vip = to('203.0.113.1');
    expect(lblcr.pick(vip)).toBe(a);
    a.overloaded = true; // not in the set min, and wlc over the service takes B into the set
    expect(lblcr.pick(vip)).toBe(b);
    expect(lblcr.cachedSet(vip.daddr)).toEqual([b, a]);
    a.overloaded = false;
    load(b, 0, 1);
    expect(lblcr.pick(vip)).toBe(a); // set min: A 0 beats B 1
    a.weight = 0;
    expect(lblcr.pick(vip)).toBe(b);
  });

  it('sheds the most loaded member of a set unchanged for longer than the expiration', () => {
    const clock = fakeClock();
    const lblcr = new LblcrScheduler({ now: clock.now, expiration: 100 });
    const [a, b] = [dest('10.6.0.1', 1), dest('10.6.0.2', 1)];
    lblcr.update([a, b]);
    const vip = to('203.0.113.1');
    expect(lblcr.pick(vip)).toBe(a);
    load(a, 2);
    expect(lblcr.pick(vip)).toBe(b); // set [B, A], last modified at t=0
    load(a, 1);
    load(b, 0, 3);
    clock.t = 100; // time_after(now, lastmod + 100) is strict: nothing yet
    expect(lblcr.pick(vip)).toBe(b);
    expect(lblcr.cachedSet(vip.daddr)).toEqual([b, a]);
    clock.t = 101;
    // min is B (3 < 256); then A (256/1) is the most loaded and goes; B is still returned
    expect(lblcr.pick(vip)).toBe(b);
    expect(lblcr.cachedSet(vip.daddr)).toEqual([b]);
    // the chosen member itself can be the one shed, and is still returned
    load(a, 0);
    load(b, 2);
    expect(lblcr.pick(vip)).toBe(a); // B overloaded (2 > 1 while A 0*2 < 1): A joins at t=101
    expect(lblcr.cachedSet(vip.daddr)).toEqual([a, b]);
    load(a, 0, 5);
    load(b, 0, 1);
    b.overloaded = true; // OVERLOAD-flagged: out of the set min, but set max still weighs it
    clock.t = 202;
    expect(lblcr.pick(vip)).toBe(a); // min is A; max is A (5/1 vs 1/1), so A is shed
    expect(lblcr.cachedSet(vip.daddr)).toEqual([b]);
  });

  it('drops idle entries at the full check like lblc', () => {
    const clock = fakeClock();
    const lblcr = new LblcrScheduler({ now: clock.now, expiration: 1000 });
    lblcr.update([dest('10.6.0.1', 1)]);
    lblcr.pick(to('203.0.113.1'));
    clock.t = 1799;
    lblcr.pick(to('203.0.113.2'));
    expect(lblcr.size).toBe(2);
    clock.t = 1800; // first full check: 1800 >= 0 + 1000 drops the first; the second was used at 1799
    lblcr.pick(to('203.0.113.2'));
    expect(lblcr.size).toBe(1);
    expect(lblcr.cachedSet(ip('203.0.113.1'))).toEqual([]);
  });
});
