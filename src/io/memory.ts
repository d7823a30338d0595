// The memory backend: ports joined by in-process "wires", for tests and simulations that want the daemon's
// I/O loop without a kernel. A MemoryHub numbers its ports like interfaces (ifindex 1, 2, ...); each link
// joins two of them, and a frame sent out of one end is received on the other. As with AF_PACKET, a port
// may send out of any interface of its hub (batch.egressIfindex), and its own sends never come back to it.
//
// Each port's receive queue is bounded and preallocated: a frame that arrives when it is full is dropped and
// counted in `rxDropped`, as a full socket buffer would drop it. The sender does not learn of it.
import type { ReadableCallback, WakeMode } from './afpacket.js';
import { type FrameBatch, HEADROOM, SLOT_SIZE } from './batch.js';
import { ReadableNotifier } from './notifier.js';
import { type PacketPort, packetTypeOf } from './port.js';

/** Frames a port's receive queue holds when nothing is said. */
export const DEFAULT_MEMORY_QUEUE = 256;
const FRAME_SPACE = SLOT_SIZE - HEADROOM;

const copyBytes = Buffer.prototype.copy as (
  this: Uint8Array,
  target: Uint8Array,
  targetStart: number,
  sourceStart: number,
  sourceEnd: number,
) => number;

export interface MemoryPortOptions {
  ifname: string;
  /** 48-bit MAC; by default 02:00:00:00:00:<ifindex> (locally administered). */
  mac?: number;
  mtu?: number;
  /** Frames the receive queue holds. */
  queueCapacity?: number;
}

export class MemoryPortError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = 'MemoryPortError';
    this.code = code;
  }
}

/** A set of memory ports, indexed like interfaces, and the links between them. */
export class MemoryHub {
  private readonly ports: MemoryPort[] = [];

  /** Makes two ports joined by one link, and returns them in the order given. */
  link(a: MemoryPortOptions, b: MemoryPortOptions): [MemoryPort, MemoryPort] {
    const pa = this.add(a);
    const pb = this.add(b);
    pa.peer = pb;
    pb.peer = pa;
    return [pa, pb];
  }

  /** The port with this ifindex, if the hub has it and it is open. */
  port(ifindex: number): MemoryPort | undefined {
    const p = this.ports[ifindex - 1];
    return p?.isOpen ? p : undefined;
  }

  private add(options: MemoryPortOptions): MemoryPort {
    const ifindex = this.ports.length + 1;
    const port = new MemoryPort(this, ifindex, options);
    this.ports.push(port);
    return port;
  }
}

/** Two ports joined by one link: a quick way to get a pair. */
export function memoryPair(a: MemoryPortOptions, b: MemoryPortOptions): [MemoryPort, MemoryPort] {
  return new MemoryHub().link(a, b);
}

export class MemoryPort implements PacketPort {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: number;
  readonly mtu: number;
  readonly queueCapacity: number;
  /** Frames sent through this port that no port received: no such egress interface, too long, or closed. */
  txDropped = 0;
  /** Frames that reached this port while its queue was full. */
  rxDropped = 0;
  /** Frames sent out of this interface, and frames received on it, so far. */
  txFrames = 0;
  rxFrames = 0;
  /** The other end of this port's link; set by MemoryHub.link(). */
  peer: MemoryPort | undefined;

  private readonly hub: MemoryHub;
  private readonly queueBytes: Uint8Array;
  private readonly queueLength: Uint32Array;
  private head = 0;
  private count = 0;
  private open = true;
  private readonly notifier = new ReadableNotifier(() => this.count > 0);

  constructor(hub: MemoryHub, ifindex: number, options: MemoryPortOptions) {
    const capacity = options.queueCapacity ?? DEFAULT_MEMORY_QUEUE;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`queueCapacity must be a positive integer, got ${capacity}`);
    }
    this.hub = hub;
    this.ifname = options.ifname;
    this.ifindex = ifindex;
    this.mac = options.mac ?? 0x020000000000 + ifindex;
    this.mtu = options.mtu ?? 1500;
    this.queueCapacity = capacity;
    this.queueBytes = new Uint8Array(capacity * FRAME_SPACE);
    this.queueLength = new Uint32Array(capacity);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Frames waiting to be received. */
  get queued(): number {
    return this.count;
  }

  /** Puts a frame on the wire towards this port, as if its peer had sent it; false if it was dropped. */
  deliver(bytes: Uint8Array, off: number, len: number): boolean {
    if (!this.open || len > FRAME_SPACE) return false;
    if (this.count === this.queueCapacity) {
      this.rxDropped++;
      return false;
    }
    const slot = (this.head + this.count) % this.queueCapacity;
    copyBytes.call(bytes, this.queueBytes, slot * FRAME_SPACE, off, off + len);
    this.queueLength[slot] = len;
    this.count++;
    this.rxFrames++;
    this.notifier.arrived();
    return true;
  }

  recv(batch: FrameBatch): number {
    if (!this.open) {
      batch.count = 0;
      return -9; // EBADF
    }
    const n = Math.min(this.count, batch.capacity);
    const cap = this.queueCapacity;
    for (let i = 0; i < n; i++) {
      const slot = (this.head + i) % cap;
      const len = this.queueLength[slot] as number;
      const src = slot * FRAME_SPACE;
      const off = batch.slotBase(i) + HEADROOM;
      copyBytes.call(this.queueBytes, batch.bytes, off, src, src + len);
      batch.offset[i] = off;
      batch.length[i] = len;
      batch.ifindex[i] = this.ifindex;
      batch.egressIfindex[i] = 0;
      batch.flags[i] = 0;
      batch.vlanTci[i] = 0;
      batch.pktType[i] = packetTypeOf(batch.bytes, off, len, this.mac);
    }
    this.head = (this.head + n) % cap;
    this.count -= n;
    batch.count = n;
    return n;
  }

  send(batch: FrameBatch, count = batch.count): number {
    if (!this.open) return -9; // EBADF
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const egress = (batch.egressIfindex[i] as number) || this.ifindex;
      const out = egress === this.ifindex ? this : this.hub.port(egress);
      const len = batch.length[i] as number;
      if (out === undefined || out.peer === undefined || len > FRAME_SPACE) {
        this.txDropped++;
        continue;
      }
      out.txFrames++;
      out.peer.deliver(batch.bytes, batch.offset[i] as number, len);
      sent++;
    }
    return sent;
  }

  onReadable(callback: ReadableCallback, mode: WakeMode = 'poll'): void {
    if (!this.open) throw new MemoryPortError(`uvs: port ${this.ifname} is closed`, 'EBADF');
    this.notifier.start(callback, mode);
  }

  stopReadable(): void {
    this.notifier.stop();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.stopReadable();
    this.count = 0;
  }
}
