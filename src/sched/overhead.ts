// Load measures shared by the least-connection family (include/net/ip_vs.h, ip_vs_wlc.c).
import type { Dest } from '../dest/dest.js';

/**
 * ip_vs_dest_conn_overhead(): an active connection is taken to cost 256 inactive ones. The kernel computes
 * it in an int, so it wraps past 2^31 (8M active connections) and so does this. Its products with a weight
 * are 64-bit in the kernel; as doubles they stay exact (below 2^31 * 2^16).
 */
export function connOverhead(dest: Dest): number {
  return ((dest.activeConns << 8) + dest.inactConns) | 0;
}

/**
 * Weighted least-connection over a list, as ip_vs_wlc_schedule() and the identical __ip_vs_lblc_schedule()
 * / __ip_vs_lblcr_schedule() do it. The first non-overloaded destination with weight > 0 is the candidate;
 * a later non-overloaded one replaces it only when loh·w(d) > doh·w(least), so ties keep list order and a
 * weight-0 destination can never win. Allocates nothing.
 */
export function weightedLeastConn(dests: readonly Dest[]): Dest | null {
  const n = dests.length;
  let i = 0;
  let least: Dest | null = null;
  for (; i < n; i++) {
    const dest = dests[i]!;
    if (!dest.overloaded && dest.weight > 0) {
      least = dest;
      break;
    }
  }
  if (least === null) return null;
  let loh = connOverhead(least);
  for (i++; i < n; i++) {
    const dest = dests[i]!;
    if (dest.overloaded) continue;
    const doh = connOverhead(dest);
    if (loh * dest.weight > doh * least.weight) {
      least = dest;
      loh = doh;
    }
  }
  return least;
}
