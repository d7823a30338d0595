// What uvs did with the first fragment of each IPv4 datagram it forwarded, so that the later fragments of
// the datagram follow it. Kernel IPVS sees only reassembled datagrams (ip_vs hooks run after nf_defrag)
// and fragments them again on the way out; uvs forwards fragment for fragment instead, as a router does,
// which gives the receiver the same datagram:
// - The first fragment (offset 0) carries the TCP/UDP header, so it goes through the whole pipeline:
//   connection lookup or scheduling, state, and the connection's transmitter. Its L4 checksum, which covers
//   the whole datagram, is updated incrementally for the address and port change (RFC 1624), which needs
//   only the checksum field, so it stays right without the rest of the datagram.
// - The later fragments carry no ports. They are matched here by (source, destination, protocol, IPv4 ID),
//   the key the receiver reassembles by, and get the IP-level half of the same rewrite: the new destination
//   (NAT in), the new source (NAT reply), or the same next hop (DR) or tunnel (TUN).
// A later fragment whose first fragment uvs has not seen (reordered ahead of it, or of a datagram uvs
// dropped) is dropped: holding fragments back is reassembly by another name. Linux sends fragments in order.
//
// The table is direct-mapped over typed arrays: a datagram takes the slot of its key's hash, and a newer
// datagram with a colliding key takes it over. Entries live as long as the kernel keeps fragments
// (net.ipv4.ipfrag_time, 30 s) and are never swept: a stale entry only ever matches its own key.

/** What the later fragments of a datagram get (the first fragment's transmitter). */
export const FragAction = {
  none: 0,
  /** NAT, client -> real server: destination becomes `addr`. */
  natIn: 1,
  /** NAT reply, real server -> client: source becomes `addr`. */
  natOut: 2,
  /** DR: to the real server `addr` as next hop, unchanged. */
  route: 3,
  /** TUN: wrapped in IPIP to the real server `addr`. */
  tunnel: 4,
} as const;
export type FragActionCode = (typeof FragAction)[keyof typeof FragAction];

/** net.ipv4.ipfrag_time: how long the kernel waits for the rest of a datagram, in ms. */
export const FRAGMENT_LIFETIME_MS = 30_000;

export class FragmentTable {
  private readonly src: Int32Array;
  private readonly dst: Int32Array;
  /** IPv4 ID in the low 16 bits, protocol above. */
  private readonly idProto: Int32Array;
  private readonly deadline: Float64Array;
  readonly action: Uint8Array;
  readonly addr: Int32Array;
  /** The connection entry whose counters the fragments add to, or -1 (untracked). */
  readonly conn: Int32Array;
  private readonly mask: number;

  constructor(capacity = 1024) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`fragment table: capacity must be a power of two, got ${capacity}`);
    }
    this.src = new Int32Array(capacity);
    this.dst = new Int32Array(capacity);
    this.idProto = new Int32Array(capacity);
    this.deadline = new Float64Array(capacity);
    this.action = new Uint8Array(capacity);
    this.addr = new Int32Array(capacity);
    this.conn = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  private slotOf(src: number, dst: number, idProto: number): number {
    let h = Math.imul(src ^ Math.imul(dst, 0x85ebca6b), 0x9e3779b1) ^ idProto;
    h = Math.imul(h ^ (h >>> 16), 0x27d4eb2d);
    return (h ^ (h >>> 15)) & this.mask;
  }

  /** Records what the first fragment of datagram (src, dst, proto, id) got. */
  remember(
    src: number,
    dst: number,
    proto: number,
    id: number,
    action: FragActionCode,
    addr: number,
    conn: number,
    now: number,
  ): void {
    const idProto = (id & 0xffff) | (proto << 16);
    const i = this.slotOf(src | 0, dst | 0, idProto);
    this.src[i] = src;
    this.dst[i] = dst;
    this.idProto[i] = idProto;
    this.deadline[i] = now + FRAGMENT_LIFETIME_MS;
    this.action[i] = action;
    this.addr[i] = addr;
    this.conn[i] = conn;
  }

  /** The entry of datagram (src, dst, proto, id), or -1 when its first fragment was not seen (or too long ago). */
  find(src: number, dst: number, proto: number, id: number, now: number): number {
    const idProto = (id & 0xffff) | (proto << 16);
    const i = this.slotOf(src | 0, dst | 0, idProto);
    if (
      this.action[i] === FragAction.none ||
      this.src[i] !== (src | 0) ||
      this.dst[i] !== (dst | 0) ||
      this.idProto[i] !== idProto ||
      this.deadline[i]! <= now
    ) {
      return -1;
    }
    return i;
  }
}
