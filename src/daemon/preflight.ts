// Start-up checks of the director host, run before the daemon opens any interface. uvs owns its VIPs and
// DIPs in user space, so the kernel must neither hold those addresses nor forward on the datapath interfaces:
// otherwise it answers ARP, replies with RSTs and forwards duplicates (docs/design.md). Every problem comes with
// a one-line explanation and the command that fixes it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FRAME_SPACE } from '../io/batch.js';
import { ipv4ToString, parseIpv4Address } from '../wire/addr.js';

/** IFF_UP in /sys/class/net/<dev>/flags. */
const IFF_UP = 0x1;

/**
 * The largest interface MTU uvs serves: an untagged frame of that MTU (14 bytes of Ethernet header more)
 * must fit in one frame slot (src/io/batch.ts). A larger frame would be cut off at receive and dropped, so
 * an interface that allows them is refused at start rather than losing its biggest packets silently.
 */
export const LARGEST_MTU = FRAME_SPACE - 14;

export interface PreflightInterface {
  readonly name: string;
  /** The MTU the configuration gives it (its `mtu:`, or what `auto` read), when known. */
  readonly mtu?: number;
  /** Addresses uvs owns on this interface (host order) with their prefix lengths. */
  readonly addresses: readonly { readonly addr: number; readonly prefix: number }[];
}

export interface Problem {
  /** 'error' stops the daemon; 'warning' is logged. */
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly fix: string;
}

/** How the checks see the host; tests replace it. */
export interface HostReader {
  /** Contents of a file under /sys or /proc, or undefined if it does not exist. */
  readFile(path: string): string | undefined;
  /** IPv4 addresses the kernel holds, as (interface, address, prefix), in this network namespace. */
  kernelAddresses(): { dev: string; addr: number; prefix: number }[];
}

export const linuxHost: HostReader = {
  readFile(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  kernelAddresses() {
    const json = execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8', timeout: 5000 });
    const links = JSON.parse(json) as { ifname: string; addr_info?: { local?: string; prefixlen?: number }[] }[];
    const out: { dev: string; addr: number; prefix: number }[] = [];
    for (const link of links) {
      for (const info of link.addr_info ?? []) {
        const addr = info.local === undefined ? undefined : parseIpv4Address(info.local);
        if (addr !== undefined) out.push({ dev: link.ifname, addr, prefix: info.prefixlen ?? 32 });
      }
    }
    return out;
  },
};

export function preflight(interfaces: readonly PreflightInterface[], host: HostReader = linuxHost): Problem[] {
  const problems: Problem[] = [];
  const error = (message: string, fix: string) => problems.push({ severity: 'error', message, fix });
  const warning = (message: string, fix: string) => problems.push({ severity: 'warning', message, fix });

  for (const { name, mtu } of interfaces) {
    const flags = host.readFile(`/sys/class/net/${name}/flags`);
    if (flags === undefined) {
      error(
        `interface ${name} does not exist in this network namespace`,
        `create it, or fix interfaces[].name in the config (ip link show)`,
      );
      continue;
    }
    if ((Number.parseInt(flags.trim(), 16) & IFF_UP) === 0) {
      error(`interface ${name} is down`, `ip link set ${name} up`);
    }
    // The config's MTU decides what uvs forwards, and the kernel's what it delivers: both must fit a slot.
    const hostMtu = Number(host.readFile(`/sys/class/net/${name}/mtu`)?.trim());
    const configTooBig = mtu !== undefined && mtu > LARGEST_MTU;
    if (configTooBig || hostMtu > LARGEST_MTU) {
      error(
        `interface ${name} has MTU ${configTooBig ? mtu : hostMtu}${configTooBig ? ' in the config' : ''}; uvs forwards frames of at most ${FRAME_SPACE} bytes (MTU ${LARGEST_MTU}), and larger ones would be dropped`,
        `ip link set ${name} mtu 1500${configTooBig ? `, and mtu: 1500 (or auto) for ${name} in the config` : ''}`,
      );
    }
    const forwarding = host.readFile(`/proc/sys/net/ipv4/conf/${name}/forwarding`);
    if (forwarding !== undefined && forwarding.trim() !== '0') {
      error(
        `the kernel forwards IPv4 on ${name}: it would route copies of the packets uvs forwards`,
        `sysctl -w net.ipv4.conf.${name}.forwarding=0 (net.ipv4.ip_forward=1 turns it on for every interface)`,
      );
    }
    const rpFilter = host.readFile(`/proc/sys/net/ipv4/conf/${name}/rp_filter`);
    if (rpFilter !== undefined && rpFilter.trim() === '1') {
      warning(
        `strict rp_filter on ${name} can drop the asymmetric DR/TUN paths`,
        `sysctl -w net.ipv4.conf.${name}.rp_filter=2`,
      );
    }
  }

  const owned = new Map<number, string>();
  for (const { name, addresses } of interfaces) for (const { addr } of addresses) owned.set(addr, name);
  for (const { dev, addr, prefix } of host.kernelAddresses()) {
    if (!owned.has(addr)) continue;
    error(
      `the kernel holds ${ipv4ToString(addr)} on ${dev}, which uvs owns: the kernel would answer ARP and reset connections for it`,
      `ip addr del ${ipv4ToString(addr)}/${prefix} dev ${dev}`,
    );
  }
  return problems;
}

/** One line per problem: "error: <what> -- fix: <command>". */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.severity}: ${p.message} -- fix: ${p.fix}\n`).join('');
}
