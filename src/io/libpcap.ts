// The optional libpcap backend (`io.backend: pcap`), through the `cap` npm package: portable, and it lets a
// learner see the same capture tcpdump sees. `cap` is an optionalDependency that needs libpcap-dev to build,
// so it is loaded only when this backend is chosen, and its absence becomes one sentence saying what to
// install.
//
// Speed. `cap` calls back once per packet (pcap_dispatch(1) in a loop, one JS call each), which was
// measured at about 10k pps, against more than 360k pps for the batched AF_PACKET backend on the same veth
// topology (docs/design.md, "The native boundary"). It is not the default and not for load.
//
// Batches. Each 'packet' callback copies the frame into a bounded ring of preallocated slots; recv() moves
// what the ring holds into the FrameBatch. A full ring drops the new frame and counts it in `rxDropped`, as
// a full socket buffer would. The callback that tells the datapath to read runs once per burst
// (setImmediate), not once per packet.
//
// What libpcap does not say, compared with AF_PACKET:
// - Whether a frame arrived CHECKSUM_PARTIAL. Locally made packets on veth then carry unfinished TCP/UDP
//   checksums and are forwarded as they are; turn the offloads off on such interfaces (`ethtool -K DEV tx
//   off`), as the benchmarks do (docs/design.md, "Checksums").
// - The packet type: it is worked out from the destination MAC (packetTypeOf). Outgoing frames, the port's
//   own included, are kept out by the `inbound` filter, as PACKET_IGNORE_OUTGOING does for AF_PACKET.
// - A libpcap handle sends out of its own interface only, so send() hands each frame to the open port of its
//   egress interface.
import { readFileSync } from 'node:fs';
import { parseMac } from '../wire/addr.js';
import { copyBytes } from '../wire/bytes.js';
import { FRAME_SPACE, type FrameBatch, FrameFlag } from './batch.js';
import { FrameQueue } from './frame-queue.js';
import { ReadableNotifier } from './notifier.js';
import type { PacketPort, ReadableCallback, WakeMode } from './port.js';

/** The part of `cap`'s Cap object this backend uses (cap/src/binding.cc). */
export interface CapHandle {
  /** pcap_create + activate on `device` with a BPF `filter`; packets are copied into `buffer`. Returns the
   *  link type name ('ETHERNET', ...). Throws libpcap's error text. */
  open(device: string, filter: string, bufferSize: number, buffer: Buffer): string;
  /** pcap_sendpacket of `buffer[0, length)`; throws libpcap's error text. */
  send(buffer: Buffer, length: number): void;
  close(): boolean;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): unknown;
}

export interface CapModule {
  Cap: new () => CapHandle;
}

/** Loads the `cap` package; the default is a dynamic import, tests pass their own. */
export type CapImporter = () => Promise<unknown>;

const importCapPackage: CapImporter = () => import('cap' as string);

/** One sentence that says how to get this backend, used for every way of its absence. */
export const CAP_INSTALL_HINT =
  'install libpcap and the optional `cap` package: `apt-get install libpcap-dev`, then `npm install cap` ' +
  '(npm 11 builds it only when package.json allows its install script: `npm install-scripts approve cap`, ' +
  'which adds "cap": true under "allowScripts")';

export const LibpcapErrorCode = {
  /** `cap` is not installed, was not built, or libpcap.so is missing. */
  unavailable: 'LIBPCAP_UNAVAILABLE',
  /** libpcap could not open or use the interface (permissions, no such device, not Ethernet). */
  open: 'LIBPCAP_OPEN',
  closed: 'LIBPCAP_CLOSED',
} as const;

export class LibpcapError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LibpcapError';
    this.code = code;
  }
}

/** Says why `cap` would not load; the cause stays attached for the log. */
export function explainCapLoadError(err: unknown): LibpcapError {
  const detail = err instanceof Error ? err.message : String(err);
  let why: string;
  if (/libpcap\.so/.test(detail)) why = 'libpcap is not installed';
  else if (/build[\\/]Release[\\/]cap\.node/.test(detail)) why = '`cap` is installed but was never built';
  else if (/Cannot find (module|package) 'cap'/.test(detail)) why = 'the `cap` package is not installed';
  else why = '`cap` could not be loaded';
  return new LibpcapError(
    `uvs: io.backend pcap needs libpcap through the \`cap\` package, but ${why} (${detail.split('\n')[0]}); ` +
      `${CAP_INSTALL_HINT}, or use io.backend afpacket.`,
    LibpcapErrorCode.unavailable,
    { cause: err },
  );
}

/** Loads `cap` through `importer` and checks its shape; throws LibpcapError (unavailable) otherwise. */
export async function loadCap(importer: CapImporter = importCapPackage): Promise<CapModule> {
  let loaded: unknown;
  try {
    loaded = await importer();
  } catch (err) {
    throw explainCapLoadError(err);
  }
  // cap is CommonJS that assigns module.exports whole, so an ES import finds it under `default`.
  const mod = (loaded as { default?: unknown }).default ?? loaded;
  if (typeof (mod as { Cap?: unknown }).Cap !== 'function') {
    throw explainCapLoadError(new Error('the loaded `cap` module has no Cap class'));
  }
  return mod as CapModule;
}

export interface LibpcapOptions {
  /** Extra BPF filter, ANDed with `inbound` (pcap-filter(7)). */
  filter?: string;
  /** libpcap's kernel buffer in bytes (pcap_set_buffer_size). */
  bufferSize?: number;
  /** Frames the ring holds between two recv() calls. */
  ringCapacity?: number;
  importCap?: CapImporter | undefined;
}

export const DEFAULT_PCAP_BUFFER = 8 * 1024 * 1024;
/** About 0.4 s of what `cap` can deliver (~10k pps, docs/design.md) between two reads. */
export const DEFAULT_PCAP_RING = 4096;
/** Largest frame a batch slot holds. */

/** Open libpcap ports by ifindex, so that a frame is sent out of the handle of its egress interface. */
const openByIfindex = new Map<number, LibpcapPort>();

function readSysfs(ifname: string, file: string): string {
  try {
    return readFileSync(`/sys/class/net/${ifname}/${file}`, 'utf8').trim();
  } catch (err) {
    throw new LibpcapError(
      `uvs: interface ${ifname} does not exist in this network namespace; check \`ip link\``,
      LibpcapErrorCode.open,
      { cause: err },
    );
  }
}

export class LibpcapPort implements PacketPort {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: number;
  readonly mtu: number;
  txDropped = 0;
  /** Frames lost because the ring was full when they arrived. */
  rxDropped = 0;
  /** Frames cut to the slot size (larger than MAX_FRAME: GRO/GSO with offloads on). */
  rxTruncated = 0;
  /** libpcap's message for the last failed send. */
  lastSendError = '';

  private readonly cap: CapHandle;
  private readonly captureBuf: Buffer;
  private readonly sendBuf: Buffer;
  private readonly ring: FrameQueue;
  private open = true;
  private readonly notifier = new ReadableNotifier(() => this.ring.count > 0);

  private constructor(cap: CapHandle, ifname: string, ifindex: number, mac: number, mtu: number, ring: number) {
    this.cap = cap;
    this.ifname = ifname;
    this.ifindex = ifindex;
    this.mac = mac;
    this.mtu = mtu;
    this.captureBuf = Buffer.alloc(FRAME_SPACE);
    this.sendBuf = Buffer.alloc(FRAME_SPACE);
    this.ring = new FrameQueue(ring);
  }

  /**
   * Opens `ifname` with libpcap. Throws LibpcapError: `unavailable` (with what to install) when `cap` or
   * libpcap is missing, `open` when libpcap refuses the interface.
   */
  static async open(ifname: string, options: LibpcapOptions = {}): Promise<LibpcapPort> {
    const mod = await loadCap(options.importCap ?? importCapPackage);
    const ifindex = Number(readSysfs(ifname, 'ifindex'));
    const mac = parseMac(readSysfs(ifname, 'address')) ?? 0;
    const mtu = Number(readSysfs(ifname, 'mtu'));
    const ring = options.ringCapacity ?? DEFAULT_PCAP_RING;
    if (!Number.isInteger(ring) || ring < 1) throw new RangeError(`ringCapacity must be a positive integer`);
    const cap = new mod.Cap();
    const port = new LibpcapPort(cap, ifname, ifindex, mac, mtu, ring);
    const filter = options.filter ? `inbound and (${options.filter})` : 'inbound';
    let linkType: string;
    try {
      linkType = cap.open(ifname, filter, options.bufferSize ?? DEFAULT_PCAP_BUFFER, port.captureBuf);
    } catch (err) {
      const detail = (err as Error).message;
      const hint = /permi/i.test(detail) ? '; capturing needs root or CAP_NET_RAW' : '';
      throw new LibpcapError(`uvs: libpcap cannot open ${ifname}: ${detail}${hint}`, LibpcapErrorCode.open, {
        cause: err,
      });
    }
    if (linkType !== 'ETHERNET') {
      cap.close();
      throw new LibpcapError(
        `uvs: libpcap reports link type ${linkType} on ${ifname}; uvs forwards Ethernet frames only`,
        LibpcapErrorCode.open,
      );
    }
    cap.on('packet', (nbytes, truncated) => port.enqueue(nbytes, truncated));
    openByIfindex.set(ifindex, port);
    return port;
  }

  /** Frames waiting in the ring. */
  get queued(): number {
    return this.ring.count;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** The 'packet' handler: one call per captured frame. */
  private enqueue(nbytes: number, truncated: boolean): void {
    if (!this.ring.push(this.captureBuf, 0, nbytes, truncated ? FrameFlag.truncated : 0)) {
      this.rxDropped++;
      return;
    }
    if (truncated) this.rxTruncated++;
    this.notifier.arrived();
  }

  recv(batch: FrameBatch): number {
    if (!this.open) {
      batch.count = 0;
      return -9; // EBADF
    }
    return this.ring.drainInto(batch, this.ifindex, this.mac);
  }

  send(batch: FrameBatch, count = batch.count): number {
    if (!this.open) return -9; // EBADF
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const egress = (batch.egressIfindex[i] as number) || this.ifindex;
      const port = egress === this.ifindex ? this : openByIfindex.get(egress);
      const len = batch.length[i] as number;
      if (port === undefined || len > FRAME_SPACE) {
        this.txDropped++;
        continue;
      }
      const off = batch.offset[i] as number;
      copyBytes.call(batch.bytes, port.sendBuf, 0, off, off + len);
      try {
        port.cap.send(port.sendBuf, len);
        sent++;
      } catch (err) {
        this.txDropped++;
        this.lastSendError = (err as Error).message;
      }
    }
    return sent;
  }

  onReadable(callback: ReadableCallback, mode: WakeMode = 'poll'): void {
    if (!this.open) throw new LibpcapError(`uvs: port ${this.ifname} is closed`, LibpcapErrorCode.closed);
    this.notifier.start(callback, mode);
  }

  stopReadable(): void {
    this.notifier.stop();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.stopReadable();
    if (openByIfindex.get(this.ifindex) === this) openByIfindex.delete(this.ifindex);
    this.cap.close();
  }
}
