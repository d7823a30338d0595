// A real server (struct ip_vs_dest): the one mutable object shared by the rules model, the schedulers
// and the connection table. The control plane creates and edits it; the datapath only moves its counters.
import { Stats } from './stats.js';

/** Forwarding methods, numbered as IP_VS_CONN_F_FWD_MASK values (ip_vs.h). */
export const Fwd = {
  masq: 0,
  local: 1,
  tunnel: 2,
  route: 3,
} as const;
export type FwdMethod = (typeof Fwd)[keyof typeof Fwd];

/** ipvsadm's names for the forwarding methods, in -L output. */
export const fwdNames: Readonly<Record<FwdMethod, string>> = {
  [Fwd.masq]: 'Masq',
  [Fwd.local]: 'Local',
  [Fwd.tunnel]: 'Tunnel',
  [Fwd.route]: 'Route',
};

export class Dest {
  /** Dense slot number, unique among live destinations; the connection table stores this, not the object. */
  readonly id: number;
  /** IPv4, host order. */
  readonly addr: number;
  readonly port: number;
  fwd: FwdMethod;
  /** 0..65535; 0 = quiesced: no new connections, existing ones continue. */
  weight: number;
  /** Last non-zero weight (mh keeps a quiesced destination's slots with it). */
  lastWeight: number;
  /** Upper connection threshold, 0 = none (-x). */
  uThreshold = 0;
  /** Lower connection threshold, 0 = none (-y). */
  lThreshold = 0;
  activeConns = 0;
  inactConns = 0;
  /** Persistence templates bound to this destination. */
  persistConns = 0;
  /** IP_VS_DEST_F_OVERLOAD: set when active+inactive reaches uThreshold, cleared below the lower mark. */
  overloaded = false;
  readonly stats = new Stats();

  /** The owning service's counters, so the datapath can count per service from a connection's destination. */
  readonly svcStats: Stats;

  #available = true;
  /** The registry that mirrors `available` for the native fast path, if any. */
  readonly #registry: DestRegistry | undefined;

  constructor(
    id: number,
    addr: number,
    port: number,
    fwd: FwdMethod,
    weight: number,
    svcStats: Stats,
    registry?: DestRegistry,
  ) {
    this.id = id;
    this.#registry = registry;
    this.svcStats = svcStats;
    this.addr = addr;
    this.port = port;
    this.fwd = fwd;
    this.weight = weight;
    this.lastWeight = weight;
  }

  /** IP_VS_DEST_F_AVAILABLE: cleared when the destination is removed from its service (kept in the trash). */
  get available(): boolean {
    return this.#available;
  }

  set available(value: boolean) {
    this.#available = value;
    this.#registry?.mirrorAvailable(this.id, value);
  }
}

/**
 * Allocates dense destination ids and maps them back to objects. A removed destination keeps its id while
 * connections still point at it (the kernel's dest trash); `release()` frees the id for reuse.
 */
export class DestRegistry {
  private readonly byId: (Dest | undefined)[] = [];
  private readonly free: number[] = [];
  /**
   * 1 where the destination of that id exists and is available, else 0: the flag the native fast path reads
   * (src/datapath/fastpath.ts). It grows by doubling; `generation` counts the regrowths, so a reader knows
   * when to take the new array.
   */
  availability = new Uint8Array(64);
  generation = 0;

  create(addr: number, port: number, fwd: FwdMethod, weight: number, svcStats: Stats): Dest {
    const id = this.free.pop() ?? this.byId.length;
    const dest = new Dest(id, addr, port, fwd, weight, svcStats, this);
    this.byId[id] = dest;
    this.mirrorAvailable(id, true);
    return dest;
  }

  /** Called by Dest when its `available` flag changes. */
  mirrorAvailable(id: number, available: boolean): void {
    if (this.byId[id] === undefined) return;
    if (id >= this.availability.length) {
      let size = this.availability.length;
      while (size <= id) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.availability);
      this.availability = grown;
      this.generation++;
    }
    this.availability[id] = available ? 1 : 0;
  }

  get(id: number): Dest | undefined {
    return this.byId[id];
  }

  release(dest: Dest): void {
    if (this.byId[dest.id] !== dest) return;
    if (dest.id < this.availability.length) this.availability[dest.id] = 0;
    this.byId[dest.id] = undefined;
    this.free.push(dest.id);
  }
}
