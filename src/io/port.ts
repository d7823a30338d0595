// The shape every packet I/O backend has: batched AF_PACKET (afpacket.ts), libpcap through `cap`
// (libpcap.ts), a pcap file (pcap-port.ts) and memory (memory.ts). The datapath and the daemon see only
// PacketPort; open.ts picks the backend the config names.
import { readMac } from '../wire/addr.js';
import { type FrameBatch, PacketType } from './batch.js';

/**
 * How a port tells its owner that frames may be waiting: 'poll' waits on the descriptor, 'busy' calls back
 * on every event-loop turn, 'coalesce' waits on the descriptor but drains on a short timer while traffic is
 * heavy, 'adaptive' waits on the descriptor but keeps polling it for a fraction of a millisecond after frames
 * came (wakeups.ts).
 */
export type WakeMode = 'poll' | 'busy' | 'coalesce' | 'adaptive';

/**
 * Called when frames may be waiting. `status` is 0, or a negative libuv error code if the poll failed.
 * In 'busy' mode it is called on every event-loop turn.
 */
export type ReadableCallback = (status: number) => void;

export interface PacketPort {
  readonly ifname: string;
  readonly ifindex: number;
  /** The interface's MAC as a 48-bit number. */
  readonly mac: number;
  readonly mtu: number;
  /** Frames this port was asked to send but could not (refused, queue full, no such egress interface). */
  readonly txDropped: number;
  /**
   * Of txDropped, the frames lost because the socket's send buffer or the device queue was full; the rest
   * were refused (malformed, too big, interface down, no such egress). Backends without a queue leave it out.
   */
  readonly txDroppedQueueFull?: number;
  /**
   * Fills `batch` with waiting frames, sets `batch.count` and returns it: 0 when nothing is waiting, a
   * negative errno on an error. Never throws.
   */
  recv(batch: FrameBatch): number;
  /**
   * Sends frames 0..count-1 of `batch`, each out of `batch.egressIfindex[i]` (0: this port's interface).
   * Returns how many were sent, or a negative errno for an unusable port.
   */
  send(batch: FrameBatch, count?: number): number;
  /** Calls `callback` when frames may be waiting ('poll'), or on every event-loop turn ('busy'). */
  onReadable(callback: ReadableCallback, mode?: WakeMode): void;
  stopReadable(): void;
  /** Stops watching and releases the port; a second call does nothing. */
  close(): void;
}

/**
 * How the kernel would have classified a received frame (eth_type_trans()): by its destination MAC against
 * the port's own. For backends that are not told (libpcap, pcap files, memory).
 */
export function packetTypeOf(bytes: Uint8Array, off: number, len: number, ownMac: number): number {
  if (len < 6) return PacketType.otherHost;
  // The I/G bit, the lowest bit of the first octet, marks a group address.
  if (((bytes[off] as number) & 1) !== 0) {
    return readMac(bytes, off) === 0xffffffffffff ? PacketType.broadcast : PacketType.multicast;
  }
  return readMac(bytes, off) === ownMac ? PacketType.host : PacketType.otherHost;
}
