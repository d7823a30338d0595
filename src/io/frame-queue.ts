// A bounded, preallocated queue of frames for backends whose frames arrive in JS one at a time (memory
// wires, libpcap callbacks) and leave in batches: push() copies a frame in, drainInto() moves as many as a
// FrameBatch holds. A full queue refuses the new frame, as a full socket buffer would; nothing is allocated.
import { copyBytes } from '../wire/bytes.js';
import { FRAME_SPACE, type FrameBatch, HEADROOM } from './batch.js';
import { packetTypeOf } from './port.js';

export class FrameQueue {
  readonly capacity: number;
  /** Frames waiting. */
  count = 0;
  private head = 0;
  private readonly bytes: Uint8Array;
  private readonly length: Uint32Array;
  private readonly flags: Uint8Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`a frame queue needs a positive integer capacity, got ${capacity}`);
    }
    this.capacity = capacity;
    this.bytes = new Uint8Array(capacity * FRAME_SPACE);
    this.length = new Uint32Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  /** Copies `src[off, off+len)` in with FrameFlag bits `flags`; false when full or the frame is too long. */
  push(src: Uint8Array, off: number, len: number, flags: number): boolean {
    if (this.count === this.capacity || len > FRAME_SPACE) return false;
    const slot = (this.head + this.count) % this.capacity;
    copyBytes.call(src, this.bytes, slot * FRAME_SPACE, off, off + len);
    this.length[slot] = len;
    this.flags[slot] = flags;
    this.count++;
    return true;
  }

  /** Moves the oldest frames into `batch` as received on `ifindex` by a port with MAC `mac`; returns how many. */
  drainInto(batch: FrameBatch, ifindex: number, mac: number): number {
    const n = Math.min(this.count, batch.capacity);
    const cap = this.capacity;
    for (let i = 0; i < n; i++) {
      const slot = (this.head + i) % cap;
      const len = this.length[slot] as number;
      const src = slot * FRAME_SPACE;
      const off = batch.slotBase(i) + HEADROOM;
      copyBytes.call(this.bytes, batch.bytes, off, src, src + len);
      batch.offset[i] = off;
      batch.length[i] = len;
      batch.ifindex[i] = ifindex;
      batch.egressIfindex[i] = 0;
      batch.flags[i] = this.flags[slot] as number;
      batch.vlanTci[i] = 0;
      batch.pktType[i] = packetTypeOf(batch.bytes, off, len, mac);
    }
    this.head = (this.head + n) % cap;
    this.count -= n;
    batch.count = n;
    return n;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }
}
