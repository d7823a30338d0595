// `uvs daemon`: reads the director config and the rules, checks the host, opens the datapath interfaces and
// runs frames through the datapath until SIGTERM. SIGHUP reloads the rules file without touching what did not
// change (src/model/diff.ts), so established connections survive. uvsadm talks to it over the control socket,
// and `uvs counters` asks there for the datapath's counters.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getSystemErrorName } from 'node:util';
import type { Logger } from 'pino';
import { type DirectorConfig, loadConfig } from '../config/director.js';
import { type CountersReport, countersReport } from '../control/counters.js';
import { executeCommand } from '../control/handler.js';
import { ruleFitWithRemedy } from '../control/rule-fit.js';
import { ControlServer, ControlServerError, type ControlServerOptions } from '../control/server.js';
import { prepareStateDirectory, StateFileError, writeFileAtomic } from '../control/state-file.js';
import { StatsBook } from '../control/stats-book.js';
import { Datapath } from '../datapath/datapath.js';
import { FrameBatch } from '../io/batch.js';
import { type LinkState, linkStateAgrees, readLinkState } from '../io/link-state.js';
import { receiveCoalescingOn, setOffloads } from '../io/offloads.js';
import { openPorts } from '../io/open.js';
import type { PacketPort } from '../io/port.js';
import { IpvsCore } from '../ipvs/core.js';
import { EstimatorSet } from '../ipvs/estimator.js';
import { MetricsExposition } from '../metrics/registry.js';
import { type MetricsServer, startMetricsEndpoint } from '../metrics/server.js';
import { diffRules, rulesAfter, snapshotOf } from '../model/diff.js';
import { RulesError } from '../model/errors.js';
import { DEFAULT_TIMEOUTS, type NumberedCommand, type RulesSnapshot } from '../model/rules.js';
import { formatRules, parseRules } from '../model/save-format.js';
import { TraceServer, traceSocketPath } from '../trace/server.js';
import { InterfaceLock, InterfaceLockError } from './interface-lock.js';
import { createDaemonLog, type DaemonLog } from './logger.js';
import {
  currentNetns,
  OffloadRecordError,
  offloadRecordPath,
  removeOffloadRecord,
  restoreCommand,
  restoreRecordedOffloads,
  writeOffloadRecord,
} from './offload-record.js';
import { formatProblems, preflight } from './preflight.js';
import { SystemdNotifier } from './systemd.js';
import { StartGate, UndoStack } from './undo.js';

/** How often idle housekeeping runs: connection expiry, neighbour retries, rate estimation (ms). */
const HOUSEKEEPING_MS = 250;
/** Receive calls per readiness callback before yielding to the event loop (timers, control socket). */
const MAX_DRAINS_PER_WAKE = 64;
/** How long stop waits for the log reader to take the last lines. */
const LOG_FLUSH_MS = 1_000;

/** What the daemon last saw of an interface's link (LinkWatch). */
type LinkSeen = 'up' | 'down' | 'deleted';

/**
 * One datapath interface's link, for the link monitoring (Daemon.watchLinks()). A port is `serving` while
 * it is open and watched; it is taken out of service when its link goes down or away, and opened anew when
 * the link is up again.
 */
interface LinkWatch {
  serving: boolean;
  seen: LinkSeen;
  /** ifindex of the device the port is (or was last) open on: another one under the name is a new device. */
  ifindex: number;
  /** ifindex sysfs showed at the last look, -1 when the interface did not exist. */
  seenIfindex: number;
  /** The device's MAC when its port was opened: the datapath follows a new device's MAC only from this one. */
  deviceMac: number;
  /** The device's carrier_changes at the last look (-1: unknown). */
  carrierChanges: number;
  /** A re-open is under way (openPorts is async for some backends). */
  reopening: boolean;
  /** The last re-open failure logged, so that a retry every tick does not repeat it. */
  lastOpenError: string;
  /** txDropped of the ports this interface had before the current one. */
  txDroppedBefore: number;
  /** ... and of those, the frames lost to a full queue (txDroppedQueueFull). */
  txDroppedQueueFullBefore: number;
}

export class DaemonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DaemonError';
  }
}

export interface DaemonOptions {
  configPath: string;
  /** Overrides the config's `rules:`; also what SIGHUP reloads. */
  rulesPath?: string;
  logLevel?: string;
}

/** The text of the state file: ipvsadm-save -n, plus the timeouts when they are not the defaults. */
export function stateText(snapshot: RulesSnapshot): string {
  const t = snapshot.timeouts;
  const d = DEFAULT_TIMEOUTS;
  const timeouts =
    t.tcp !== d.tcp || t.tcpFin !== d.tcpFin || t.udp !== d.udp ? `--set ${t.tcp} ${t.tcpFin} ${t.udp}\n` : '';
  return formatRules(snapshot) + timeouts;
}

/** ENETDOWN for -100: a negative errno (as recv() returns, and libuv's codes are on Linux) by its name. */
function errnoName(negativeErrno: number): string {
  try {
    return getSystemErrorName(negativeErrno);
  } catch {
    return `errno ${-negativeErrno}`;
  }
}

function readRules(path: string): NumberedCommand[] {
  try {
    return parseRules(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err instanceof RulesError) throw new DaemonError(`${path}: ${err.message}`);
    throw new DaemonError(`${path}: ${(err as Error).message}`);
  }
}

export class Daemon {
  readonly config: DirectorConfig;
  /** Named in uvsadm's refusal of a VIP no interface owns, as the file to add it to. */
  private readonly configPath: string;
  readonly core: IpvsCore;
  readonly log: Logger;
  /** Where `log` writes: bounded, so a stalled log reader never stalls forwarding (./logger.ts). */
  private readonly daemonLog: DaemonLog;
  /** The interfaces held against a second daemon, from start to stop (./interface-lock.ts). */
  private interfaceLock: InterfaceLock | undefined;
  private datapath!: Datapath;
  private ports: PacketPort[] = [];
  private control: ControlServer | undefined;
  /** `uvs trace` clients; the datapath is traced only while one is connected. */
  private trace: TraceServer | undefined;
  /** Prometheus metrics: `uvs counters --prometheus` always, the /metrics endpoint when configured. */
  private metrics: MetricsExposition | undefined;
  private metricsServer: MetricsServer | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private readonly estimators: EstimatorSet;
  private readonly statsBook: StatsBook;
  private readonly rulesPath: string | null;
  private readonly rx: FrameBatch;
  private readonly tx: FrameBatch;
  /** Frames received and sent per port (by position in `ports`), for `uvs counters`; PacketPort counts neither. */
  private portRx = new Float64Array(0);
  private portTx = new Float64Array(0);
  /** 1 while a drain of that port is queued with setImmediate (a wake-up that ran out of its budget). */
  private drainScheduled = new Uint8Array(0);
  /** Per port (by position in `ports`): its link as last seen, and whether the port serves. */
  private links: LinkWatch[] = [];
  /** Whether /sys/class/net shows this process's namespace (see watchLinks()). */
  private linksFromSysfs = true;
  /** What stopReceiveCoalescing() turned off, per interface, to turn back on at stop. */
  private readonly coalescingTurnedOff = new Map<string, ('gro' | 'lro')[]>();
  /** `coalescingTurnedOff` on disk, for a restore after a kill (./offload-record.ts); '' when there is none. */
  private offloadRecordText = '';
  /** What start-up changed on the host, undone newest first when a later step fails (./undo.ts). */
  private readonly startUndo = new UndoStack();
  /** Control requests wait here until start-up is complete. */
  private readonly startGate = new StartGate();
  /** Under systemd Type=notify: READY, STATUS, watchdog pings, STOPPING (./systemd.ts). */
  private readonly systemd = SystemdNotifier.fromEnvironment(process.env, (err) =>
    this.log.warn({ notifySocket: process.env.NOTIFY_SOCKET }, `cannot notify systemd: ${err.message}`),
  );
  private startedAt = performance.now();
  private stopping = false;
  /** The rules disabled at the last logDisabled(), so each is logged once, when it appears. */
  private disabledLogged = new Set<string>();

  constructor(options: DaemonOptions) {
    this.daemonLog = createDaemonLog({ level: options.logLevel ?? 'info' });
    this.log = this.daemonLog.log;
    this.config = loadConfig(options.configPath);
    this.configPath = resolve(options.configPath);
    this.rulesPath = options.rulesPath ?? this.config.rules;
    this.core = new IpvsCore({ connCapacity: this.config.conn.capacity, ticksPerSecond: 1000 });
    this.core.defense.onChange = (change, message) =>
      change.short ? this.log.warn({ defense: change }, message) : this.log.info({ defense: change }, message);
    this.estimators = new EstimatorSet(performance.now());
    this.statsBook = new StatsBook(this.estimators);
    this.rx = new FrameBatch(this.config.io.batch);
    this.tx = new FrameBatch(this.config.io.batch * 2);
  }

  /**
   * GRO and LRO merge TCP segments into frames past the MTU before a packet socket sees them, and uvs forwards
   * frame for frame: it can cut them up again (src/io/afpacket.ts), but that undoes the kernel's work at the
   * cost of a copy, so they go off on the capture interfaces (io.gro: off, the default) and back on at stop.
   * XDP runs before GRO, so the afxdp backend needs nothing. An interface that cannot change them is logged,
   * not fatal: most virtual interfaces have no LRO.
   */
  private stopReceiveCoalescing(names: readonly string[] = this.config.interfaces.map((i) => i.name)): void {
    if (this.config.io.gro !== 'off' || this.config.io.backend === 'afxdp') return;
    const planned = new Map<string, ('gro' | 'lro')[]>();
    for (const name of names) {
      try {
        const on = receiveCoalescingOn(name);
        if (on.length > 0) planned.set(name, on);
      } catch (err) {
        this.log.warn(
          { interface: name, fix: `ethtool -K ${name} gro off lro off` },
          `could not check GRO/LRO: ${(err as Error).message}`,
        );
      }
    }
    for (const [name, on] of planned) this.coalescingTurnedOff.set(name, on);
    // On disk before the interfaces change: a kill between the two must not lose what to turn back on.
    this.saveOffloadRecord();
    for (const [name, changed] of planned) {
      try {
        setOffloads(null, name, { gro: false, lro: false });
        this.log.info(
          { interface: name, turnedOff: changed },
          'receive coalescing off until uvs stops: uvs forwards frame for frame and would only cut merged frames up again (io.gro: keep leaves it)',
        );
      } catch (err) {
        this.log.warn(
          { interface: name, fix: `ethtool -K ${name} gro off lro off` },
          `could not turn GRO/LRO off: ${(err as Error).message}`,
        );
        this.keepOnlyTurnedOff(name, changed);
      }
    }
    this.saveOffloadRecord();
  }

  /**
   * After a refused change (EPERM without CAP_NET_ADMIN, a driver that cannot), only what did go off is to be
   * turned back on at stop; otherwise the stop would warn that it cannot turn on what was never off.
   */
  private keepOnlyTurnedOff(name: string, planned: readonly ('gro' | 'lro')[]): void {
    try {
      const stillOn = receiveCoalescingOn(name);
      const off = planned.filter((f) => !stillOn.includes(f));
      if (off.length > 0) this.coalescingTurnedOff.set(name, off);
      else this.coalescingTurnedOff.delete(name);
    } catch {
      // Cannot tell: keep the plan. Turning on at stop what is already on changes nothing.
    }
  }

  /** The control socket, or a DaemonError saying why not (another daemon holds it, a file is in the way). */
  private async takeControlSocket(options: ControlServerOptions): Promise<ControlServer> {
    try {
      return await ControlServer.start(options);
    } catch (err) {
      if (err instanceof ControlServerError) throw new DaemonError(err.message);
      throw err;
    }
  }

  /** Writes `coalescingTurnedOff` to the offload record, or removes the record when it is empty. */
  private saveOffloadRecord(): void {
    const interfaces = Object.fromEntries(this.coalescingTurnedOff);
    const text = this.coalescingTurnedOff.size === 0 ? '' : JSON.stringify(interfaces);
    if (text === this.offloadRecordText) return;
    const path = offloadRecordPath(this.config.control);
    if (text === '') removeOffloadRecord(path);
    else writeOffloadRecord(path, { pid: process.pid, netns: currentNetns(), interfaces });
    this.offloadRecordText = text;
  }

  /**
   * A daemon on this control socket that was killed (SIGKILL, a crash, a watchdog) left GRO/LRO off: turns
   * them back on from its record before this start decides anew, so what it records is the host's own state.
   */
  private restoreAfterKilledRun(): void {
    const path = offloadRecordPath(this.config.control);
    try {
      const report = restoreRecordedOffloads(path);
      if (report.record === undefined) return;
      for (const r of report.restored) {
        this.log.warn(
          { interface: r.name, turnedOn: r.features, record: path, pid: report.record.pid },
          `turned ${r.features.join('/')} back on: the daemon before this one (pid ${report.record.pid}) was killed before it could`,
        );
      }
      for (const f of report.failed) {
        this.log.warn(
          { interface: f.name, fix: restoreCommand(f.name, f.features), record: path },
          `could not turn ${f.features.join('/')} back on after a killed daemon: ${f.error}`,
        );
      }
    } catch (err) {
      if (!(err instanceof OffloadRecordError)) throw err;
      this.log.error({ record: path }, `offloads of a killed daemon not restored: ${err.message}`);
    }
  }

  /** Checks the host, loads the rules, opens the interfaces and starts serving. Throws DaemonError on a problem. */
  async start(): Promise<void> {
    // Before anything touches the interfaces: a second daemon on them would forward every packet twice.
    try {
      this.interfaceLock = await InterfaceLock.acquire(this.config.interfaces.map((i) => i.name));
    } catch (err) {
      if (err instanceof InterfaceLockError) throw new DaemonError(err.message);
      throw err;
    }
    try {
      await this.startHoldingInterfaces();
    } catch (err) {
      this.startGate.fail(new DaemonError(`the daemon failed to start: ${(err as Error).message}`));
      await this.startUndo.unwind((what, undoErr) =>
        this.log.error(
          { step: what },
          `start-up failed, and undoing ${what} failed too: ${(undoErr as Error).message}`,
        ),
      );
      this.systemd?.status(`start-up failed: ${(err as Error).message}`);
      this.interfaceLock.release();
      throw err;
    }
    this.startGate.open();
    this.systemd?.ready(
      `serving on ${this.ports.map((p) => p.ifname).join(', ')}; ${this.core.rules.snapshot.services.length} services`,
      performance.now(),
    );
  }

  private async startHoldingInterfaces(): Promise<void> {
    const problems = preflight(
      this.config.interfaces.map((i) => ({
        name: i.name,
        mtu: i.mtu,
        addresses: i.addresses.map((a) => ({ addr: a.addr, prefix: a.prefixLen })),
      })),
    );
    for (const p of problems) if (p.severity === 'warning') this.log.warn({ fix: p.fix }, p.message);
    const errors = problems.filter((p) => p.severity === 'error');
    if (errors.length > 0) throw new DaemonError(`the host is not ready for uvs:\n${formatProblems(errors)}`);

    try {
      const removed = await prepareStateDirectory(this.config.state);
      if (removed.length > 0) this.log.info({ removed }, 'removed temporary state files left by a killed daemon');
    } catch (err) {
      if (err instanceof StateFileError) throw new DaemonError(err.message);
      throw err;
    }
    // Rules: the state file (what uvsadm left) wins over the config's initial rules.
    const source = existsSync(this.config.state) ? this.config.state : this.rulesPath;
    if (source !== null) {
      try {
        this.core.applyRules(readRules(source));
      } catch (err) {
        if (err instanceof RulesError) throw new DaemonError(`${source}: ${err.message}`);
        throw err;
      }
      this.log.info({ rules: source, services: this.core.rules.snapshot.services.length }, 'rules loaded');
    }
    // Estimators start with their services and destinations, as ip_vs_start_estimator() does, so that
    // --stats counts from creation.
    this.statsBook.sync(this.core.rules.snapshot);

    // The control socket first: a daemon that cannot have it (another one holds it) stops here, before it
    // changes anything on the host. Requests wait at the start gate until the interfaces are open.
    this.control = await this.takeControlSocket({
      socketPath: this.config.control,
      handler: async (request) => {
        await this.startGate.opened;
        return executeCommand(this.core, request.argv, request.stdin, {
          now: () => performance.now(),
          stats: this.statsBook,
          ruleFit: ruleFitWithRemedy(this.datapath, this.configPath),
          saveRules: (next) =>
            this.saveState(next).catch((err: unknown) => {
              this.log.error(
                { err, state: this.config.state },
                'uvsadm change refused: the state file could not be saved',
              );
              throw err;
            }),
        });
      },
      queryHandler: async ({ query }) => {
        await this.startGate.opened;
        if (query === 'metrics') return { stdout: (await this.metrics!.render()).text, stderr: '', exitCode: 0 };
        return { stdout: `${JSON.stringify(this.counters())}\n`, stderr: '', exitCode: 0 };
      },
      onRulesChanged: () => this.rulesChanged(),
      onError: (err) => this.log.error({ err }, 'control request failed'),
      onClientDropped: (reason) => this.log.warn(reason),
    });
    this.startUndo.push('the control socket', () => this.control?.close());

    this.restoreAfterKilledRun();
    this.startUndo.push('GRO/LRO', () => this.restoreReceiveCoalescing());
    this.stopReceiveCoalescing();
    try {
      this.ports = await openPorts(
        this.config.interfaces.map((i) => i.name),
        { backend: this.config.io.backend, ring: this.config.io.rx === 'ring' },
      );
    } catch (err) {
      throw new DaemonError((err as Error).message);
    }
    this.startUndo.push('the packet sockets', () => this.closePorts());
    this.portRx = new Float64Array(this.ports.length);
    this.portTx = new Float64Array(this.ports.length);
    this.drainScheduled = new Uint8Array(this.ports.length);
    this.links = this.ports.map((p) => ({
      serving: true,
      seen: 'up',
      ifindex: p.ifindex,
      seenIfindex: p.ifindex,
      deviceMac: p.mac,
      carrierChanges: readLinkState(p.ifname)?.carrierChanges ?? -1,
      reopening: false,
      lastOpenError: '',
      txDroppedBefore: 0,
      txDroppedQueueFullBefore: 0,
    }));
    this.linksFromSysfs = this.ports.every((p) => linkStateAgrees(p.ifname, p.ifindex));
    if (!this.linksFromSysfs) {
      this.log.warn(
        { sysfs: '/sys/class/net' },
        "/sys/class/net does not show this process's network namespace (run uvs with `ip netns exec`, which mounts the namespace's own): an interface that goes down is seen only by its socket's error, and its port is re-opened blindly",
      );
    }
    this.datapath = new Datapath(this.config, this.core, { ifindexes: this.ports.map((p) => p.ifindex) });
    this.datapath.neigh.onOverflow = (overflow, message) => this.log.warn({ neighbours: overflow }, message);
    this.disableMisfits();

    // Tracing is a learner's aid: without its socket the director still serves.
    try {
      this.trace = await TraceServer.start({
        socketPath: traceSocketPath(this.config.control),
        datapath: this.datapath,
      });
      this.startUndo.push('the trace socket', () => this.trace?.close());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'trace socket not available; uvs trace cannot attach');
    }

    this.metrics = new MetricsExposition({
      counters: () => this.counters(),
      rules: () => this.core.rules.snapshot,
      readStats: (stats, out) => this.statsBook.read(stats, out),
      neighbours: () => this.datapath.neigh,
      controlRequests: () => this.control?.requests ?? {},
    });
    if (this.config.metrics) {
      this.metricsServer = await startMetricsEndpoint(this.config.metrics, this.metrics, this.log);
      this.startUndo.push('the metrics endpoint', () => this.metricsServer?.close());
    }

    this.startedAt = performance.now();
    this.tx.count = 0;
    this.datapath.announce(this.tx);
    this.flush(0);
    for (let i = 0; i < this.ports.length; i++) this.watchPort(i);
    this.housekeeping = setInterval(() => this.tick(), HOUSEKEEPING_MS);
    this.startUndo.push('housekeeping', () => clearInterval(this.housekeeping));
    this.log.info(
      { interfaces: this.ports.map((p) => p.ifname), control: this.config.control, io: this.config.io },
      'uvs daemon running',
    );
  }

  private watchPort(portIndex: number): void {
    this.ports[portIndex]!.onReadable((status) => this.drain(portIndex, status), this.config.io.wake);
  }

  private drain(portIndex: number, status = 0): void {
    if (status < 0) {
      // libuv stops a poll on POLLERR and reports it as EBADF: the socket has an error pending.
      this.portFailed(portIndex, status === -9 ? 'POLLERR' : errnoName(status));
      return;
    }
    const port = this.ports[portIndex]!;
    const rx = this.rx;
    const tx = this.tx;
    for (let k = 0; k < MAX_DRAINS_PER_WAKE; k++) {
      const n = port.recv(rx);
      if (n <= 0) {
        if (n < 0) this.portFailed(portIndex, errnoName(n));
        return;
      }
      this.portRx[portIndex]! += n;
      tx.count = 0;
      this.datapath.processBatch(rx, tx, performance.now());
      this.flush(portIndex);
    }
    // Yielding with frames left: a poll wake-up comes again only while the socket is readable, but frames
    // can also wait in the port itself (segments of a GSO super-frame, a ring block handed out partway).
    if (this.drainScheduled[portIndex] === 0) {
      this.drainScheduled[portIndex] = 1;
      setImmediate(() => {
        this.drainScheduled[portIndex] = 0;
        if (!this.stopping) this.drain(portIndex);
      });
    }
  }

  private flush(portIndex: number): void {
    if (this.tx.count === 0) return;
    const sent = this.ports[portIndex]!.send(this.tx, this.tx.count);
    if (sent > 0) this.portTx[portIndex]! += sent;
    this.tx.count = 0;
  }

  /** What `uvs counters` prints: the datapath's counters and drops, the ports', the connection table's. */
  counters(): CountersReport {
    return countersReport({
      datapath: this.datapath,
      conns: this.core.conns,
      ports: this.ports.map((p, i) => ({
        ifname: p.ifname,
        rx: this.portRx[i]!,
        tx: this.portTx[i]!,
        txDropped: p.txDropped + (this.links[i]?.txDroppedBefore ?? 0),
        txDroppedQueueFull: (p.txDroppedQueueFull ?? 0) + (this.links[i]?.txDroppedQueueFullBefore ?? 0),
      })),
      uptimeSeconds: (performance.now() - this.startedAt) / 1000,
      disabledRules: this.datapath.checkRules().disabled,
    });
  }

  /** Idle-time work: expiry sweep, neighbour retries and queued packets, rate estimation. */
  private tick(): void {
    const now = performance.now();
    // A quarter of the table per tick sweeps it whole every second.
    this.core.sweep(now, Math.ceil(this.core.conns.capacity / 4));
    this.rx.count = 0;
    this.tx.count = 0;
    this.datapath.processBatch(this.rx, this.tx, now);
    // Any serving port sends out of any interface. With none serving, a closed port still takes the frames
    // and counts them as dropped, so `uvs counters` adds up.
    const out = this.links.findIndex((l) => l.serving);
    if (this.ports.length > 0) this.flush(Math.max(out, 0));
    this.tx.count = 0;
    this.estimators.tick(now);
    this.watchLinks();
    // Here, on the packet loop's own event loop: a stuck loop stops the pings and systemd restarts uvs.
    this.systemd?.tick(now);
  }

  // Link monitoring. An interface can go down and up, or be deleted and made again under the same name (a
  // new ifindex), while uvs runs; the other interfaces must keep serving, and that one must serve again
  // within a second of being back. Two signals, as neither alone is enough:
  // - The port's own error. A packet socket gets ENETDOWN the moment its interface goes down or away; that
  //   also stops its poll watcher (libuv stops a uv_poll_t on POLLERR), and a ring socket's error is never
  //   cleared by a read. So the port is taken out of service at once (portFailed()), even for a down and up
  //   quicker than a tick.
  // - /sys/class/net/IF/ifindex, carrier and carrier_changes (src/io/link-state.ts), read on the
  //   housekeeping timer: a few small reads per interface every 250 ms, no dependency. They say when the
  //   link is up again, and they are the only sign of what raises no socket error: an AF_XDP socket on a
  //   link that goes down (or down and up between two looks: a higher carrier count), a ring socket in busy
  //   mode, a new device under the old name. rtnetlink would say the same without polling,
  //   but Node cannot open a netlink socket without native code or a dependency, and a quarter of a second
  //   is well inside what an operator notices.
  // What changes: a port whose socket failed, or whose interface was deleted or replaced, is closed, and
  // opened anew once an interface of its name is up (on the new device, with GRO/LRO off again and the
  // datapath's egress and MAC following it). A port that raised no error stays open across a down and up of
  // the same device (the kernel re-attaches a packet socket, and an AF_XDP socket and its program stay
  // bound); re-opening it there would also loop on NICs whose link resets when an XDP program is attached.
  // Either way, the neighbours learned on a link that went down are forgotten, and a link back in service
  // gets a gratuitous ARP for its addresses, as the kernel does.

  /** The housekeeping timer's look at every interface's link (see "Link monitoring" above). */
  private watchLinks(): void {
    if (this.stopping) return;
    for (let i = 0; i < this.links.length; i++) {
      const watch = this.links[i]!;
      const name = this.ports[i]!.ifname;
      // Without a sysfs for this namespace, take the link for up: a closed port is re-opened on every tick
      // until that works.
      const link: LinkState | null = this.linksFromSysfs
        ? readLinkState(name)
        : { ifindex: watch.ifindex, operstate: 'unknown', up: true, carrierChanges: -1 };
      const seen: LinkSeen = link === null ? 'deleted' : link.up ? 'up' : 'down';
      const newDevice = link !== null && link.ifindex !== watch.ifindex;
      // Down and up again between two looks, unseen by the port (an AF_XDP socket raises no error).
      const flapped =
        link !== null &&
        !newDevice &&
        watch.seen === 'up' &&
        seen === 'up' &&
        watch.carrierChanges >= 0 &&
        link.carrierChanges > watch.carrierChanges;
      if (link !== null) watch.carrierChanges = link.carrierChanges;
      const lastSeenIfindex = watch.seenIfindex;
      watch.seenIfindex = link?.ifindex ?? -1;
      if (flapped) {
        this.log.warn(
          { interface: name, link: 'down', carrierChanges: link.carrierChanges },
          `link down: ${name} went down and up again since the last look`,
        );
      } else if (link !== null && lastSeenIfindex > 0 && link.ifindex !== lastSeenIfindex) {
        this.log.warn(
          { interface: name, link: 'deleted', ifindex: lastSeenIfindex, newIfindex: link.ifindex },
          `link deleted: ${name} was deleted and made again (ifindex ${lastSeenIfindex} is now ${link.ifindex}); uvs moves to the new device when it is up`,
        );
      } else if (seen === 'deleted' && watch.seen !== 'deleted') {
        this.log.warn(
          { interface: name, link: 'deleted', ifindex: watch.ifindex },
          `link deleted: ${name} is gone; uvs serves it again when an interface of that name is up, and the other interfaces keep serving`,
        );
      } else if (seen === 'down' && watch.seen === 'up') {
        this.log.warn(
          { interface: name, link: 'down', operstate: link?.operstate },
          `link down: ${name} carries nothing until it is up again; the other interfaces keep serving`,
        );
      }
      const wasUp = watch.seen === 'up' && !flapped && !newDevice;
      watch.seen = seen;
      if ((wasUp && seen !== 'up') || flapped) this.datapath.linkDown(i);
      if (watch.serving && (seen === 'deleted' || newDevice)) this.takeOutOfService(i);
      if (seen !== 'up') continue;
      if (!watch.serving) void this.returnToService(i, newDevice);
      else if (!wasUp) this.servingAgain(i, false);
    }
  }

  /** A receive or a poll on port `portIndex` failed: its link went down or away (see "Link monitoring"). */
  private portFailed(portIndex: number, error: string): void {
    const watch = this.links[portIndex];
    if (watch === undefined || !watch.serving || this.stopping) return;
    const name = this.ports[portIndex]!.ifname;
    this.log.warn(
      { interface: name, link: 'down', error },
      `link down or gone: the port of ${name} failed (${error}); out of service until it is up again, the other interfaces keep serving`,
    );
    if (watch.seen === 'up') watch.seen = 'down';
    this.takeOutOfService(portIndex);
  }

  /** Closes port `portIndex` and forgets the neighbours learned on it; the slot keeps the closed port. */
  private takeOutOfService(portIndex: number): void {
    const watch = this.links[portIndex]!;
    const port = this.ports[portIndex]!;
    watch.serving = false;
    watch.lastOpenError = '';
    try {
      port.stopReadable();
      port.close();
    } catch (err) {
      this.log.warn({ interface: port.ifname }, `closing the port of ${port.ifname}: ${(err as Error).message}`);
    }
    this.datapath.linkDown(portIndex);
  }

  /**
   * Port `portIndex` (re-opened, or kept open across a down and up) serves its link again: the datapath
   * follows its device and announces its addresses there.
   */
  private servingAgain(portIndex: number, newDevice: boolean): void {
    const watch = this.links[portIndex]!;
    const port = this.ports[portIndex]!;
    // The datapath keeps a MAC the config gave explicitly; one read from the device follows the device.
    const configMac = this.config.interfaces[portIndex]!.mac;
    const mac = configMac === watch.deviceMac ? port.mac : configMac;
    watch.ifindex = port.ifindex;
    watch.deviceMac = port.mac;
    watch.serving = true;
    watch.seen = 'up';
    watch.lastOpenError = '';
    this.tx.count = 0;
    this.datapath.linkUp(portIndex, port.ifindex, mac, this.tx);
    this.flush(portIndex);
    this.log.info(
      { interface: port.ifname, link: 'up', ifindex: port.ifindex, newDevice },
      `link up: ${port.ifname} serving again${newDevice ? ' on the new device' : ''}`,
    );
  }

  /** Opens port `portIndex` anew on its interface, which is up; on failure logs why and tries on the next tick. */
  private async returnToService(portIndex: number, newDevice: boolean): Promise<void> {
    const watch = this.links[portIndex]!;
    if (watch.reopening) return;
    watch.reopening = true;
    const name = this.ports[portIndex]!.ifname;
    try {
      const [port] = await openPorts([name], {
        backend: this.config.io.backend,
        ring: this.config.io.rx === 'ring',
      });
      if (this.stopping) {
        port!.close();
        return;
      }
      // A new device starts with the driver's offloads, and restoring at stop is about the one uvs changed.
      // Once per re-open, not per attempt: an interface whose offloads cannot be read would log every tick.
      if (newDevice) this.coalescingTurnedOff.delete(name);
      this.stopReceiveCoalescing([name]);
      const old = this.ports[portIndex]!;
      watch.txDroppedBefore += old.txDropped;
      watch.txDroppedQueueFullBefore += old.txDroppedQueueFull ?? 0;
      this.ports[portIndex] = port!;
      this.servingAgain(portIndex, newDevice);
      this.watchPort(portIndex);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== watch.lastOpenError) {
        watch.lastOpenError = message;
        this.log.warn(
          { interface: name },
          `cannot re-open ${name} although its link is up: ${message}; trying again every ${HOUSEKEEPING_MS} ms`,
        );
      }
    } finally {
      watch.reopening = false;
    }
  }

  /**
   * Writes the rules a change will make to the state file, atomically, before the change is applied (uvsadm's
   * through executeCommand(), SIGHUP's in reloadNow()): a change that cannot be saved is never live.
   */
  private saveState(next: RulesSnapshot): Promise<void> {
    return writeFileAtomic(this.config.state, stateText(next));
  }

  /** After a change was saved and applied. */
  private rulesChanged(): void {
    this.statsBook.sync(this.core.rules.snapshot);
    const snapshot = this.core.rules.snapshot;
    this.logDisabled(snapshot);
    this.log.info({ generation: snapshot.generation, state: this.config.state }, 'rules changed');
  }

  /**
   * Rules that cannot work on this director (a VIP no interface owns, a real server it cannot reach) get in
   * only from the state or rules file, saved under an older config: uvsadm refuses them. They must not keep
   * the director down, so they stay in the rules (listed, saved by -S) but get no traffic: the datapath does
   * not serve such a VIP, and the schedulers pass over such a destination, as over one of weight 0.
   */
  private disableMisfits(): void {
    const datapath = this.datapath;
    this.core.rules.setUnschedulable((dest) => datapath.destMisfit(dest.addr, dest.fwd) !== null);
    this.logDisabled(this.core.rules.snapshot);
  }

  /** Logs each rule that is disabled now and was not at the last call. */
  private logDisabled(snapshot: RulesSnapshot): void {
    const now = new Set<string>();
    for (const { rule, reason } of this.datapath.checkRules(snapshot).disabled) {
      now.add(rule);
      if (!this.disabledLogged.has(rule)) {
        this.log.warn({ rule, reason }, `${rule}: disabled, it gets no traffic: ${reason}`);
      }
    }
    this.disabledLogged = now;
  }

  /** SIGHUP: applies the rules file as a diff against the running rules; on an error nothing changes. */
  async reload(): Promise<void> {
    // In the control socket's queue: a reload and a uvsadm change never interleave (ControlServer.exclusive).
    await (this.control === undefined ? this.reloadNow() : this.control.exclusive(() => this.reloadNow()));
  }

  private async reloadNow(): Promise<void> {
    if (this.rulesPath === null) {
      this.log.warn('SIGHUP: no rules file to reload (give --rules or rules: in the config)');
      return;
    }
    try {
      const inFile = readRules(this.rulesPath);
      // An empty file is far more often a mistake (a truncated copy, an editor's crash) than a wish to remove
      // every service, so it takes the config's consent.
      if (inFile.length === 0 && (this.config.reload?.empty ?? 'refuse') === 'refuse') {
        this.log.warn(
          { rules: this.rulesPath, fix: 'to let an empty rules file remove every service: reload: { empty: clear }' },
          'SIGHUP reload refused: the rules file holds no commands; the running rules are unchanged',
        );
        return;
      }
      const target = snapshotOf(inFile);
      const commands = diffRules(this.core.rules.snapshot, target).map((command) => ({ command }));
      await this.saveState(rulesAfter(this.core.rules.snapshot, commands));
      this.core.applyRules(commands);
      this.rulesChanged();
      this.log.info({ rules: this.rulesPath, changes: commands.length }, 'rules reloaded');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'SIGHUP reload refused; the running rules are unchanged');
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.systemd?.stopping('stopping: turning GRO/LRO back on, closing the sockets');
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.closePorts();
    await this.control?.close();
    await this.trace?.close();
    await this.metricsServer?.close();
    this.interfaceLock?.release();
    this.log.info('uvs daemon stopped');
    await this.flushLog();
  }

  /** Gives the log reader a moment to take the last lines (stop, start failures, a fatal error); never blocks. */
  flushLog(timeoutMs = LOG_FLUSH_MS): Promise<void> {
    return this.daemonLog.flush(timeoutMs);
  }

  private closePorts(): void {
    for (const port of this.ports) {
      port.stopReadable();
      port.close();
    }
    this.ports = [];
    this.restoreReceiveCoalescing();
  }

  /** Turns back on what stopReceiveCoalescing() turned off, so a stopped uvs leaves the interfaces as it found them. */
  private restoreReceiveCoalescing(): void {
    for (const [name, features] of this.coalescingTurnedOff) {
      try {
        setOffloads(null, name, Object.fromEntries(features.map((f) => [f, true])));
      } catch (err) {
        this.log.warn(
          { interface: name, fix: `ethtool -K ${name} ${features.map((f) => `${f} on`).join(' ')}` },
          `could not turn ${features.join('/')} back on: ${(err as Error).message}`,
        );
      }
    }
    this.coalescingTurnedOff.clear();
    try {
      this.saveOffloadRecord();
    } catch (err) {
      this.log.warn(
        { record: offloadRecordPath(this.config.control) },
        `could not remove the offload record: ${(err as Error).message}`,
      );
    }
  }
}
