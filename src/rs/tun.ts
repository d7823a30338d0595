// `uvs rs tun --vip X [--dev NAME]`: the real-server side of LVS-TUN on a kernel without the ipip module.
// The director sends each client packet wrapped in IPIP (outer DIP -> RIP). Here an AF_PACKET port on the
// LAN interface takes those packets, IpipDecapsulator finds the inner packet (CIP -> VIP) in place, and one
// native call per batch writes the inner packets to a TUN device that holds the VIP /32. The kernel then
// receives them as if they had arrived on that device, and answers the client directly from the VIP through
// its ordinary routes: the replies never pass through the director.
//
// On a normal kernel the same is done with the ipip module:
//   ip link add tunl0 type ipip   (or: modprobe ipip, which creates tunl0)
//   ip addr add VIP/32 dev tunl0 && ip link set tunl0 up
//   plus the ARP-suppression and rp_filter sysctls below (and rp_filter 0/2 on tunl0).
//
// Runs in the foreground until SIGTERM/SIGINT; the TUN device is not persistent, so it disappears with the
// process even after SIGKILL, and `uvs rs tun --undo` puts the sysctls back after a SIGKILL.
import { AfPacketPort } from '../io/afpacket.js';
import { FrameBatch } from '../io/batch.js';
import type { WakeMode } from '../io/port.js';
import { loadNative, type NativeAddon } from '../native.js';
import { parseIpv4Address } from '../wire/addr.js';
import { IpipDecapsulator, TunBatch } from './decap.js';
import { ARP_SUPPRESSION_SYSCTLS, applyArpSuppression, parseVip } from './dr.js';
import type { RsOptions } from './nat.js';
import {
  ip,
  ipJson,
  ipv4AddressesOf,
  RsError,
  readState,
  removeState,
  restoreSysctls,
  snapshotSysctls,
  statePath,
  writeState,
} from './system.js';

export const DEFAULT_TUN_NAME = 'uvstun0';
/** Batches drained per wake-up before yielding to the event loop, so signals and timers still run. */
const MAX_BATCHES_PER_WAKE = 64;

export interface TunState {
  mode: 'tun';
  vip: string;
  dev: string;
  tun: string;
  /** The decapsulator's process; a second `uvs rs tun` while it lives is refused. */
  pid: number;
  sysctls: Record<string, string>;
}

export interface TunOptions extends RsOptions {
  vip: string;
  /** The LAN interface the tunnelled packets arrive on; found automatically when there is only one. */
  dev?: string;
  tunName?: string;
  batch?: number;
  wake?: WakeMode;
}

/** The one interface that is up and is neither loopback nor a TUN device, or an error saying to pass --dev. */
export function findLanInterface(): string {
  const links = ipJson<{ ifname: string; flags?: string[]; link_type?: string }>(['link', 'show', 'up']);
  const candidates = links
    .filter((l) => l.link_type === 'ether' && !(l.flags ?? []).includes('LOOPBACK'))
    .map((l) => l.ifname);
  if (candidates.length === 1) return candidates[0] as string;
  throw new RsError(
    candidates.length === 0
      ? 'uvs rs tun: no Ethernet interface is up here; bring one up or pass --dev NAME'
      : `uvs rs tun: several interfaces are up (${candidates.join(', ')}); pass --dev NAME`,
  );
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A running decapsulator; `stop()` undoes everything it set up. */
export class TunDecapsulator {
  readonly decapsulator: IpipDecapsulator;
  /** Packets the TUN device refused (a full queue), and the last errno. */
  tunDropped = 0;
  lastTunErrno = 0;
  private readonly native: NativeAddon;
  private readonly port: AfPacketPort;
  private tunFd: number;
  private sinkFd: number;
  private readonly rx: FrameBatch;
  private readonly out: TunBatch;
  private readonly result = new Int32Array(3);
  private readonly statePath: string;
  private readonly sysctls: Record<string, string>;
  private readonly log: (line: string) => void;
  readonly dev: string;
  readonly tunName: string;
  readonly rips: readonly string[];

  private constructor(init: {
    native: NativeAddon;
    port: AfPacketPort;
    tunFd: number;
    sinkFd: number;
    batch: number;
    decapsulator: IpipDecapsulator;
    statePath: string;
    sysctls: Record<string, string>;
    log: (line: string) => void;
    dev: string;
    tunName: string;
    rips: string[];
  }) {
    this.native = init.native;
    this.port = init.port;
    this.tunFd = init.tunFd;
    this.sinkFd = init.sinkFd;
    this.rx = new FrameBatch(init.batch);
    this.out = new TunBatch(init.batch);
    this.decapsulator = init.decapsulator;
    this.statePath = init.statePath;
    this.sysctls = init.sysctls;
    this.log = init.log;
    this.dev = init.dev;
    this.tunName = init.tunName;
    this.rips = init.rips;
  }

  /** Sets up the host and starts decapsulating; on any failure, undoes what it had done and throws. */
  static start(opts: TunOptions): TunDecapsulator {
    const vip = parseVip(opts.vip, 'tun');
    const dev = opts.dev ?? findLanInterface();
    const tunName = opts.tunName ?? DEFAULT_TUN_NAME;
    const path = statePath(opts.stateDir, 'tun');
    const previous = readState<TunState>(path);
    if (previous && previous.pid !== process.pid && isAlive(previous.pid)) {
      throw new RsError(
        `uvs rs tun: a decapsulator is already running here (pid ${previous.pid}); stop it first (kill ${previous.pid})`,
      );
    }
    const ripCidrs = ipv4AddressesOf(dev);
    if (ripCidrs.length === 0) {
      throw new RsError(`uvs rs tun: ${dev} has no IPv4 address (the RIP the director tunnels to); add one first`);
    }
    const rips = ripCidrs.map((c) => c.split('/')[0] as string);
    // After a SIGKILL the state file still holds the values from before the first run: keep those.
    const sysctls = previous?.sysctls ?? snapshotSysctls(Object.keys(ARP_SUPPRESSION_SYSCTLS));
    writeState(path, { mode: 'tun', vip, dev, tun: tunName, pid: process.pid, sysctls } satisfies TunState);

    const native = loadNative();
    let tunFd = -1;
    let sinkFd = -1;
    let port: AfPacketPort | undefined;
    try {
      applyArpSuppression();
      try {
        const opened = native.tunOpen(tunName);
        tunFd = opened.fd;
      } catch (err) {
        const code = (err as { code?: string }).code;
        throw new RsError(
          code === 'EBUSY'
            ? `uvs rs tun: a device named ${tunName} already exists; remove it or pass --tun OTHER`
            : code === 'ENOENT'
              ? 'uvs rs tun: /dev/net/tun is missing; load the tun module or create the device node'
              : `uvs rs tun: cannot create the TUN device ${tunName}: ${(err as Error).message}`,
        );
      }
      ip(['-4', 'addr', 'add', `${vip}/32`, 'dev', tunName]);
      ip(['link', 'set', tunName, 'up']);
      sinkFd = native.ipipSinkOpen();
      port = AfPacketPort.open(dev);
      const decapsulator = new IpipDecapsulator(
        rips.map((r) => parseIpv4Address(r) as number),
        parseIpv4Address(vip) as number,
      );
      const self = new TunDecapsulator({
        native,
        port,
        tunFd,
        sinkFd,
        batch: opts.batch ?? 64,
        decapsulator,
        statePath: path,
        sysctls,
        log: opts.log,
        dev,
        tunName,
        rips,
      });
      port.onReadable(() => self.drain(), opts.wake ?? 'poll');
      return self;
    } catch (err) {
      port?.close();
      if (sinkFd >= 0) native.tunClose(sinkFd);
      if (tunFd >= 0) native.tunClose(tunFd);
      restoreSysctls(sysctls);
      removeState(path);
      throw err;
    }
  }

  /** Moves whatever is waiting: one receive, one decapsulation pass and one TUN write per batch. */
  private drain(): void {
    const rx = this.rx;
    const out = this.out;
    const r = this.result;
    for (let b = 0; b < MAX_BATCHES_PER_WAKE; b++) {
      if (this.port.recv(rx) <= 0) return;
      if (this.decapsulator.decap(rx, out) > 0) {
        this.native.tunWriteBatch(this.tunFd, rx.bytes, out.offset, out.length, out.count, r);
        this.tunDropped += r[1] as number;
        if (r[2] !== 0) this.lastTunErrno = r[2] as number;
      }
    }
  }

  get isRunning(): boolean {
    return this.tunFd >= 0;
  }

  /** Stops, removes the TUN device (with the VIP on it), and puts the sysctls back. A second call does nothing. */
  stop(): void {
    if (this.tunFd < 0) return;
    this.port.close();
    this.native.tunClose(this.sinkFd);
    this.sinkFd = -1;
    this.native.tunClose(this.tunFd);
    this.tunFd = -1;
    const restored = restoreSysctls(this.sysctls);
    removeState(this.statePath);
    this.log(`uvs rs tun: removed ${this.tunName}${restored.length > 0 ? `, restored ${restored.join(', ')}` : ''}`);
  }

  /** Counters as one line of JSON, for the log and for tests. */
  statsLine(): string {
    return JSON.stringify({ ...this.decapsulator.snapshot(), tunDropped: this.tunDropped });
  }
}

/** After a SIGKILL: puts back the sysctls recorded by a decapsulator that is no longer running. */
export function undoTun(opts: RsOptions): void {
  const path = statePath(opts.stateDir, 'tun');
  const state = readState<TunState>(path);
  if (!state) {
    opts.log('uvs rs tun: nothing to undo (no state recorded in this network namespace)');
    return;
  }
  if (state.pid !== process.pid && isAlive(state.pid)) {
    throw new RsError(
      `uvs rs tun: the decapsulator (pid ${state.pid}) is still running; stop it with kill ${state.pid}`,
    );
  }
  const restored = restoreSysctls(state.sysctls);
  removeState(path);
  opts.log(`uvs rs tun: ${restored.length === 0 ? 'nothing had changed' : `restored ${restored.join(', ')}`}`);
}
