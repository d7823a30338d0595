// The memory backend: ports joined by in-process "wires", for tests and simulations that want the daemon's
// I/O loop without a kernel. A MemoryHub numbers its ports like interfaces (ifindex 1, 2, ...); each link
// joins two of them, and a frame sent out of one end is received on the other. As with AF_PACKET, a port
// may send out of any interface of its hub (batch.egressIfindex), and its own sends never come back to it.
//
// Each port's receive queue is bounded and preallocated: a frame that arrives when it is full is dropped and
// counted in `rxDropped`, as a full socket buffer would drop it. The sender does not learn of it.

import { FRAME_SPACE, type FrameBatch } from './batch.js';
import { FrameQueue } from './frame-queue.js';
import { ReadableNotifier } from './notifier.js';
import type { PacketPort, ReadableCallback, WakeMode } from './port.js';

/** Frames a port's receive queue holds when nothing is said. */
export const DEFAULT_MEMORY_QUEUE = 256;

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
  private readonly queue: FrameQueue;
  private open = true;
  private readonly notifier = new ReadableNotifier(() => this.queue.count > 0);

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
    this.queue = new FrameQueue(capacity);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Frames waiting to be received. */
  get queued(): number {
    return this.queue.count;
  }

  /** Puts a frame on the wire towards this port, as if its peer had sent it; false if it was dropped. */
  deliver(bytes: Uint8Array, off: number, len: number): boolean {
    if (!this.open || len > FRAME_SPACE) return false;
    if (!this.queue.push(bytes, off, len, 0)) {
      this.rxDropped++;
      return false;
    }
    this.rxFrames++;
    this.notifier.arrived();
    return true;
  }

  recv(batch: FrameBatch): number {
    if (!this.open) {
      batch.count = 0;
      return -9; // EBADF
    }
    return this.queue.drainInto(batch, this.ifindex, this.mac);
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
    this.queue.clear();
  }
}
