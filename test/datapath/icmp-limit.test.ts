// The kernel's ICMP error rate limits (src/datapath/icmp-limit.ts): the numbers below are the kernel's
// defaults (net/ipv4/icmp.c, inet_peer_xrlim_allow, icmp_global_allow): 6 at once then 1/s per
// destination, 1000/s in all with a burst of 50, fragmentation needed and echo replies never limited.
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { IcmpRateLimit } from '../../src/datapath/icmp-limit.js';
import { Drop, Verdict } from '../../src/datapath/reasons.js';
import { buildFrame, ipv4Fields, parseFrame } from '../../src/wire/frame.js';
import { IcmpType, IcmpUnreachableCode } from '../../src/wire/icmp.js';
import { CIP, CLIENT_MAC, ETH0_MAC, makeDatapath, run, VIP } from './helpers.js';

const UNREACH = IcmpType.destUnreachable;
const PORT = IcmpUnreachableCode.port;
const addr = (n: number) => (0x0a000000 + n) | 0;

/** How many of `n` errors to `dst` at time `now` the limiter lets through. */
function allowed(
  limit: IcmpRateLimit,
  n: number,
  dst: number,
  now: number,
  type: number = UNREACH,
  code: number = PORT,
): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (limit.allow(type, code, dst, now)) ok++;
  return ok;
}

describe('IcmpRateLimit', () => {
  it('lets 6 errors at once reach one destination, then one per second, and saves up no more than 6', () => {
    const limit = new IcmpRateLimit();
    expect(allowed(limit, 10, addr(1), 0)).toBe(6);
    expect(allowed(limit, 10, addr(1), 999)).toBe(0);
    expect(allowed(limit, 10, addr(1), 1000)).toBe(1);
    expect(allowed(limit, 10, addr(1), 2500)).toBe(1);
    // 60 s of silence buy the burst again, not 60 messages.
    expect(allowed(limit, 100, addr(1), 62_500)).toBe(6);
    // Another destination has its own burst.
    expect(allowed(limit, 10, addr(2), 62_500)).toBe(6);
  });

  it('keeps destinations apart that differ only in their high bits (10.0.0.1 and 11.0.0.1)', () => {
    const limit = new IcmpRateLimit();
    const a = 0x0a000001 | 0;
    const b = 0x0b000001 | 0;
    expect(allowed(limit, 10, a, 0)).toBe(6);
    expect(allowed(limit, 10, b, 0)).toBe(6);
    // Had b taken a's slot over, a would start again with a full burst.
    expect(allowed(limit, 10, a, 0)).toBe(0);
  });

  it('holds all destinations together to a burst of 50, refilled at 1000/s in steps of at least 20 ms', () => {
    const limit = new IcmpRateLimit();
    let ok = 0;
    for (let d = 0; d < 200; d++) ok += allowed(limit, 1, addr(d), 0);
    expect(ok).toBe(50);
    // 10 ms is under the refill step: nothing new.
    for (let d = 200; d < 300; d++) ok += allowed(limit, 1, addr(d), 10);
    expect(ok).toBe(50);
    // 30 ms after the last refill: 30 credits.
    for (let d = 300; d < 400; d++) ok += allowed(limit, 1, addr(d), 30);
    expect(ok).toBe(80);
    // A long pause refills to the burst, not beyond.
    let later = 0;
    for (let d = 400; d < 600; d++) later += allowed(limit, 1, addr(d), 10_000);
    expect(later).toBe(50);
  });

  it('never limits fragmentation needed, echo replies or types outside icmp_ratemask', () => {
    const limit = new IcmpRateLimit();
    expect(allowed(limit, 1000, addr(1), 0, UNREACH, IcmpUnreachableCode.fragNeeded)).toBe(1000);
    expect(allowed(limit, 1000, addr(1), 0, IcmpType.echoReply, 0)).toBe(1000);
    expect(allowed(limit, 1000, addr(1), 0, IcmpType.redirect, 0)).toBe(1000);
    // Time exceeded and parameter problem are in the mask, like destination unreachable.
    expect(allowed(limit, 10, addr(2), 0, IcmpType.timeExceeded, 0)).toBe(6);
    expect(allowed(limit, 10, addr(3), 0, IcmpType.parameterProblem, 0)).toBe(6);
  });

  it('follows the sysctls it is given: icmp_ratelimit 0 leaves only the global bucket', () => {
    const limit = new IcmpRateLimit({ peerIntervalMs: 0, burst: 20 });
    expect(allowed(limit, 100, addr(1), 0)).toBe(20);
    expect(() => new IcmpRateLimit({ peers: 1000 })).toThrow(/power of two/);
  });
});

describe('Datapath: ICMP errors under the rate limits', () => {
  const NAT_RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:80 -m -w 1
`;
  const ttl1Syn = (sport: number) =>
    buildFrame({
      eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
      ipv4: ipv4Fields(CIP, VIP, { ttl: 1, tos: 0, id: sport, dontFrag: true }),
      tcp: {
        srcPort: sport,
        dstPort: 80,
        seq: 1,
        ack: 0,
        flags: TcpFlag.syn,
        window: 64240,
        urgent: 0,
        payload: new Uint8Array(0),
      },
    });

  it('answers a burst of TTL 1 packets from one client with 6 time exceeded, counts the rest, and one more a second later', () => {
    const dp = makeDatapath(NAT_RULES);
    const verdicts: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = run(dp, ttl1Syn(40000 + i), 1, 5000);
      verdicts.push(r.verdict);
      if (r.verdict === Verdict.reply) {
        const f = parseFrame(r.sent[0]!.frame).frame!;
        if (!('icmp' in f)) throw new Error('not ICMP');
        expect(f.icmp.type).toBe(IcmpType.timeExceeded);
        expect(f.ipv4.dst).toBe(CIP);
      } else {
        expect(r.reason).toBe(Drop.icmpRateLimited);
        expect(r.sent).toHaveLength(0);
      }
    }
    expect(verdicts.filter((v) => v === Verdict.reply)).toHaveLength(6);
    expect(dp.counters.icmpErrorsSent).toBe(6);
    expect(dp.drops[Drop.icmpRateLimited]).toBe(4);
    expect(run(dp, ttl1Syn(41000), 1, 6000).verdict).toBe(Verdict.reply);
  });
});
