// The per-batch core of the user-space IPIP decapsulator (`uvs rs tun`): it picks, out of the frames an
// AF_PACKET port received, the IPIP packets addressed to this real server's RIP whose inner packet is for the
// VIP, and points a TunBatch at each inner packet in place (no copy). The kernel's ipip module would do the
// same in ipip_rcv (net/ipv4/ipip.c); this kernel has none.
import { EtherType, IpProto } from '../constants.js';
import { type FrameBatch, FrameFlag, PacketType } from '../io/batch.js';
import { EthernetView } from '../wire/ethernet.js';
import { IpipView } from '../wire/ipip.js';
import { Ipv4View } from '../wire/ipv4.js';
import { Reason } from '../wire/reason.js';

/** Indexes into `IpipDecapsulator.counters`: what happened to each received frame. */
export const DecapCounter = {
  /** Frames looked at. */
  received: 0,
  /** Inner packets handed on. */
  decapsulated: 1,
  /** Not IPv4 (ARP, IPv6, VLAN-tagged): the kernel handles those; not counted as errors. */
  notIpv4: 2,
  /** IPv4 but not protocol 4, or not addressed to a RIP: ordinary traffic of the host. */
  notForUs: 3,
  /** Outer header malformed, with a bad checksum, or a fragment (not reassembled). */
  badOuter: 4,
  /** Inner packet malformed or truncated. */
  badInner: 5,
  /** Inner destination is not the VIP. */
  notForVip: 6,
  /** Truncated by the capture, or a checksum that could not be completed. */
  unusable: 7,
} as const;
/** Adds one to a counter (a plain `c[i]++` does not type-check under noUncheckedIndexedAccess). */
function bump(c: Float64Array, i: number): void {
  c[i] = (c[i] as number) + 1;
}

export const DECAP_COUNTER_NAMES = Object.keys(DecapCounter) as Array<keyof typeof DecapCounter>;

/** Packets for the TUN device: spans of an existing buffer (the receive batch), written in one native call. */
export class TunBatch {
  readonly capacity: number;
  readonly offset: Uint32Array;
  readonly length: Uint32Array;
  count = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
  }
}

export class IpipDecapsulator {
  readonly counters = new Float64Array(DECAP_COUNTER_NAMES.length);
  private readonly rips: Uint32Array;
  private readonly vip: number;
  private readonly eth = new EthernetView();
  private readonly outer = new Ipv4View();
  private readonly ipip = new IpipView();

  /** `rips`: the addresses of this real server that tunnelled packets are sent to; `vip`: the inner destination. */
  constructor(rips: readonly number[], vip: number) {
    this.rips = Uint32Array.from(rips);
    this.vip = vip >>> 0;
  }

  private isRip(addr: number): boolean {
    const rips = this.rips;
    for (let i = 0; i < rips.length; i++) if (rips[i] === addr) return true;
    return false;
  }

  /**
   * Looks at frames 0..rx.count-1 and fills `out` (from 0) with the inner packets to hand to the kernel, as
   * spans of `rx.bytes`; returns out.count. Frames past out's capacity are left alone, so `out` should be at
   * least as large as `rx`.
   */
  decap(rx: FrameBatch, out: TunBatch): number {
    const c = this.counters;
    const eth = this.eth;
    const outer = this.outer;
    const ipip = this.ipip;
    const n = Math.min(rx.count, out.capacity);
    let k = 0;
    for (let i = 0; i < n; i++) {
      bump(c, DecapCounter.received);
      if (((rx.flags[i] as number) & (FrameFlag.truncated | FrameFlag.csumUnfixable)) !== 0) {
        bump(c, DecapCounter.unusable);
        continue;
      }
      if (rx.pktType[i] === PacketType.outgoing || rx.pktType[i] === PacketType.otherHost) {
        bump(c, DecapCounter.notForUs);
        continue;
      }
      const off = rx.offset[i] as number;
      const len = rx.length[i] as number;
      eth.reset(rx.bytes, off, len);
      if (eth.checkLen() !== Reason.ok || eth.etherType !== EtherType.ipv4) {
        bump(c, DecapCounter.notIpv4);
        continue;
      }
      // A first look at the outer header alone tells our traffic from the host's before any deeper check.
      outer.reset(rx.bytes, eth.payloadOff, eth.payloadLen);
      if (outer.checkLen() !== Reason.ok) {
        bump(c, DecapCounter.notForUs);
        continue;
      }
      if (outer.protocol !== IpProto.ipip || !this.isRip(outer.dst)) {
        bump(c, DecapCounter.notForUs);
        continue;
      }
      if (!outer.verifyChecksum() || outer.isFragment) {
        bump(c, DecapCounter.badOuter);
        continue;
      }
      ipip.reset(rx.bytes, eth.payloadOff, eth.payloadLen);
      if (ipip.checkLen() !== Reason.ok) {
        bump(c, DecapCounter.badInner);
        continue;
      }
      if (ipip.inner.dst !== this.vip) {
        bump(c, DecapCounter.notForVip);
        continue;
      }
      out.offset[k] = ipip.innerOff;
      out.length[k] = ipip.innerLen;
      k++;
      bump(c, DecapCounter.decapsulated);
    }
    out.count = k;
    return k;
  }

  /** The counters as a plain object, for logs and tests. */
  snapshot(): Record<keyof typeof DecapCounter, number> {
    const out = {} as Record<keyof typeof DecapCounter, number>;
    for (const name of DECAP_COUNTER_NAMES) out[name] = this.counters[DecapCounter[name]] as number;
    return out;
  }
}
