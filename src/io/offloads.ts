// Interface offloads, through the addon's ethtool ioctl (native/offloads.cc): no ethtool program needed.
//
// Two reasons uvs cares:
// - GRO and LRO merge received TCP segments into frames far larger than the MTU before a packet socket sees
//   them (the AF_PACKET taps run after GRO). uvs forwards frames one for one, so on a capture interface they
//   are better off; `uvs daemon` turns them off (io.gro) rather than cut what the kernel just merged.
// - On veths the sender's checksum, TSO and GSO offloads hand over partial checksums and 64 KB super-frames.
//   uvs completes partial checksums and cuts TCP super-frames into segments itself (src/io/afpacket.ts), but
//   both cost a copy, so the lab, the tests and the bench turn those offloads off on their veths, as a
//   physical wire would (docs/design.md, "Measuring on a small VM").
import { loadNative, type Offloads } from '../native.js';

export type { Offloads };

/** Where `ip netns add NAME` puts the namespace's handle. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** What the lab, the tests and the bench switch off on their veths: `ethtool -K DEV tx off rx off tso off gso off`. */
export const SENDER_OFFLOADS_OFF: Partial<Offloads> = { tx: false, rx: false, tso: false, gso: false };

/** Reads `dev`'s offloads, in namespace `ns` (a name from `ip netns`) or in this process's own when null. */
export function getOffloads(ns: string | null, dev: string): Offloads {
  return loadNative().offloadsGet(ns === null ? null : netnsPath(ns), dev);
}

/** Sets the named offloads of `dev`, in namespace `ns` or this process's own; throws naming the one refused. */
export function setOffloads(ns: string | null, dev: string, want: Partial<Offloads>): void {
  loadNative().offloadsSet(ns === null ? null : netnsPath(ns), dev, want);
}

/** Which of GRO and LRO are on for a capture interface of this namespace: what `uvs daemon` turns off. */
export function receiveCoalescingOn(dev: string): ('gro' | 'lro')[] {
  const now = getOffloads(null, dev);
  const on: ('gro' | 'lro')[] = [];
  if (now.gro) on.push('gro');
  if (now.lro) on.push('lro');
  return on;
}
