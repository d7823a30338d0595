// The datapath's service lookup: (protocol, VIP, port) -> service, as an open-addressing hash table over typed
// arrays, built once per rules snapshot. A lookup hashes three numbers and probes; it allocates nothing and
// builds no key (a Map keyed by a 56-bit number would box a heap number per packet).

/** Slot protocol value marking an empty slot: protocol 0 (IPPROTO_IP) is never a virtual service. */
const EMPTY = 0;

function slotHash(proto: number, addr: number, port: number): number {
  // Multiplicative mixing (Knuth); the table size is a power of two, so the high bits are used via `>>>`.
  let h = Math.imul(addr ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ ((port << 8) | proto) ^ (h >>> 15), 0xc2b2ae35);
  return (h ^ (h >>> 13)) >>> 0;
}

export class ServiceTable<T> {
  private readonly mask: number;
  private readonly protos: Uint8Array;
  /** `addr | 0`, so that lookups take signed or unsigned addresses alike. */
  private readonly addrs: Int32Array;
  private readonly ports: Uint16Array;
  private readonly values: T[];

  /** `entries` must have distinct (proto, addr, port) keys and proto in 1..255. */
  constructor(
    entries: readonly { readonly proto: number; readonly addr: number; readonly port: number; readonly value: T }[],
  ) {
    // Load factor at most 1/2, so probe chains stay short and a miss always reaches an empty slot.
    let size = 8;
    while (size < entries.length * 2) size *= 2;
    this.mask = size - 1;
    this.protos = new Uint8Array(size);
    this.addrs = new Int32Array(size);
    this.ports = new Uint16Array(size);
    this.values = new Array<T>(size);
    for (const e of entries) {
      let i = slotHash(e.proto, e.addr, e.port) & this.mask;
      while (this.protos[i] !== EMPTY) i = (i + 1) & this.mask;
      this.protos[i] = e.proto;
      this.addrs[i] = e.addr | 0;
      this.ports[i] = e.port;
      this.values[i] = e.value;
    }
  }

  /**
   * The value for (proto, addr, port), or undefined. addr is IPv4 host order, unsigned or signed (`addr | 0`,
   * which the datapath passes because V8 never boxes it).
   */
  lookup(proto: number, addr: number, port: number): T | undefined {
    const mask = this.mask;
    const key = addr | 0;
    let i = slotHash(proto, key, port) & mask;
    for (;;) {
      const p = this.protos[i];
      if (p === EMPTY) return undefined;
      if (p === proto && this.addrs[i] === key && this.ports[i] === port) return this.values[i];
      i = (i + 1) & mask;
    }
  }
}
