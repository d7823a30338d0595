// A batch of frames moved by one native call: N preallocated slots in one ArrayBuffer plus per-frame
// metadata in typed arrays. The same batch is reused for every receive, so the datapath allocates nothing
// per packet; views (src/wire) are rebound to `bytes` at `offset[i]`.
//
// Slot i occupies bytes [i * slotSize, (i + 1) * slotSize):
//
//   | headroom (HEADROOM bytes)             | frame (up to MAX_FRAME bytes)          | padding to 64 |
//   ^ slotBase(i)                           ^ slotBase(i) + HEADROOM = offset[i] after a receive
//
// The headroom lets the datapath prepend headers in place: an outer IPv4 header for IPIP (20 bytes, after
// moving the Ethernet header forward) and an 802.1Q tag. A receive that puts back a VLAN tag the kernel
// stripped uses 4 bytes of it, so offset[i] can be 4 less than slotBase(i) + HEADROOM.
import { MAX_FRAME } from '../constants.js';

/**
 * Bytes before the frame in each slot: an IPIP header (20), two VLAN tags (8) and the 4 bytes a receive may
 * use to put back a stripped tag, rounded up to 64 so that each frame starts on a cache line.
 */
export const HEADROOM = 64;
/** Slots are multiples of this, so that slot starts stay cache-line aligned. */
export const SLOT_ALIGN = 64;
/** The size of one slot: headroom plus a full frame, aligned. */
export const SLOT_SIZE = Math.ceil((HEADROOM + MAX_FRAME) / SLOT_ALIGN) * SLOT_ALIGN;
/** The largest frame a slot holds after its headroom. */
export const FRAME_SPACE = SLOT_SIZE - HEADROOM;
/** The most frames one native call moves (native/packet_io.cc kMaxBatch). */
export const MAX_BATCH = 1024;
export const DEFAULT_BATCH = 64;

/** Per-frame flags (native/packet_io.h FrameFlag). */
export const FrameFlag = {
  /** The frame arrived CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY): a locally made packet on veth/virtio. */
  csumNotReady: 1 << 0,
  /** ... and its TCP/UDP checksum was completed in place during the receive. */
  csumCompleted: 1 << 1,
  /** ... but it could not be completed (not IPv4 TCP/UDP, a fragment, or truncated): drop it. */
  csumUnfixable: 1 << 2,
  /** The kernel or the NIC has verified the checksum (TP_STATUS_CSUM_VALID). */
  csumValid: 1 << 3,
  /** The kernel had stripped an 802.1Q/802.1ad tag; it was put back in the frame and is in `vlanTci`. */
  vlan: 1 << 4,
  /** The frame was longer than the slot and its tail was lost (GSO/GRO with offloads on): drop it. */
  truncated: 1 << 5,
  /** One of the segments uvs cut from a TCP GSO super-frame (native/gso.h); its checksums are whole. */
  segmented: 1 << 6,
} as const;

/** Linux sll_pkttype values (linux/if_packet.h): how the frame was addressed. */
export const PacketType = {
  host: 0,
  broadcast: 1,
  multicast: 2,
  otherHost: 3,
  outgoing: 4,
} as const;

export class FrameBatch {
  readonly capacity: number;
  readonly slotSize = SLOT_SIZE;
  readonly headroom = HEADROOM;
  /** All slots, back to back. */
  readonly bytes: Uint8Array;
  /** Number of frames currently in the batch (set by a receive, or by the code that fills the batch). */
  count = 0;
  /** Absolute byte offset of frame i within `bytes`; always inside slot i. */
  readonly offset: Uint32Array;
  readonly length: Uint32Array;
  /** Interface the frame arrived on. */
  readonly ifindex: Uint32Array;
  /** Interface to send frame i out of; 0 means the interface of the port that sends the batch. */
  readonly egressIfindex: Uint32Array;
  /** FrameFlag bits. */
  readonly flags: Uint8Array;
  /** TCI (PCP, DEI, VID) of the tag the kernel stripped, when `flags` has FrameFlag.vlan. */
  readonly vlanTci: Uint16Array;
  /** PacketType of the frame. */
  readonly pktType: Uint8Array;

  constructor(capacity = DEFAULT_BATCH) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_BATCH) {
      throw new RangeError(`FrameBatch capacity must be an integer in 1..${MAX_BATCH}, got ${capacity}`);
    }
    this.capacity = capacity;
    this.bytes = new Uint8Array(capacity * SLOT_SIZE);
    this.offset = new Uint32Array(capacity);
    this.length = new Uint32Array(capacity);
    this.ifindex = new Uint32Array(capacity);
    this.egressIfindex = new Uint32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.vlanTci = new Uint16Array(capacity);
    this.pktType = new Uint8Array(capacity);
    this.clear();
  }

  /** Byte offset of slot i in `bytes`. */
  slotBase(i: number): number {
    return i * SLOT_SIZE;
  }

  /** Empties the batch and puts every frame back at the default start of its slot with no metadata. */
  clear(): void {
    this.count = 0;
    for (let i = 0; i < this.capacity; i++) {
      this.offset[i] = i * SLOT_SIZE + HEADROOM;
      this.length[i] = 0;
      this.ifindex[i] = 0;
      this.egressIfindex[i] = 0;
      this.flags[i] = 0;
      this.vlanTci[i] = 0;
      this.pktType[i] = 0;
    }
  }

  /**
   * Moves the start of frame i by `delta` bytes (negative to prepend a header, positive to strip one),
   * keeping its end. Returns false, changing nothing, if the frame would leave its slot.
   */
  adjustHead(i: number, delta: number): boolean {
    const off = (this.offset[i] as number) + delta;
    const len = (this.length[i] as number) - delta;
    const base = i * SLOT_SIZE;
    if (off < base || len < 0 || off + len > base + SLOT_SIZE) return false;
    this.offset[i] = off;
    this.length[i] = len;
    return true;
  }

  /**
   * Copies a frame into slot i at the default offset (tests, generators, the pcap and memory backends).
   * Returns false if it does not fit.
   */
  setFrame(i: number, frame: Uint8Array, egressIfindex = 0): boolean {
    if (i < 0 || i >= this.capacity || frame.length > SLOT_SIZE - HEADROOM) return false;
    const off = i * SLOT_SIZE + HEADROOM;
    this.bytes.set(frame, off);
    this.offset[i] = off;
    this.length[i] = frame.length;
    this.egressIfindex[i] = egressIfindex;
    this.flags[i] = 0;
    this.vlanTci[i] = 0;
    return true;
  }
}
