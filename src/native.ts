// The only importer of the Node-API addon (native/). Everything else imports from here, so the shape of the
// addon is declared once.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Per-frame result codes written by `completePartial` (native/layout.h, checked at every load). */
export const PartialResult = {
  done: 0,
  skipped: 1,
  truncated: 2,
  unsupported: 3,
} as const;

/** What `packetOpen` reports about the socket it opened (native/packet_io.cc). */
export interface PacketSocketInfo {
  fd: number;
  ifindex: number;
  /** The interface's MAC address as a 48-bit number (src/wire/addr.ts). */
  mac: number;
  mtu: number;
  /** Receive and send buffer sizes as the kernel set them (it doubles the requested value). */
  rcvbuf: number;
  sndbuf: number;
  /** Whether PACKET_QDISC_BYPASS was requested and accepted. */
  qdiscBypass: boolean;
  /** Whether PACKET_VNET_HDR was requested and accepted: GSO super-frames are cut into segments on receive. */
  gso: boolean;
  /** The TPACKET_V3 receive ring, when one was asked for. */
  ring?: RingHandle;
}

/** An opaque handle of a native TPACKET_V3 receive ring (unmapped by `packetRingClose` or on GC). */
export type RingHandle = { readonly __ringHandle: unique symbol };

/** An opaque handle of a native uv_poll_t watching a socket. */
export type PollHandle = { readonly __pollHandle: unique symbol };

/** An opaque handle of a native AF_XDP socket with its UMEM, rings and XDP program (native/xdp_io.cc). */
export type XdpHandle = { readonly __xdpHandle: unique symbol };

/** What `xdpOpen` reports about the AF_XDP socket it opened. */
export interface XdpSocketInfo {
  handle: XdpHandle;
  /** The socket's descriptor, for `pollStart` (readable while its rx ring is not empty). */
  fd: number;
  ifindex: number;
  mac: number;
  mtu: number;
  queue: number;
  /** Receive queues of the interface (from sysfs); frames on queues other than `queue` go to the kernel. */
  rxQueues: number;
  xdpMode: 'native' | 'generic';
  zeroCopy: boolean;
  ringSize: number;
  /** Bytes per UMEM frame (2048, or 4096 for an MTU past 1500). */
  frameSize: number;
}

/** The arrays native/fastpath.cc works on (src/datapath/fastpath.ts builds them). */
export interface FastPathTables {
  rec: Uint32Array;
  fwd: Uint8Array;
  state: Uint8Array;
  destId: Int32Array;
  timeout: Uint32Array;
  buckets: Int32Array;
  seed: number;
  tcpTimeouts: Float64Array;
  nextState: Uint8Array;
  ifMacHigh: Uint16Array;
  ifMacLow: Int32Array;
  ifMtu: Uint32Array;
  ifIndex: Uint32Array;
  rtNetwork: Int32Array;
  rtMask: Int32Array;
  rtGateway: Int32Array;
  rtSrc: Int32Array;
  rtIf: Uint8Array;
  neighKey: Int32Array;
  neighSlotPlusOne: Int32Array;
  neighMacHigh: Uint16Array;
  neighMacLow: Int32Array;
  neighState: Uint8Array;
  neighDeadline: Float64Array;
  neighQueueLen: Uint16Array;
  /** The control block: arguments and results of `run` (src/datapath/fastpath.ts `Ctl`). */
  ctl: Float64Array;
  slotSize: number;
  headroom: number;
}

/** A native fast path bound to one datapath's tables. */
export interface FastPathHandle {
  /** Registers a batch's arrays; returns the id the control block names it by. */
  addBatch(
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    ifindex: Uint32Array,
    egressIfindex: Uint32Array,
    flags: Uint8Array,
    vlanTci: Uint16Array,
    pktType: Uint8Array,
  ): number;
  /** Forgets every registered batch; ids start again at 0. */
  clearBatches(): void;
  /** Destination availability (1/0 per id), the per-id count deltas (4 per id) and the touched-id list. */
  setDests(available: Uint8Array, delta: Float64Array, touched: Int32Array): void;
  /** The set of service addresses: open addressing over `addr`, `used` marking the taken positions. */
  setVips(addr: Int32Array, used: Uint8Array): void;
  /** Runs frames as the control block says; returns the index of the first frame it left alone. */
  run(): number;
}

export interface NativeAddon {
  /**
   * Every value native/ shares with TypeScript (native/layout.h), by its TypeScript name (`ConnFlag.template`,
   * `Ctl.now`, ...). Compared with the TypeScript values at load (`checkNativeLayout`).
   */
  layout: Readonly<Record<string, number>>;
  /** The connection table's bucket hash as C computes it (unsigned, before the bucket mask). */
  layoutConnHash(seed: number, proto: number, caddr: number, cport: number): number;
  /** The home position of an address in C's open-addressed neighbour and VIP indexes. */
  layoutAddrHash(key: number, mask: number): number;
  /** The datapath's native fast path over `tables` (native/fastpath.cc). */
  FastPath: new (
    tables: FastPathTables,
  ) => FastPathHandle;
  /** Inverted Internet checksum of `buf[off, off+len)`. One crossing per call: tests and benchmarks only. */
  checksum(buf: Uint8Array, off: number, len: number): number;
  /** Checksums of `count` regions in one crossing; returns how many were computed. */
  checksumBatch(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, out: Uint16Array, count: number): number;
  /**
   * Completes CHECKSUM_PARTIAL TCP/UDP checksums in place for every frame whose `status` is 1 on entry;
   * leaves a `PartialResult` code per frame in `status`. Returns the number completed.
   */
  completePartial(buf: Uint8Array, offs: Uint32Array, lens: Uint32Array, status: Uint8Array, count: number): number;

  /**
   * Opens an AF_PACKET socket bound to ETH_P_ALL on `ifname` (non-blocking, PACKET_AUXDATA,
   * PACKET_IGNORE_OUTGOING, buffers sized with SO_RCVBUFFORCE/SO_SNDBUFFORCE when non-zero). Throws an
   * Error whose `code` is the errno name (EPERM, ENODEV, ...). A non-zero `ringBlockSize` (a multiple of
   * the page size) also sets up a TPACKET_V3 receive ring of `ringBlockCount` blocks, each handed to user
   * space when full or after `ringRetireMs`. `gso` asks for PACKET_VNET_HDR, with which receives cut TCP GSO
   * super-frames into their segments (native/gso.h) and sends prefix a no-offload virtio_net_hdr.
   */
  packetOpen(
    ifname: string,
    rcvbuf: number,
    sndbuf: number,
    qdiscBypass: boolean,
    ringBlockSize: number,
    ringBlockCount: number,
    ringRetireMs: number,
    gso: boolean,
  ): PacketSocketInfo;
  packetClose(fd: number): void;
  /**
   * Receives up to `max` frames into slots 0..max-1 with one recvmmsg; returns how many (0 when none is
   * waiting) or a negative errno. Never throws. See src/io/batch.ts for the layout and metadata.
   */
  packetRecv(
    fd: number,
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    ifindex: Uint32Array,
    flags: Uint8Array,
    vlanTci: Uint16Array,
    pktType: Uint8Array,
    slotSize: number,
    headroom: number,
    max: number,
  ): number;
  /** As `packetRecv`, but copies frames out of the socket's TPACKET_V3 ring: no system call at all. */
  packetRecvRing(
    ring: RingHandle,
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    ifindex: Uint32Array,
    flags: Uint8Array,
    vlanTci: Uint16Array,
    pktType: Uint8Array,
    slotSize: number,
    headroom: number,
    max: number,
  ): number;
  /** Unmaps the ring; call before `packetClose`. Safe to call twice. */
  packetRingClose(ring: RingHandle): void;
  /**
   * Sends frames 0..count-1 with sendmmsg; returns how many were sent or a negative errno for bad
   * arguments. `result` receives [sent, dropped, last errno] and, when it has a fourth element, how many of
   * the dropped were lost to a full send buffer or device queue (EAGAIN/ENOBUFS ends the batch: every frame
   * not sent by then is dropped). sent + dropped is always count. Never throws.
   */
  packetSend(
    fd: number,
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    egressIfindex: Uint32Array,
    count: number,
    result: Int32Array,
  ): number;
  /** Calls `callback(status)` from the event loop whenever `fd` is readable (level-triggered). */
  pollStart(fd: number, callback: (status: number) => void): PollHandle;
  /** Stops and closes the poll; safe to call twice and from inside the callback. */
  pollStop(handle: PollHandle): void;

  /**
   * Opens an AF_XDP socket on `queue` of `ifname` and attaches an XDP program (through a bpf_link) that
   * redirects every frame of that queue into it. Throws an Error whose `code` is the errno name (EPERM,
   * ENODEV, EBUSY when another XDP program is attached, ...).
   */
  xdpOpen(
    ifname: string,
    queue: number,
    ringSize: number,
    xdpMode: 'auto' | 'native' | 'generic',
    bindMode: 'auto' | 'copy' | 'zerocopy',
  ): XdpSocketInfo;
  /** Detaches the program and frees the socket; safe to call twice. */
  xdpClose(handle: XdpHandle): void;
  /** As `packetRecvRing`, out of the socket's rx ring: no system call. flags and vlanTci are always 0. */
  xdpRecv(
    handle: XdpHandle,
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    ifindex: Uint32Array,
    flags: Uint8Array,
    vlanTci: Uint16Array,
    pktType: Uint8Array,
    slotSize: number,
    headroom: number,
    max: number,
  ): number;
  /**
   * Sends frames 0..count-1, each out of the AF_XDP socket of `egressIfindex[i]` (this one when 0); returns
   * how many were queued, or a negative errno for bad arguments. `result` receives [sent, dropped, last
   * errno], then (when it is that long) how many of the dropped found no free send frame or ring slot, and
   * how many sockets still hold frames a full device refused. sent + dropped is always count. Never throws.
   */
  xdpSend(
    handle: XdpHandle,
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    egressIfindex: Uint32Array,
    count: number,
    result: Int32Array,
  ): number;
  /**
   * Kicks every AF_XDP socket whose tx ring still holds frames a full device refused; returns how many
   * still hold some (xdpSend reports the same number in result[4] when `result` has 5 elements).
   */
  xdpFlush(): number;
  /** The socket's XDP_STATISTICS counters and its free send frames. */
  xdpStats(handle: XdpHandle): {
    rxDropped: number;
    rxInvalidDescs: number;
    txInvalidDescs: number;
    rxRingFull: number;
    rxFillRingEmpty: number;
    txRingEmpty: number;
    txFree: number;
  };

  /**
   * Opens a non-persistent layer-3 TUN device (IFF_TUN | IFF_NO_PI, non-blocking) named `name`; returns its
   * descriptor and the name the kernel gave it. Closing the descriptor removes the device. Throws an Error
   * whose `code` is the errno name (EPERM without CAP_NET_ADMIN, ENOENT without /dev/net/tun, ...).
   */
  tunOpen(name: string): { fd: number; name: string };
  /**
   * Writes packets 0..count-1 (each a bare IPv4 packet at offset[i], length[i] in `bytes`) to the TUN device
   * in one native call; returns how many were written, or a negative errno for unusable arguments.
   * `result` receives [written, dropped, last errno]. Never throws.
   */
  tunWriteBatch(
    fd: number,
    bytes: Uint8Array,
    offset: Uint32Array,
    length: Uint32Array,
    count: number,
    result: Int32Array,
  ): number;
  tunClose(fd: number): void;
  /**
   * Opens a raw IPv4 socket for protocol 4 that queues nothing; while it is open, a kernel without the ipip
   * module stops answering IPIP packets with ICMP "protocol unreachable". Close it with `tunClose`.
   */
  ipipSinkOpen(): number;
  /**
   * An interface's offloads as `ethtool -k` names them, read in the network namespace at `netns`
   * (/run/netns/NAME) or in this process's own when null. Throws an Error whose `code` is the errno name
   * (ENODEV for a missing interface, ENOENT for a missing namespace).
   */
  /**
   * The segments a receive cuts a TCP/IPv4 GSO frame into (native/gso.h), each at most `room` bytes, or null
   * when it would not cut it (gsoType 1 = TCPV4, 0x80 = ECN flag). For tests: it allocates per segment.
   */
  gsoSegment(frame: Uint8Array, gsoType: number, gsoSize: number, room: number): Uint8Array[] | null;
  offloadsGet(netns: string | null, ifname: string): Offloads;
  /** Sets the offloads named in `want` (the others stay), as `ethtool -K` would. Throws like offloadsGet. */
  offloadsSet(netns: string | null, ifname: string, want: Partial<Offloads>): void;
  /**
   * Sends `text` as one datagram to the AF_UNIX datagram socket `socketPath` (a path, or @name in the abstract
   * namespace): systemd's notification protocol (native/notify.cc). Throws with the errno name on failure.
   */
  notifySend(socketPath: string, text: string): void;
}

/** Offload features of an interface, by their `ethtool -K` names. */
export interface Offloads {
  rx: boolean;
  tx: boolean;
  sg: boolean;
  tso: boolean;
  gso: boolean;
  gro: boolean;
  lro: boolean;
}

// dist/native.js and src/native.ts both sit one level below the package root.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

let cached: NativeAddon | undefined;

/**
 * Where the addon is loaded from: build/Release/uvs_native.node, or the file UVS_NATIVE_PATH names (the
 * sanitizer build of scripts/sanitize.sh lives in a directory of its own, so that it never replaces the
 * normal build other processes load).
 */
export function nativeAddonPath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.UVS_NATIVE_PATH;
  return override !== undefined && override !== '' ? override : join(root, 'build', 'Release', 'uvs_native.node');
}

/**
 * What one TypeScript owner of shared values expects of the addon: the values it relies on, by the names
 * native/layout.h exports them under, and its own connection hash when C hashes its table.
 */
export interface NativeLayoutExpectation {
  /** The TypeScript module that relies on these values, named in the error. */
  readonly owner: string;
  readonly values: Readonly<Record<string, number>>;
  readonly connHash?: (seed: number, proto: number, caddr: number, cport: number) => number;
}

/** The addon and the TypeScript disagree on a shared value: the build is from other sources. */
export class NativeLayoutError extends Error {
  constructor(
    readonly owner: string,
    readonly mismatches: readonly string[],
  ) {
    super(
      `uvs: the native addon does not match ${owner}: ${mismatches.join('; ')}. ` +
        'It was built from other sources: rebuild it (`npm run build:native`), and if this persists, change ' +
        'native/layout.h and the TypeScript together.',
    );
    this.name = 'NativeLayoutError';
  }
}

// Inputs the two connection hashes are compared on: edge values of every argument, and typical addresses.
const HASH_PROBES: readonly (readonly [number, number, number, number])[] = [
  [0, 6, 0, 0],
  [0xffffffff, 17, 0xffffffff, 0xffff],
  [0x9e3779b9, 6, 0x0a000001, 80],
  [0x12345678, 17, 0xc0a80102, 53],
  [0xdeadbeef, 0, 0x0a0000ff, 0],
  [0x80000000, 132, 0x7f000001, 40000],
];

/**
 * Each disagreement between the addon and `expected`, as "name: native X, TypeScript Y": values that differ
 * or that the addon lacks, and connection hashes that differ on the probe inputs.
 */
export function nativeLayoutMismatches(
  addon: Pick<NativeAddon, 'layout' | 'layoutConnHash'>,
  expected: NativeLayoutExpectation,
): string[] {
  const out: string[] = [];
  const layout = addon.layout ?? {};
  for (const [name, want] of Object.entries(expected.values)) {
    const got = Object.hasOwn(layout, name) ? layout[name] : undefined;
    if (got === undefined) out.push(`${name}: missing in native, TypeScript ${want}`);
    else if (got !== want) out.push(`${name}: native ${got}, TypeScript ${want}`);
  }
  const tsHash = expected.connHash;
  if (tsHash !== undefined) {
    for (const [seed, proto, caddr, cport] of HASH_PROBES) {
      const got = typeof addon.layoutConnHash === 'function' ? addon.layoutConnHash(seed, proto, caddr, cport) : NaN;
      const want = tsHash(seed, proto, caddr, cport) >>> 0;
      if (got !== want) {
        const args = `seed=0x${seed.toString(16)}, proto=${proto}, caddr=0x${caddr.toString(16)}, cport=${cport}`;
        out.push(`connHash(${args}): native ${got}, TypeScript ${want}`);
        break;
      }
    }
  }
  return out;
}

/** Throws NativeLayoutError naming every value on which the addon and `expected` disagree. */
export function checkNativeLayout(
  addon: Pick<NativeAddon, 'layout' | 'layoutConnHash'>,
  expected: NativeLayoutExpectation,
): void {
  const mismatches = nativeLayoutMismatches(addon, expected);
  if (mismatches.length > 0) throw new NativeLayoutError(expected.owner, mismatches);
}

/** `object`'s members as `prefix.member` entries, as native/layout.h names them. */
export function layoutEntries(prefix: string, object: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(object)) out[`${prefix}.${key}`] = value;
  return out;
}

/** The values this module shares with the addon; every load checks them. */
export const nativeModuleLayout: NativeLayoutExpectation = {
  owner: 'src/native.ts (PartialResult)',
  values: layoutEntries('PartialResult', PartialResult),
};

const checkedLayouts = new WeakSet<NativeLayoutExpectation>();

/**
 * Loads the addon built by `npm install`, with a fix in the message if it was not built. With `expected`,
 * the addon must also agree with it (checked once per expectation): a caller that shares layouts or codes
 * with C passes its own values, so that a build from other sources fails here, loudly, rather than
 * corrupting tables.
 */
export function loadNative(expected?: NativeLayoutExpectation): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    try {
      cached = require(nativeAddonPath()) as NativeAddon;
    } catch (err) {
      throw new Error(
        `uvs: the native addon is not built (${(err as Error).message.split('\n')[0]}); run \`npm install\` or \`npm run build:native\``,
      );
    }
  }
  for (const layout of expected === undefined ? [nativeModuleLayout] : [nativeModuleLayout, expected]) {
    if (checkedLayouts.has(layout)) continue;
    checkNativeLayout(cached, layout);
    checkedLayouts.add(layout);
  }
  return cached;
}
