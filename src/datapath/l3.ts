// The director's L3 tables, as the stages read them per packet: the interfaces (MAC, MTU, ifindex), the
// addresses they own, the routes (connected ones and the configured ones, longest prefix first) and the set
// of service addresses of the current rules. Built once from the DirectorConfig (the VIP set once per rules
// change), kept in typed arrays that the native fast path reads too (FastPath.create), and keyed by
// `addr | 0`, so that a lookup never makes a heap number.
import type { DirectorConfig } from '../config/director.js';
import type { RulesSnapshot, Service } from '../model/rules.js';
import { ipv4ToString, macHigh16, macLow32 } from '../wire/addr.js';
import type { PacketContext } from './context.js';

/** Who else needs the VIP set when it changes (the native fast path). */
export interface VipListener {
  setVips(addr: Int32Array, used: Uint8Array): void;
}

export class L3Tables {
  readonly ifCount: number;
  readonly ifMac: Float64Array;
  /** ifMac as macHigh16 / macLow32, for the per-packet checks and writes. */
  readonly ifMacHigh: Uint16Array;
  readonly ifMacLow: Int32Array;
  readonly ifMtu: Uint32Array;
  readonly ifIndex: Uint32Array;
  readonly ifNames: readonly string[];
  /**
   * Owned addresses -> position of their interface: open addressing with linear probing over typed arrays,
   * keyed by `addr | 0`, at most half full. ownedIfPlusOne is 0 for an empty slot.
   */
  private readonly ownedAddr: Int32Array;
  private readonly ownedIfPlusOne: Uint16Array;
  private readonly ownedMask: number;
  // Routes, connected ones included, longest prefix first; addresses as `addr | 0`.
  readonly rtNetwork: Int32Array;
  readonly rtMask: Int32Array;
  readonly rtIf: Uint8Array;
  readonly rtGateway: Int32Array;
  readonly rtSrc: Int32Array;
  private readonly rtCount: number;
  /** Service addresses of `vipSnapshot` (open addressing, at most half full), to skip the service lookup. */
  private vipSnapshot: RulesSnapshot | null = null;
  private vipAddr = new Int32Array(8);
  private vipUsed = new Uint8Array(8);
  vipListener: VipListener | null = null;
  private readonly config: DirectorConfig;

  constructor(config: DirectorConfig, ifindexes: readonly number[]) {
    this.config = config;
    const n = config.interfaces.length;
    if (n === 0 || n > 255) throw new RangeError('a datapath needs 1..255 interfaces');
    this.ifCount = n;
    this.ifMac = new Float64Array(n);
    this.ifMacHigh = new Uint16Array(n);
    this.ifMacLow = new Int32Array(n);
    this.ifMtu = new Uint32Array(n);
    this.ifIndex = new Uint32Array(n);
    this.ifNames = config.interfaces.map((f) => f.name);
    if (ifindexes.length !== n) throw new RangeError(`${n} interfaces but ${ifindexes.length} ifindexes`);
    let ownedCount = 0;
    for (const iface of config.interfaces) ownedCount += iface.addresses.length;
    let ownedSize = 8;
    while (ownedSize < ownedCount * 2) ownedSize *= 2;
    this.ownedAddr = new Int32Array(ownedSize);
    this.ownedIfPlusOne = new Uint16Array(ownedSize);
    this.ownedMask = ownedSize - 1;
    config.interfaces.forEach((iface, i) => {
      this.setLink(i, ifindexes[i]!, iface.mac);
      this.ifMtu[i] = iface.mtu;
      for (const a of iface.addresses) this.addOwned(a.addr, i);
    });

    // Connected routes (not for /32 addresses, which put nothing else on the link), then the configured
    // ones, each through the connected route of its gateway; sorted longest prefix first, connected first
    // on ties, as the kernel's FIB prefers them at equal length by metric.
    const routes: { network: number; mask: number; len: number; ifPos: number; gw: number; src: number }[] = [];
    config.interfaces.forEach((iface, i) => {
      for (const a of iface.addresses) {
        if (a.prefixLen === 32) continue;
        if (routes.some((r) => r.network === a.network && r.len === a.prefixLen)) continue;
        routes.push({ network: a.network, mask: a.mask, len: a.prefixLen, ifPos: i, gw: 0, src: a.addr });
      }
    });
    const connected = routes.slice();
    for (const r of config.routes) {
      const via = connected.find((c) => (r.via & c.mask) >>> 0 === c.network);
      if (via === undefined) throw new RangeError(`gateway ${ipv4ToString(r.via)} is on no connected network`);
      routes.push({ network: r.network, mask: r.mask, len: r.prefixLen, ifPos: via.ifPos, gw: r.via, src: via.src });
    }
    routes.sort((a, b) => b.len - a.len || (a.gw === 0 ? 0 : 1) - (b.gw === 0 ? 0 : 1));
    this.rtCount = routes.length;
    this.rtNetwork = Int32Array.from(routes, (r) => r.network);
    this.rtMask = Int32Array.from(routes, (r) => r.mask);
    this.rtIf = Uint8Array.from(routes, (r) => r.ifPos);
    this.rtGateway = Int32Array.from(routes, (r) => r.gw);
    this.rtSrc = Int32Array.from(routes, (r) => r.src);
  }

  /** Interface `ifPos` leaves by `ifindex` and carries `mac` (at start, and when a link comes back). */
  setLink(ifPos: number, ifindex: number, mac: number): void {
    this.ifIndex[ifPos] = ifindex;
    this.ifMac[ifPos] = mac;
    this.ifMacHigh[ifPos] = macHigh16(mac);
    this.ifMacLow[ifPos] = macLow32(mac);
  }

  /**
   * Longest-prefix match over connected and configured routes; sets out.outIf, outHop, outSrc. `dst` may be
   * signed or unsigned; outHop and outSrc are `| 0`.
   */
  route(dst: number, out: PacketContext): boolean {
    for (let k = 0; k < this.rtCount; k++) {
      if ((dst & this.rtMask[k]!) === this.rtNetwork[k]) {
        out.outIf = this.rtIf[k]!;
        const gw = this.rtGateway[k]!;
        out.outHop = gw === 0 ? dst | 0 : gw;
        out.outSrc = this.rtSrc[k]!;
        return true;
      }
    }
    return false;
  }

  onLink(ifPos: number, addr: number): boolean {
    for (let k = 0; k < this.rtCount; k++) {
      if (this.rtGateway[k] === 0 && this.rtIf[k] === ifPos && (addr & this.rtMask[k]!) === this.rtNetwork[k]) {
        return true;
      }
    }
    return false;
  }

  /** The owned address to speak from on interface `ifPos` toward `target` (same subnet first). */
  sourceFor(ifPos: number, target: number): number {
    const addresses = this.config.interfaces[ifPos]!.addresses;
    for (let k = 0; k < addresses.length; k++) {
      const a = addresses[k]!;
      if ((target & a.mask) >>> 0 === a.network) return a.addr;
    }
    return addresses[0]!.addr;
  }

  /** Position of the interface that owns `addr` (signed or unsigned), or -1. */
  ownerOf(addr: number): number {
    const key = addr | 0;
    const mask = this.ownedMask;
    for (let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask; ; i = (i + 1) & mask) {
      const owner = this.ownedIfPlusOne[i]!;
      if (owner === 0) return -1;
      if (this.ownedAddr[i] === key) return owner - 1;
    }
  }

  /** An address listed twice belongs to the interface listed last. */
  private addOwned(addr: number, ifPos: number): void {
    const key = addr | 0;
    const mask = this.ownedMask;
    let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask;
    while (this.ownedIfPlusOne[i] !== 0 && this.ownedAddr[i] !== key) i = (i + 1) & mask;
    this.ownedAddr[i] = key;
    this.ownedIfPlusOne[i] = ifPos + 1;
  }

  /**
   * The service of (proto, dst, dport), dst `| 0`. The set of service addresses is checked first: it is
   * cheaper than the table's hash, and NAT replies and strays never get past it.
   */
  lookupService(snapshot: RulesSnapshot, proto: number, dst: number, dport: number): Service | undefined {
    if (snapshot !== this.vipSnapshot) this.indexVips(snapshot);
    return this.isVip(dst) ? snapshot.lookup(proto, dst, dport) : undefined;
  }

  /** Keeps the set of service addresses that of `snapshot` (rebuilt once per rules change). */
  syncVips(snapshot: RulesSnapshot): void {
    if (snapshot !== this.vipSnapshot) this.indexVips(snapshot);
  }

  private indexVips(snapshot: RulesSnapshot): void {
    const services = snapshot.services;
    let size = 8;
    while (size < services.length * 2) size *= 2;
    if (this.vipUsed.length !== size) {
      this.vipAddr = new Int32Array(size);
      this.vipUsed = new Uint8Array(size);
    } else {
      this.vipUsed.fill(0);
    }
    const mask = size - 1;
    for (const svc of services) {
      // A service on an address no interface owns is not served: it stays in the rules, and checkRules()
      // reports it as disabled.
      if (this.ownerOf(svc.addr) < 0) continue;
      const key = svc.addr | 0;
      let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask;
      while (this.vipUsed[i] !== 0 && this.vipAddr[i] !== key) i = (i + 1) & mask;
      this.vipAddr[i] = key;
      this.vipUsed[i] = 1;
    }
    this.vipSnapshot = snapshot;
    this.vipListener?.setVips(this.vipAddr, this.vipUsed);
  }

  /** Is `addr` (`| 0`) the address of some virtual service of the current snapshot? */
  private isVip(addr: number): boolean {
    const used = this.vipUsed;
    const mask = used.length - 1;
    for (let i = (Math.imul(addr, 0x9e3779b1) >>> 16) & mask; ; i = (i + 1) & mask) {
      if (used[i] === 0) return false;
      if (this.vipAddr[i] === addr) return true;
    }
  }

  /** Position of the interface with `ifindex`, or -1. */
  ifPosOf(ifindex: number): number {
    for (let i = 0; i < this.ifCount; i++) if (this.ifIndex[i] === ifindex) return i;
    return -1;
  }
}
