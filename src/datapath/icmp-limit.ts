// ICMP error rate limits, as the kernel applies them to every icmp_send() (net/ipv4/icmp.c), so that uvs
// answers no more errors than kernel IPVS would and cannot be used to amplify a flood:
// - Only types in net.ipv4.icmp_ratemask (default 0x1818: destination unreachable, source quench, time
//   exceeded, parameter problem) are limited, and never "fragmentation needed", which path MTU discovery
//   needs (icmpv4_mask_allow()). Echo replies are not errors and are not limited.
// - A global bucket: net.ipv4.icmp_msgs_per_sec (1000) credits a second, at most icmp_msgs_burst (50),
//   refilled no more often than every 20 ms (HZ/50) and for at most one second (icmp_global_allow()). A
//   message takes one credit; the kernel since 6.10 takes 0, 1 or 2 at random, which is 1 on average.
// - Per destination (the sender of the packet in error; inet_peer_xrlim_allow()): one message per
//   net.ipv4.icmp_ratelimit (1000 ms), with a burst of 6 (XRLIM_BURST_FACTOR). The kernel keeps a peer entry
//   per address; uvs keeps a fixed direct-mapped table (a colliding address takes the slot over with a full
//   burst), so it allocates nothing, and the global bucket still bounds the total.
import { IcmpType, IcmpUnreachableCode } from '../wire/icmp.js';

export interface IcmpLimitOptions {
  /** net.ipv4.icmp_msgs_per_sec: 1000. */
  msgsPerSec?: number;
  /** net.ipv4.icmp_msgs_burst: 50. */
  burst?: number;
  /** net.ipv4.icmp_ratelimit in ms: 1000 (0 turns the per-destination limit off, as in the kernel). */
  peerIntervalMs?: number;
  /** net.ipv4.icmp_ratemask: 0x1818. */
  rateMask?: number;
  /** Per-destination slots (a power of two): 4096. */
  peers?: number;
}

/** XRLIM_BURST_FACTOR: a destination may get this many messages at once before the 1/s rate applies. */
const PEER_BURST = 6;
/** HZ/50 in ms: the global bucket refills no more often than this. */
const MIN_REFILL_MS = 20;

export class IcmpRateLimit {
  private readonly msgsPerSec: number;
  private readonly burst: number;
  private readonly interval: number;
  private readonly rateMask: number;
  private credit: number;
  private stamp = Number.NEGATIVE_INFINITY;
  private readonly peerAddr: Int32Array;
  private readonly peerUsed: Uint8Array;
  private readonly peerTokens: Float64Array;
  private readonly peerLast: Float64Array;
  /** 32 - log2(peers): the shift that leaves the hash's top log2(peers) bits. */
  private readonly peerShift: number;

  constructor(options: IcmpLimitOptions = {}) {
    this.msgsPerSec = options.msgsPerSec ?? 1000;
    this.burst = options.burst ?? 50;
    this.interval = options.peerIntervalMs ?? 1000;
    this.rateMask = options.rateMask ?? 0x1818;
    const peers = options.peers ?? 4096;
    if (!Number.isInteger(peers) || peers < 1 || (peers & (peers - 1)) !== 0) {
      throw new RangeError(`ICMP rate limit: peers must be a power of two, got ${peers}`);
    }
    this.credit = this.burst;
    this.peerAddr = new Int32Array(peers);
    this.peerUsed = new Uint8Array(peers);
    this.peerTokens = new Float64Array(peers);
    this.peerLast = new Float64Array(peers);
    this.peerShift = 32 - Math.log2(peers);
  }

  /** Whether an error of `type`/`code` may go to `dst` (an IPv4 address) at `now` (ms); takes its credit. */
  allow(type: number, code: number, dst: number, now: number): boolean {
    if (!this.limited(type, code)) return true;
    if (!this.globalAvailable(now)) return false;
    if (!this.peerAllow(dst | 0, now)) return false;
    this.credit--;
    return true;
  }

  /** icmpv4_mask_allow() turned round: whether the type is rate limited at all. */
  private limited(type: number, code: number): boolean {
    if (type > 18 || ((this.rateMask >>> type) & 1) === 0) return false;
    return !(type === IcmpType.destUnreachable && code === IcmpUnreachableCode.fragNeeded);
  }

  private globalAvailable(now: number): boolean {
    const delta = Math.min(now - this.stamp, 1000);
    if (delta >= MIN_REFILL_MS) {
      const incr = Math.floor((this.msgsPerSec * delta) / 1000);
      if (incr > 0) {
        this.stamp = now;
        this.credit = Math.min(this.credit + incr, this.burst);
      }
    }
    return this.credit > 0;
  }

  private peerAllow(addr: number, now: number): boolean {
    const timeout = this.interval;
    if (timeout <= 0) return true;
    // Fibonacci hashing: the product's top bits, which every bit of the address reaches.
    const i = Math.imul(addr, 0x9e3779b1) >>> this.peerShift;
    if (this.peerUsed[i] === 0 || this.peerAddr[i] !== addr) {
      // A new peer: the kernel starts it 60 s in the past, so it has its whole burst.
      this.peerUsed[i] = 1;
      this.peerAddr[i] = addr;
      this.peerTokens[i] = PEER_BURST * timeout;
      this.peerLast[i] = now;
    }
    let token = this.peerTokens[i]! + (now - this.peerLast[i]!);
    this.peerLast[i] = now;
    if (token > PEER_BURST * timeout) token = PEER_BURST * timeout;
    let ok = false;
    if (token >= timeout) {
      token -= timeout;
      ok = true;
    }
    this.peerTokens[i] = token;
    return ok;
  }
}
