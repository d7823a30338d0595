// The answer to a `counters` query (protocol.ts): what the running datapath has counted, as plain data. The
// daemon builds it from its live objects (countersReport()); `uvs counters` checks it (asCountersReport())
// and renders it for an operator, or prints it as JSON. Every count is since the daemon started.
import type { DatapathCounters, DisabledRule } from '../datapath/datapath.js';

/** What each datapath counter counts (DatapathCounters in src/datapath/datapath.ts). */
export const counterMeanings: Readonly<Record<string, string>> = {
  rx: 'frames received',
  tx: 'frames sent (forwarded, answered, ARP)',
  forwardedIn: 'client -> real server (any mode)',
  forwardedOut: 'NAT replies, real server -> client',
  arpReplies: 'ARP replies for the addresses uvs owns',
  arpRequests: 'ARP requests for next hops',
  arpLearned: 'neighbour MACs learned from ARP',
  neighForgotten: 'learned neighbours forgotten by the ARP table gc (idle, or to make room)',
  echoReplies: 'ping replies for the addresses uvs owns',
  icmpErrorsSent: 'ICMP errors sent (fragmentation needed, ...)',
  queued: 'packets held until ARP found the next hop',
  released: 'held packets sent once the next hop answered',
  untracked: 'forwarded without a connection entry (table full, or one-packet scheduling)',
  fragments: 'later fragments of IP datagrams, sent after their first (also counted above)',
  fastPath: 'forwarded by the native fast path (also counted above)',
  forwarded: 'received frames sent on at once',
  answered: 'received frames answered by uvs itself (ARP, ping, ICMP error)',
  consumed: 'received frames used up without an answer (ARP learned)',
};

/** One interface's frames as the daemon saw them. */
export interface PortCounters {
  readonly ifname: string;
  /** Frames received on this interface. */
  readonly rx: number;
  /**
   * Frames this port handed to the kernel (or its queue). A port may send out of another interface (AF_PACKET
   * sends each frame out of its egress interface), so a frame is counted on the port that sent it.
   */
  readonly tx: number;
  /** Frames this port was asked to send but could not (refused, queue full, no such egress interface). */
  readonly txDropped: number;
  /** Of txDropped, those lost because the send buffer or the device queue was full; the rest were refused. */
  readonly txDroppedQueueFull: number;
}

export interface CountersReport {
  /** Seconds since the daemon started counting. */
  readonly uptimeSeconds: number;
  /** DatapathCounters, field by field (rx, tx, forwardedIn, forwardedOut, ..., fastPath). */
  readonly datapath: Readonly<Record<string, number>>;
  /** Drops by reason name (src/wire/reason.ts, src/datapath/reasons.ts), non-zero ones only. */
  readonly drops: Readonly<Record<string, number>>;
  readonly fastPath: {
    /** Whether the native fast path is in use (the addon loaded and not turned off). */
    readonly enabled: boolean;
    /** datapath.fastPath / datapath.rx; null before the first frame. */
    readonly share: number | null;
  };
  readonly ports: readonly PortCounters[];
  readonly connections: {
    /** Live entries, templates included. */
    readonly size: number;
    readonly capacity: number;
    /** Inserts refused because the table was full (those packets went untracked). */
    readonly overflows: number;
    /** Entries removed because they expired. */
    readonly expired: number;
    /** Embryonic entries (SYN_RECV, SYNACK) a full table evicted to admit new connections. */
    readonly reclaimed: number;
    /** Embryonic entries removed by the drop_entry defense. */
    readonly dropped: number;
  };
  /** Packets waiting now for ARP to resolve their next hop. */
  readonly neighbourWaiting: number;
  /**
   * Rules that get no traffic because they cannot work on this director (a VIP no interface owns, a real
   * server off every link or without a route), each with its reason. They came from the state or rules file.
   */
  readonly disabledRules: readonly DisabledRule[];
}

/** The live objects a report is read from (the daemon's Datapath, its connection table and ports). */
export interface CountersSources {
  readonly datapath: {
    readonly counters: DatapathCounters;
    readonly fastPathEnabled: boolean;
    readonly neigh: { readonly queued: number };
    dropSummary(): Record<string, number>;
  };
  readonly conns: {
    readonly size: number;
    readonly capacity: number;
    readonly overflows: number;
    readonly expired: number;
    readonly reclaimed: number;
    readonly dropped: number;
  };
  readonly ports: readonly PortCounters[];
  readonly uptimeSeconds: number;
  /** Datapath.checkRules().disabled (default: none). */
  readonly disabledRules?: readonly DisabledRule[];
}

/** A copy of the counters as they are now; later counting does not change it. */
export function countersReport(src: CountersSources): CountersReport {
  const c = src.datapath.counters;
  const datapath: Record<string, number> = {};
  // Every field, so a counter added to DatapathCounters is reported without a change here.
  for (const [name, value] of Object.entries(c)) if (typeof value === 'number') datapath[name] = value;
  return {
    uptimeSeconds: src.uptimeSeconds,
    datapath,
    drops: src.datapath.dropSummary(),
    fastPath: { enabled: src.datapath.fastPathEnabled, share: c.rx > 0 ? c.fastPath / c.rx : null },
    ports: src.ports.map((p) => ({
      ifname: p.ifname,
      rx: p.rx,
      tx: p.tx,
      txDropped: p.txDropped,
      txDroppedQueueFull: p.txDroppedQueueFull,
    })),
    connections: {
      size: src.conns.size,
      capacity: src.conns.capacity,
      overflows: src.conns.overflows,
      expired: src.conns.expired,
      reclaimed: src.conns.reclaimed,
      dropped: src.conns.dropped,
    },
    neighbourWaiting: src.datapath.neigh.queued,
    disabledRules: (src.disabledRules ?? []).map(({ rule, reason }) => ({ rule, reason })),
  };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function isCountRecord(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(isCount);
}

/** Checks a decoded report's shape; returns undefined when it is not one. */
export function asCountersReport(value: unknown): CountersReport | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (!isCount(r.uptimeSeconds) || !isCountRecord(r.datapath) || !isCountRecord(r.drops)) return undefined;
  if (!isCount(r.neighbourWaiting)) return undefined;
  const fast = r.fastPath as Record<string, unknown> | null | undefined;
  if (typeof fast !== 'object' || fast === null || typeof fast.enabled !== 'boolean') return undefined;
  if (fast.share !== null && !isCount(fast.share)) return undefined;
  if (!Array.isArray(r.ports)) return undefined;
  for (const p of r.ports as unknown[]) {
    if (typeof p !== 'object' || p === null) return undefined;
    const { ifname, rx, tx, txDropped, txDroppedQueueFull } = p as Record<string, unknown>;
    if (typeof ifname !== 'string' || !isCount(rx) || !isCount(tx) || !isCount(txDropped)) return undefined;
    if (!isCount(txDroppedQueueFull) || txDroppedQueueFull > txDropped) return undefined;
  }
  if (!isCountRecord(r.connections)) return undefined;
  for (const k of ['size', 'capacity', 'overflows', 'expired', 'reclaimed', 'dropped']) {
    if (!isCount(r.connections[k])) return undefined;
  }
  // A daemon from before disabled rules were reported sends none.
  if (r.disabledRules === undefined) return { ...(value as CountersReport), disabledRules: [] };
  if (!Array.isArray(r.disabledRules)) return undefined;
  for (const d of r.disabledRules as unknown[]) {
    if (typeof d !== 'object' || d === null) return undefined;
    const { rule, reason } = d as Record<string, unknown>;
    if (typeof rule !== 'string' || typeof reason !== 'string') return undefined;
  }
  return value as CountersReport;
}

/** One equation of the report: `total` should equal the sum of `parts`; `unaccounted` is what is left over. */
export interface Balance {
  readonly total: number;
  readonly parts: Readonly<Record<string, number>>;
  /** total - sum of parts: 0 when every frame is accounted for. */
  readonly unaccounted: number;
}

function balance(total: number, parts: Record<string, number>): Balance {
  const sum = Object.values(parts).reduce((a, b) => a + b, 0);
  return { total, parts, unaccounted: total - sum };
}

/**
 * The report's three equations, each of which holds exactly between two batches (the daemon answers a
 * query between them):
 * - received: every received frame once, by what became of it (forwarded, answered, queued for ARP,
 *   consumed, or dropped at receive: every drop reason but neighUnresolved);
 * - queued: every frame held for ARP was released, dropped as neighUnresolved, or is still waiting;
 * - sent: every frame the datapath put out (forwarded, answered, released, ARP it made) was handed to the
 *   kernel by a port, or lost on send, because the queue was full or because it was refused.
 */
export function countersBalance(r: CountersReport): { received: Balance; queued: Balance; sent: Balance } {
  const d = (name: string) => r.datapath[name] ?? 0;
  const unresolved = r.drops.neighUnresolved ?? 0;
  const dropsAtReceive = Object.values(r.drops).reduce((a, b) => a + b, 0) - unresolved;
  const sum = (f: (p: PortCounters) => number) => r.ports.reduce((a, p) => a + f(p), 0);
  const queueFull = sum((p) => p.txDroppedQueueFull);
  return {
    received: balance(d('rx'), {
      forwarded: d('forwarded'),
      answered: d('answered'),
      queued: d('queued'),
      consumed: d('consumed'),
      dropped: dropsAtReceive,
    }),
    queued: balance(d('queued'), { released: d('released'), neighUnresolved: unresolved, waiting: r.neighbourWaiting }),
    sent: balance(d('tx'), {
      handedToKernel: sum((p) => p.tx),
      lostQueueFull: queueFull,
      lostRefused: sum((p) => p.txDropped) - queueFull,
    }),
  };
}
