// The default packet I/O backend: one AF_PACKET socket per interface, moving whole FrameBatches with one
// native call each way (recvmmsg/sendmmsg in native/packet_io.cc).
//
// Waking up. Four ways to learn that frames are waiting, chosen per port with onReadable():
// - 'poll' (default): a native uv_poll_t on the socket calls back once per event-loop turn while the socket
//   is readable; the callback drains with recv() until it returns 0. Costs nothing while idle.
// - 'adaptive' (io.wake: adaptive): 'poll', but after a wake-up that found frames the event loop
//   keeps polling the socket for 0.2 ms instead of sleeping (src/io/wakeups.ts), which spares the next packet
//   of a connection a wake-up. With a ring it gains nothing: the socket turns readable per block.
// - 'coalesce': as 'poll' while traffic is light, but under load the drains move to a 1 ms timer
//   (src/io/wakeups.ts): recvmmsg's batching with a ring's CPU cost under load and without a ring's wait for
//   a lone frame. A ring socket coalesces by itself (a block at a time), so there it is 'poll'.
// - 'busy': the callback runs on every event-loop turn (setImmediate), whether or not anything arrived. It
//   keeps one core busy, and is there because wake-ups across cores are slow on small VMs: a reader that
//   sleeps between bursts loses frames there (docs/design.md, "Wake-ups").
//
// What a received frame looks like:
// - Checksums: a frame that arrives CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY; locally made packets on
//   veth/virtio) has its TCP/UDP checksum completed during the receive, so every frame leaves uvs with a
//   correct checksum. One that cannot be completed is flagged FrameFlag.csumUnfixable and must be dropped.
// - VLAN: a tag the kernel stripped is put back into the frame (4 bytes of headroom), so the datapath sees
//   the frame as it was on the wire and forwards it tagged; FrameFlag.vlan and vlanTci also report it.
// - GSO: a TCP super-frame (up to 64 KB of one flow from a same-host sender with TSO/GSO on, or merged by
//   GRO) arrives as the segments the wire would have carried, each with whole checksums and
//   FrameFlag.segmented (PACKET_VNET_HDR, native/gso.h), in order with the frames around it.
// - The port's own transmissions never come back (PACKET_IGNORE_OUTGOING).
//
// Receiving. Two ways, chosen at open(): recvmmsg (default), or a TPACKET_V3 ring (`ring` option), which
// measured at 0.39–0.42 Mpps against 0.30 for recvmmsg on this VM (docs/design.md). recv(batch) fills the same
// slots and metadata either way; with the ring it copies frames out of blocks the kernel has handed over,
// without a system call. A ring hands over a partly filled block only after `retireMs`, which bounds the
// latency it adds at low rates.
//
// Sending is always sendmmsg on the same socket, with a per-frame egress interface (batch.egressIfindex).
import { loadNative, type NativeAddon, type RingHandle } from '../native.js';
import type { FrameBatch } from './batch.js';
import { countSend, packetIoLayout, SendResult } from './native-layout.js';
import type { PacketPort, ReadableCallback, WakeMode } from './port.js';
import { DescriptorWakeups } from './wakeups.js';

export interface AfPacketOptions {
  /** Socket receive buffer in bytes, set with SO_RCVBUFFORCE (past rmem_max, as root). 0: kernel default. */
  rcvbuf?: number;
  /** Socket send buffer in bytes (SO_SNDBUFFORCE). 0: kernel default. */
  sndbuf?: number;
  /** Send with PACKET_QDISC_BYPASS (straight to the driver; tcpdump on the interface no longer sees them). */
  qdiscBypass?: boolean;
  /**
   * Cut TCP GSO super-frames into segments on receive (PACKET_VNET_HDR; default true). A same-host sender
   * with TSO/GSO on (a veth peer) hands the packet socket up to 64 KB of one flow in one frame; without this,
   * such a frame is cut off at the slot and dropped as truncated.
   */
  gso?: boolean;
  /** Receive through a TPACKET_V3 ring instead of recvmmsg: `true` for the defaults, or the sizes. */
  ring?: boolean | RingOptions;
}

export interface RingOptions {
  /** Bytes per block: a multiple of the page size, best a power of two. */
  blockSize?: number;
  blockCount?: number;
  /** How long the kernel waits before handing over a block that is not full, in ms. */
  retireMs?: number;
}

export const DEFAULT_RCVBUF = 8 * 1024 * 1024;
/** 16 blocks of 1 MiB: about 10k full-size or 160k minimum-size frames between two reads. */
export const DEFAULT_RING: Required<RingOptions> = { blockSize: 1 << 20, blockCount: 16, retireMs: 1 };

/** An error from opening or closing a port; `code` is the errno name (EPERM, ENODEV, ...). */
export class AfPacketError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AfPacketError';
    this.code = code;
  }
}

function explainOpenError(ifname: string, err: unknown): AfPacketError {
  const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'EIO';
  const detail = (err as Error).message;
  if (code === 'EPERM' || code === 'EACCES') {
    return new AfPacketError(`uvs: opening a packet socket on ${ifname} needs root or CAP_NET_RAW (${detail})`, code, {
      cause: err,
    });
  }
  if (code === 'ENODEV') {
    return new AfPacketError(
      `uvs: interface ${ifname} does not exist in this network namespace (${detail}); check \`ip link\``,
      code,
      { cause: err },
    );
  }
  return new AfPacketError(`uvs: cannot open a packet socket on ${ifname}: ${detail}`, code, { cause: err });
}

export class AfPacketPort implements PacketPort {
  readonly ifname: string;
  readonly ifindex: number;
  /** The interface's MAC as a 48-bit number. */
  readonly mac: number;
  readonly mtu: number;
  /** The kernel's receive buffer size (twice what was asked for). */
  readonly rcvbuf: number;
  readonly qdiscBypass: boolean;
  /** Whether received TCP GSO super-frames are cut into segments (the kernel accepted PACKET_VNET_HDR). */
  readonly gso: boolean;
  /**
   * Frames dropped by all sends so far: refused by the kernel (EMSGSIZE, ENETDOWN, ...), malformed, or lost
   * to a full send buffer or device queue (those also in txDroppedQueueFull).
   */
  txDropped = 0;
  /** Of txDropped, the frames lost because the send buffer or the device queue was full (EAGAIN/ENOBUFS). */
  txDroppedQueueFull = 0;
  /** errno of the last send failure (EAGAIN/ENOBUFS when the send buffer or the driver queue was full). */
  lastSendErrno = 0;

  private readonly native: NativeAddon;
  private fd: number;
  /** How onReadable() waits: busy, or on the socket, plain or coalesced (src/io/wakeups.ts). */
  private readonly wakeups: DescriptorWakeups;
  private ring: RingHandle | undefined;
  /** SendResult slots: sent, dropped, last errno, dropped for a full queue. */
  private readonly sendResult = new Int32Array(SendResult.queueFull + 1);

  private constructor(native: NativeAddon, ifname: string, info: ReturnType<NativeAddon['packetOpen']>) {
    this.native = native;
    this.ifname = ifname;
    this.fd = info.fd;
    this.wakeups = new DescriptorWakeups(native, info.fd);
    this.ifindex = info.ifindex;
    this.mac = info.mac;
    this.mtu = info.mtu;
    this.rcvbuf = info.rcvbuf;
    this.qdiscBypass = info.qdiscBypass;
    this.gso = info.gso;
    this.ring = info.ring;
  }

  /** Opens the port; throws an AfPacketError that says what to do (not root, no such interface). */
  static open(ifname: string, options: AfPacketOptions = {}): AfPacketPort {
    const native = loadNative(packetIoLayout);
    const ring = options.ring === true ? DEFAULT_RING : options.ring ? { ...DEFAULT_RING, ...options.ring } : undefined;
    try {
      const info = native.packetOpen(
        ifname,
        options.rcvbuf ?? DEFAULT_RCVBUF,
        options.sndbuf ?? 0,
        options.qdiscBypass ?? true,
        ring?.blockSize ?? 0,
        ring?.blockCount ?? 0,
        ring?.retireMs ?? 0,
        options.gso ?? true,
      );
      return new AfPacketPort(native, ifname, info);
    } catch (err) {
      throw explainOpenError(ifname, err);
    }
  }

  /** Whether frames are received through a TPACKET_V3 ring. */
  get usesRing(): boolean {
    return this.ring !== undefined;
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /** The socket's file descriptor, for callers that integrate with another poller; -1 once closed. */
  get fileDescriptor(): number {
    return this.fd;
  }

  /**
   * Receives as many waiting frames as fit into `batch` with one native call (recvmmsg, or a copy out of
   * the ring), sets `batch.count`, and returns it: 0 when nothing is waiting, a negative errno on a socket
   * error (never throws).
   */
  recv(batch: FrameBatch): number {
    if (this.fd < 0) {
      batch.count = 0;
      return -9; // EBADF
    }
    const n = this.ring
      ? this.native.packetRecvRing(
          this.ring,
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
        )
      : this.native.packetRecv(
          this.fd,
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
   * Sends frames 0..count-1 of `batch` (each from offset[i]/length[i], out of egressIfindex[i] or this
   * port's interface when 0) with one native call. Returns how many were sent, or a negative errno for an
   * unusable batch. Every frame of the batch not sent is counted in `txDropped`: those the kernel refused,
   * and, when the send buffer or the device queue is full (EAGAIN/ENOBUFS), the rest of the batch, which is
   * not tried (also counted in `txDroppedQueueFull`). The datapath does not hold frames back for a retry.
   */
  send(batch: FrameBatch, count = batch.count): number {
    // A frame not sent is counted whatever the cause, so that the daemon's counters add up.
    if (this.fd < 0) {
      this.txDropped += count;
      return -9; // EBADF
    }
    const r = this.sendResult;
    const sent = this.native.packetSend(
      this.fd,
      batch.bytes,
      batch.offset,
      batch.length,
      batch.egressIfindex,
      count,
      r,
    );
    countSend(this, sent, count, r);
    return sent;
  }

  /** Calls `callback` when frames may be waiting, in the given wake mode (see the top of this file). */
  onReadable(callback: ReadableCallback, mode: WakeMode = 'poll'): void {
    if (this.fd < 0) throw new AfPacketError(`uvs: port ${this.ifname} is closed`, 'EBADF');
    // A ring socket is readable only once the kernel hands a block over: it coalesces by itself.
    try {
      this.wakeups.start(callback, mode, mode === 'coalesce' && this.ring === undefined);
    } catch (err) {
      throw new AfPacketError(
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

  /** Stops watching and closes the socket; a second call does nothing. */
  close(): void {
    if (this.fd < 0) return;
    this.stopReadable();
    if (this.ring) this.native.packetRingClose(this.ring);
    this.ring = undefined;
    const fd = this.fd;
    this.fd = -1;
    try {
      this.native.packetClose(fd);
    } catch (err) {
      throw new AfPacketError(
        `uvs: closing the packet socket of ${this.ifname} failed: ${(err as Error).message}`,
        (err as { code?: string }).code ?? 'EIO',
        { cause: err },
      );
    }
  }
}
