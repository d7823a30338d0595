// Whether an interface exists, which device it is, and whether its link is up, as /sys/class/net shows it.
// The daemon reads this on its housekeeping timer to follow its interfaces going down and up, or being
// deleted and made again (src/daemon/daemon.ts, "Link monitoring", says why this and not rtnetlink).
//
// sysfs shows the network namespace it was mounted for: `ip netns exec` mounts the namespace's own, but a
// process that entered a namespace another way may see the host's. linkStateAgrees() tells the caller
// whether what sysfs says matches the port it opened.
import { readFileSync } from 'node:fs';

export const SYSFS_NET = '/sys/class/net';

export interface LinkState {
  ifindex: number;
  /** RFC 2863 operational state as the kernel reports it: up, down, lowerlayerdown, dormant, unknown, ... */
  operstate: string;
  /**
   * The link can carry frames: administratively up with carrier (`carrier` reads 1; it cannot be read while
   * the interface is down). Not operstate: the kernel updates that from its link-watch work, which for most
   * devices may come up to a second after the carrier.
   */
  up: boolean;
  /**
   * How often the carrier went on or off since the device was made (-1 where the kernel does not say): a
   * link that went down and up between two looks has a higher count and the same operstate.
   */
  carrierChanges: number;
}

function readCount(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8'));
    return Number.isInteger(n) ? n : -1;
  } catch {
    return -1;
  }
}

/** The state of `ifname`, or null when no interface has that name (deleted, or not made yet). */
export function readLinkState(ifname: string, sysfs = SYSFS_NET): LinkState | null {
  try {
    const ifindex = Number(readFileSync(`${sysfs}/${ifname}/ifindex`, 'utf8'));
    const operstate = readFileSync(`${sysfs}/${ifname}/operstate`, 'utf8').trim();
    if (!Number.isInteger(ifindex) || ifindex <= 0) return null;
    const carrierChanges = readCount(`${sysfs}/${ifname}/carrier_changes`);
    return { ifindex, operstate, up: readCount(`${sysfs}/${ifname}/carrier`) === 1, carrierChanges };
  } catch {
    // ENOENT: no such interface; it can also vanish between the two reads.
    return null;
  }
}

/** Whether sysfs shows the interface a port was opened on (the same ifindex), i.e. this process's namespace. */
export function linkStateAgrees(ifname: string, ifindex: number, sysfs = SYSFS_NET): boolean {
  return readLinkState(ifname, sysfs)?.ifindex === ifindex;
}
