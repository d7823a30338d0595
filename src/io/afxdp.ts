// An AF_XDP packet I/O backend (`io.backend: afxdp`): one XDP socket per interface, fed by a six-instruction
// XDP program that redirects every frame of the interface's queue into it (native/xdp_io.cc). Received
// frames never enter the kernel's receive path (no skb for the director's stack, no packet tap, no netdev
// ingress hook), and a batch is read out of a shared ring without a system call.
// Like AfPacketPort it moves whole FrameBatches with one native call each way, copying frames between the
// socket's UMEM and the batch slots, so the datapath sees exactly the same batch layout.
//
// What it takes over. While a port is open, the interface's queue belongs to uvs: ARP, ICMP and everything
// else go to the socket, none to the kernel (uvs answers ARP itself). The program is attached through a
// bpf_link, so it is detached when the port closes and also when the process dies, however it dies. An
// interface that already has an XDP program is refused (EBUSY). Only one queue is served (`queue`, 0 by
// default): on an interface with more receive queues (`rxQueues` > 1) frames arriving on the others go to
// the kernel, so give it one queue (`ethtool -L IF combined 1`) or steer the traffic to that queue.
//
// Modes. 'native' XDP runs in the driver (veth, most NICs); 'generic' works on any interface, after the skb
// is built, and is slower. 'auto' tries native first. The socket asks for zero-copy and falls back to copy
// mode; veth has no zero-copy, so on veth frames are copied once into the UMEM by the kernel (and once more
// into the batch here, which for small frames costs less than the system calls it saves).
//
// What a received frame does NOT carry, unlike AF_PACKET (XDP hands over bytes only):
// - Checksum state. A frame that left a local stack CHECKSUM_PARTIAL (a veth peer in the same host with tx
//   checksum offload on) arrives with an unfinished TCP/UDP checksum and nothing says so; uvs forwards it as
//   it is and the receiver drops it. Frames from a wire always carry full checksums. On a host where local
//   namespaces feed uvs over veth, turn tx checksumming off on those peers (`ethtool -K IF tx off`), as the
//   live benchmark does; AF_PACKET (the default backend) completes such checksums itself.
// - A VLAN tag the kernel stripped before XDP (rx-vlan-offload on a tagged skb): it is lost.
// - Frames larger than a UMEM frame (2 KiB, or 4 KiB past a 1500-byte MTU): the kernel drops them.
// pktType is derived from the destination MAC, as for the libpcap backend.
//
// Sending. A frame goes out of the AF_XDP port of its egress interface (batch.egressIfindex, 0 for this
// port's own), found among the process's open AF_XDP ports; a frame for an interface without one is dropped
// and counted. In copy mode the kernel sends at most 32 frames per kick, so a batch costs one sendto() per
// 32 frames; sent frames return to the port's pool when the kernel completes them. A frame that finds the
// pool empty is dropped and counted (lastSendErrno EAGAIN), never queued: the datapath does not retry.
// Frames the device refuses (a full veth peer) stay on the tx ring and are offered again every millisecond
// until they leave.
//
// Waking up is as for AfPacketPort: 'poll' watches the socket's descriptor (readable when its rx ring is
// not empty), 'busy' polls on every event-loop turn. An AF_XDP socket is readable as soon as one frame is in
// its rx ring, so under load 'poll' would wake uvs for every few frames; with `coalesce` (`io.rx: ring` or
// `io.wake: coalesce` in the config) wake-ups are coalesced over ~1 ms while frames keep coming
// (src/io/wakeups.ts; the rx ring holds ringSize frames: 2 ms at 1 Mpps).
import { loadNative, type NativeAddon, type XdpHandle, type XdpSocketInfo } from '../native.js';
import type { FrameBatch } from './batch.js';
import { countSend, packetIoLayout, SendResult } from './native-layout.js';
import type { PacketPort, ReadableCallback, WakeMode } from './port.js';
import { DescriptorWakeups } from './wakeups.js';

export type XdpMode = 'auto' | 'native' | 'generic';
export type XdpBindMode = 'auto' | 'copy' | 'zerocopy';

export interface AfXdpOptions {
  /** The receive queue to serve. Default 0. */
  queue?: number;
  /** Entries of each of the four rings, a power of two in 64..16384; the UMEM holds twice as many frames. */
  ringSize?: number;
  /** Where the XDP program runs: in the driver ('native'), after the skb is built ('generic'), or 'auto'. */
  xdpMode?: XdpMode;
  /** Zero-copy needs driver support (not veth); 'auto' lets the kernel fall back to copy mode. */
  bindMode?: XdpBindMode;
  /** In 'poll' mode, drain on a 1 ms timer while frames keep coming (see the top of this file). */
  coalesce?: boolean;
}

export const DEFAULT_XDP_RING_SIZE = 2048;

/** The kernel's counters for one AF_XDP socket (XDP_STATISTICS), plus the port's free send frames. */
export interface AfXdpStats {
  rxDropped: number;
  rxInvalidDescs: number;
  txInvalidDescs: number;
  /** Frames lost because the rx ring was full: uvs did not read fast enough. */
  rxRingFull: number;
  rxFillRingEmpty: number;
  txRingEmpty: number;
  txFree: number;
}

/** An error from opening or closing an AF_XDP port; `code` is the errno name (EPERM, ENODEV, EBUSY, ...). */
export class AfXdpError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AfXdpError';
    this.code = code;
  }
}

function explainOpenError(ifname: string, err: unknown): AfXdpError {
  const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'EIO';
  const detail = (err as Error).message;
  const explain = (text: string): AfXdpError => new AfXdpError(text, code, { cause: err });
  if (code === 'EPERM' || code === 'EACCES') {
    return explain(
      `uvs: an AF_XDP port on ${ifname} needs root, or CAP_NET_RAW with CAP_BPF and CAP_NET_ADMIN (${detail})`,
    );
  }
  if (code === 'ENODEV') {
    return explain(`uvs: interface ${ifname} does not exist in this network namespace (${detail}); check \`ip link\``);
  }
  if (code === 'EBUSY' || code === 'EEXIST') {
    return explain(
      `uvs: ${ifname} already has an XDP program or an AF_XDP socket on that queue (${detail}); see \`ip link show ${ifname}\``,
    );
  }
  if (code === 'EAFNOSUPPORT') {
    return explain(`uvs: this kernel has no AF_XDP (CONFIG_XDP_SOCKETS) (${detail}); use io.backend afpacket`);
  }
  return explain(`uvs: cannot open an AF_XDP port on ${ifname}: ${detail}`);
}

/** How often frames that a full device refused are offered again, while there are any. */
const FLUSH_MS = 1;
let flushTimer: NodeJS.Timeout | undefined;

/**
 * A device with a full queue (a veth whose peer has not caught up) refuses frames; they stay on the socket's
 * tx ring, and are offered again every millisecond until they are gone, rather than only when the next
 * frame is sent (after a burst, that could be much later, or never while every send frame is stuck).
 */
function scheduleFlush(native: NativeAddon): void {
  if (flushTimer !== undefined) return;
  flushTimer = setTimeout(() => {
    flushTimer = undefined;
    if (native.xdpFlush() > 0) scheduleFlush(native);
  }, FLUSH_MS);
  // Refused frames alone do not keep the process alive.
  flushTimer.unref();
}

export class AfXdpPort implements PacketPort {
  readonly ifname: string;
  readonly ifindex: number;
  /** The interface's MAC as a 48-bit number. */
  readonly mac: number;
  readonly mtu: number;
  readonly queue: number;
  /** Receive queues of the interface; only `queue` is served. */
  readonly rxQueues: number;
  /** Where the XDP program runs. */
  readonly xdpMode: 'native' | 'generic';
  readonly zeroCopy: boolean;
  /** Frames dropped by all sends so far (no free send frame, no AF_XDP port for the egress, malformed). */
  txDropped = 0;
  /** Of txDropped, the frames that found no free send frame or tx ring slot (the kernel had not caught up). */
  txDroppedQueueFull = 0;
  /** errno of the last send failure (EAGAIN when the send pool was empty, ENXIO for an unknown egress). */
  lastSendErrno = 0;

  private readonly native: NativeAddon;
  private handle: XdpHandle | undefined;
  private readonly fd: number;
  /** How onReadable() waits: busy, or on the descriptor, plain or coalesced (src/io/wakeups.ts). */
  private readonly wakeups: DescriptorWakeups;
  /** SendResult slots: sent, dropped, last errno, dropped for a full queue, sockets still holding refused frames. */
  private readonly sendResult = new Int32Array(SendResult.pending + 1);
  private readonly coalesce: boolean;

  private constructor(native: NativeAddon, ifname: string, info: XdpSocketInfo, coalesce: boolean) {
    this.native = native;
    this.ifname = ifname;
    this.handle = info.handle;
    this.fd = info.fd;
    this.wakeups = new DescriptorWakeups(native, info.fd);
    this.ifindex = info.ifindex;
    this.mac = info.mac;
    this.mtu = info.mtu;
    this.queue = info.queue;
    this.rxQueues = info.rxQueues;
    this.xdpMode = info.xdpMode;
    this.zeroCopy = info.zeroCopy;
    this.coalesce = coalesce;
  }

  /** Opens the port and attaches its XDP program; throws an AfXdpError that says what to do. */
  static open(ifname: string, options: AfXdpOptions = {}): AfXdpPort {
    const native = loadNative(packetIoLayout);
    const queue = options.queue ?? 0;
    const ringSize = options.ringSize ?? DEFAULT_XDP_RING_SIZE;
    if (!Number.isInteger(queue) || queue < 0) throw new AfXdpError(`uvs: bad AF_XDP queue ${queue}`, 'EINVAL');
    if (!Number.isInteger(ringSize) || ringSize < 64 || ringSize > 16384 || (ringSize & (ringSize - 1)) !== 0) {
      throw new AfXdpError(`uvs: AF_XDP ringSize must be a power of two in 64..16384, got ${ringSize}`, 'EINVAL');
    }
    try {
      const info = native.xdpOpen(ifname, queue, ringSize, options.xdpMode ?? 'auto', options.bindMode ?? 'auto');
      return new AfXdpPort(native, ifname, info, options.coalesce ?? false);
    } catch (err) {
      throw explainOpenError(ifname, err);
    }
  }

  get isOpen(): boolean {
    return this.handle !== undefined;
  }

  /**
   * Copies as many waiting frames as fit into `batch` out of the rx ring with one native call (no system
   * call), sets `batch.count` and returns it: 0 when nothing is waiting, a negative errno on an unusable
   * port (never throws).
   */
  recv(batch: FrameBatch): number {
    if (this.handle === undefined) {
      batch.count = 0;
      return -9; // EBADF
    }
    const n = this.native.xdpRecv(
      this.handle,
      batch.bytes,
      batch.offset,
      batch.length,
      batch.ifindex,
      batch.flags,
      batch.vlanTci,
      batch.pktType,
      batch.slotSize,
      batch.headroom,
      batch.capacity,
    );
    batch.count = Math.max(n, 0);
    if (n > 0) this.wakeups.received += n;
    return n;
  }

  /**
   * Sends frames 0..count-1 of `batch`, each out of the AF_XDP port of egressIfindex[i] (this one when 0),
   * with one native call. Returns how many were queued to the kernel, or a negative errno for an unusable
   * batch; the others are counted in `txDropped`.
   */
  send(batch: FrameBatch, count = batch.count): number {
    // A frame not sent is counted whatever the cause, so that the daemon's counters add up.
    if (this.handle === undefined) {
      this.txDropped += count;
      return -9; // EBADF
    }
    const r = this.sendResult;
    const sent = this.native.xdpSend(
      this.handle,
      batch.bytes,
      batch.offset,
      batch.length,
      batch.egressIfindex,
      count,
      r,
    );
    countSend(this, sent, count, r);
    if (sent >= 0 && r[SendResult.pending] !== 0) scheduleFlush(this.native);
    return sent;
  }

  /** The kernel's counters for the socket (drops at the rx ring, invalid descriptors). */
  stats(): AfXdpStats {
    if (this.handle === undefined) throw new AfXdpError(`uvs: port ${this.ifname} is closed`, 'EBADF');
    return this.native.xdpStats(this.handle);
  }

  /** Calls `callback` when frames may be waiting, in the given wake mode (see the top of this file). */
  onReadable(callback: ReadableCallback, mode: WakeMode = 'poll'): void {
    if (this.handle === undefined) throw new AfXdpError(`uvs: port ${this.ifname} is closed`, 'EBADF');
    try {
      this.wakeups.start(callback, mode, this.coalesce || mode === 'coalesce');
    } catch (err) {
      throw new AfXdpError(
        `uvs: cannot watch ${this.ifname}: ${(err as Error).message}`,
        (err as { code?: string }).code ?? 'EIO',
        { cause: err },
      );
    }
  }

  /** Stops calling the onReadable callback. */
  stopReadable(): void {
    this.wakeups.stop();
  }

  /** Stops watching, detaches the XDP program and closes the socket; a second call does nothing. */
  close(): void {
    if (this.handle === undefined) return;
    this.stopReadable();
    const handle = this.handle;
    this.handle = undefined;
    try {
      this.native.xdpClose(handle);
    } catch (err) {
      throw new AfXdpError(`uvs: closing the AF_XDP port of ${this.ifname} failed: ${(err as Error).message}`, 'EIO', {
        cause: err,
      });
    }
  }
}
