// `uvs rs dr --vip X`: the real-server side of LVS-DR (the seed's arp.sh). The director only rewrites the
// destination MAC, so the packet reaches the real server still addressed to the VIP: the real server must
// hold the VIP (on lo, /32, so that it owns no subnet with it) and must never answer ARP for it or use it as
// an ARP source, or the clients' traffic would bypass the director.
import { ipv4ToString, parseIpv4Address } from '../wire/addr.js';
import type { RsOptions } from './nat.js';
import {
  ip,
  ipv4AddressesOf,
  RsError,
  readState,
  removeState,
  restoreSysctls,
  snapshotSysctls,
  statePath,
  writeState,
  writeSysctl,
} from './system.js';

/**
 * The sysctls DR and TUN real servers need, below /proc/sys/net.
 * - arp_ignore=1: answer ARP only for addresses on the interface the request came in on (the VIP is on lo or
 *   the TUN device, never on the LAN interface). The kernel uses the larger of `all` and the device's value.
 * - arp_announce=2: never use the VIP as the source of an ARP request; pick the best local address.
 * - rp_filter=2 (loose) on `all`: the kernel uses the larger of `all` and the device's value, so 2 relaxes
 *   every interface at once. Strict mode (1) drops the asymmetric paths of DR and TUN (docs/design.md); with TUN
 *   the client's packets arrive on the TUN device while the route back to the client leaves by the LAN.
 */
export const ARP_SUPPRESSION_SYSCTLS: Readonly<Record<string, string>> = {
  'ipv4/conf/lo/arp_ignore': '1',
  'ipv4/conf/lo/arp_announce': '2',
  'ipv4/conf/all/arp_ignore': '1',
  'ipv4/conf/all/arp_announce': '2',
  'ipv4/conf/all/rp_filter': '2',
};

export interface DrState {
  mode: 'dr';
  vip: string;
  /** Whether `uvs rs dr` put the VIP on lo (false: it was there already, and undo leaves it). */
  addedAddress: boolean;
  /** The values before the first `uvs rs dr`. */
  sysctls: Record<string, string>;
}

/** Writes the ARP-suppression sysctls; returns the keys that changed. */
export function applyArpSuppression(): string[] {
  const changed: string[] = [];
  for (const [k, v] of Object.entries(ARP_SUPPRESSION_SYSCTLS)) if (writeSysctl(k, v)) changed.push(k);
  return changed;
}

export function parseVip(text: string, command: string): string {
  const vip = parseIpv4Address(text);
  if (vip === undefined) throw new RsError(`uvs rs ${command}: '${text}' is not an IPv4 address; give --vip a.b.c.d`);
  return ipv4ToString(vip);
}

export function applyDr(vipText: string, opts: RsOptions): void {
  const vip = parseVip(vipText, 'dr');
  const path = statePath(opts.stateDir, 'dr');
  const state = readState<DrState>(path);
  if (state && state.vip !== vip) {
    throw new RsError(`uvs rs dr: this host is already set up for VIP ${state.vip}; run \`uvs rs dr --undo\` first`);
  }
  const onLo = ipv4AddressesOf('lo').includes(`${vip}/32`);
  if (!state) {
    const fresh: DrState = {
      mode: 'dr',
      vip,
      addedAddress: !onLo,
      sysctls: snapshotSysctls(Object.keys(ARP_SUPPRESSION_SYSCTLS)),
    };
    writeState(path, fresh);
  }
  const changed: string[] = [];
  // ARP first: once the VIP is on lo, a host still answering ARP for it would steal the VIP from the director.
  changed.push(...applyArpSuppression());
  if (!onLo) {
    ip(['-4', 'addr', 'add', `${vip}/32`, 'dev', 'lo']);
    changed.push(`${vip}/32 on lo`);
  }
  opts.log(
    changed.length === 0
      ? `uvs rs dr: VIP ${vip} is already on lo with ARP suppressed; nothing to do`
      : `uvs rs dr: set ${changed.join(', ')}`,
  );
}

export function undoDr(opts: RsOptions): void {
  const path = statePath(opts.stateDir, 'dr');
  const state = readState<DrState>(path);
  if (!state) {
    opts.log('uvs rs dr: nothing to undo (no state recorded in this network namespace)');
    return;
  }
  const changed: string[] = [];
  if (state.addedAddress && ipv4AddressesOf('lo').includes(`${state.vip}/32`)) {
    ip(['-4', 'addr', 'del', `${state.vip}/32`, 'dev', 'lo']);
    changed.push(`removed ${state.vip}/32 from lo`);
  }
  changed.push(...restoreSysctls(state.sysctls).map((k) => `restored ${k}`));
  removeState(path);
  opts.log(`uvs rs dr: ${changed.length === 0 ? 'nothing had changed' : changed.join(', ')}`);
}
