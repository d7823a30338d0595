// What `uvs trace` needs to know about the director to name addresses the way the seed tutorial does (VIP,
// DIP, RIP, CIP): the interfaces and their owned addresses, the virtual services' addresses, the real
// servers' addresses, and the static neighbours (to name the real server behind a DR frame's MAC). Plain
// strings, so the daemon can send it to a trace client as JSON and the client needs no config file.
import type { DirectorConfig } from '../config/director.js';
import type { RulesSnapshot } from '../model/rules.js';
import { ipv4ToString, macToString } from '../wire/addr.js';

export interface TraceContext {
  readonly interfaces: readonly { name: string; mac: string; addresses: readonly string[] }[];
  /** Addresses of virtual services. */
  readonly vips: readonly string[];
  /** Addresses of real servers (destinations of any service). */
  readonly rips: readonly string[];
  readonly neighbours: readonly { ip: string; mac: string }[];
}

export function traceContext(config: DirectorConfig, snapshot: RulesSnapshot): TraceContext {
  const vips = new Set<string>();
  const rips = new Set<string>();
  for (const svc of snapshot.services) {
    vips.add(ipv4ToString(svc.addr));
    for (const d of svc.dests) rips.add(ipv4ToString(d.addr));
  }
  return {
    interfaces: config.interfaces.map((i) => ({
      name: i.name,
      mac: macToString(i.mac),
      addresses: i.addresses.map((a) => ipv4ToString(a.addr)),
    })),
    vips: [...vips],
    rips: [...rips],
    neighbours: config.neighbours.map((n) => ({ ip: ipv4ToString(n.ip), mac: macToString(n.mac) })),
  };
}

/** The seed's name for an address; null when it is none of them (a gateway, a host on the link). */
export function addressRole(ctx: TraceContext, addr: string): 'VIP' | 'DIP' | 'RIP' | null {
  if (ctx.vips.includes(addr)) return 'VIP';
  if (ctx.interfaces.some((i) => i.addresses.includes(addr))) return 'DIP';
  if (ctx.rips.includes(addr)) return 'RIP';
  return null;
}
