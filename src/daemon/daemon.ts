// `uvs daemon`: reads the director config and the rules, checks the host, opens the datapath interfaces and
// runs frames through the datapath until SIGTERM. SIGHUP reloads the rules file without touching what did not
// change (src/model/diff.ts), so established connections survive. uvsadm talks to it over the control socket,
// and `uvs counters` asks there for the datapath's counters.
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { type DirectorConfig, loadConfig } from '../config/director.js';
import { type CountersReport, countersReport } from '../control/counters.js';
import { executeCommand } from '../control/handler.js';
import { PersistedRules } from '../control/persisted-rules.js';
import { ControlServer } from '../control/server.js';
import { prepareStateDirectory, StateFileError, writeFileAtomic } from '../control/state-file.js';
import { StatsBook } from '../control/stats-book.js';
import { Datapath } from '../datapath/datapath.js';
import { FrameBatch } from '../io/batch.js';
import { setOffloads, stopReceiveCoalescing } from '../io/offloads.js';
import { openPorts } from '../io/open.js';
import type { PacketPort } from '../io/port.js';
import { IpvsCore } from '../ipvs/core.js';
import { EstimatorSet } from '../ipvs/estimator.js';
import { diffRules, snapshotOf } from '../model/diff.js';
import { RulesError } from '../model/errors.js';
import { DEFAULT_TIMEOUTS, type NumberedCommand, type RulesSnapshot } from '../model/rules.js';
import { formatRules, parseRules } from '../model/save-format.js';
import { TraceServer, traceSocketPath } from '../trace/server.js';
import { createDaemonLog, type DaemonLog } from './logger.js';
import { formatProblems, preflight } from './preflight.js';

/** How often idle housekeeping runs: connection expiry, neighbour retries, rate estimation (ms). */
const HOUSEKEEPING_MS = 250;
/** Receive calls per readiness callback before yielding to the event loop (timers, control socket). */
const MAX_DRAINS_PER_WAKE = 64;
/** How long stop waits for the log reader to take the last lines. */
const LOG_FLUSH_MS = 1_000;

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
  readonly core: IpvsCore;
  readonly log: Logger;
  /** Where `log` writes: bounded, so a stalled log reader never stalls forwarding (./logger.ts). */
  private readonly daemonLog: DaemonLog;
  private datapath!: Datapath;
  private ports: PacketPort[] = [];
  private control: ControlServer | undefined;
  /** `uvs trace` clients; the datapath is traced only while one is connected. */
  private trace: TraceServer | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private readonly estimators: EstimatorSet;
  private readonly statsBook: StatsBook;
  /** The running rules kept in step with the state file: a change that cannot be saved is undone. */
  private readonly persisted: PersistedRules;
  private readonly rulesPath: string | null;
  private readonly rx: FrameBatch;
  private readonly tx: FrameBatch;
  /** Frames received and sent per port (by position in `ports`), for `uvs counters`; PacketPort counts neither. */
  private portRx = new Float64Array(0);
  private portTx = new Float64Array(0);
  /** 1 while a drain of that port is queued with setImmediate (a wake-up that ran out of its budget). */
  private drainScheduled = new Uint8Array(0);
  /** What stopReceiveCoalescing() turned off, per interface, to turn back on at stop. */
  private readonly coalescingTurnedOff = new Map<string, ('gro' | 'lro')[]>();
  private startedAt = performance.now();
  private stopping = false;

  constructor(options: DaemonOptions) {
    this.daemonLog = createDaemonLog({ level: options.logLevel ?? 'info' });
    this.log = this.daemonLog.log;
    this.config = loadConfig(options.configPath);
    this.rulesPath = options.rulesPath ?? this.config.rules;
    this.core = new IpvsCore({ connCapacity: this.config.conn.capacity, ticksPerSecond: 1000 });
    this.core.defense.onChange = (change, message) =>
      change.short ? this.log.warn({ defense: change }, message) : this.log.info({ defense: change }, message);
    this.estimators = new EstimatorSet(performance.now());
    this.statsBook = new StatsBook(this.estimators);
    this.persisted = new PersistedRules(this.core, stateText, (text) => writeFileAtomic(this.config.state, text));
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
  private stopReceiveCoalescing(): void {
    if (this.config.io.gro !== 'off' || this.config.io.backend === 'afxdp') return;
    for (const { name } of this.config.interfaces) {
      try {
        const changed = stopReceiveCoalescing(name);
        if (changed.length > 0) {
          this.coalescingTurnedOff.set(name, changed);
          this.log.info(
            { interface: name, turnedOff: changed },
            'receive coalescing off until uvs stops: uvs forwards frame for frame and would only cut merged frames up again (io.gro: keep leaves it)',
          );
        }
      } catch (err) {
        this.log.warn(
          { interface: name, fix: `ethtool -K ${name} gro off lro off` },
          `could not check GRO/LRO: ${(err as Error).message}`,
        );
      }
    }
  }

  /** Checks the host, loads the rules, opens the interfaces and starts serving. Throws DaemonError on a problem. */
  async start(): Promise<void> {
    const problems = preflight(
      this.config.interfaces.map((i) => ({
        name: i.name,
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
    this.persisted.markSaved();
    // Estimators start with their services and destinations, as ip_vs_start_estimator() does, so that
    // --stats counts from creation.
    this.statsBook.sync(this.core.rules.snapshot);

    this.stopReceiveCoalescing();
    try {
      this.ports = await openPorts(
        this.config.interfaces.map((i) => i.name),
        { backend: this.config.io.backend, ring: this.config.io.rx === 'ring' },
      );
    } catch (err) {
      this.restoreReceiveCoalescing();
      throw new DaemonError((err as Error).message);
    }
    this.portRx = new Float64Array(this.ports.length);
    this.portTx = new Float64Array(this.ports.length);
    this.drainScheduled = new Uint8Array(this.ports.length);
    this.datapath = new Datapath(this.config, this.core, { ifindexes: this.ports.map((p) => p.ifindex) });
    const check = this.datapath.checkRules();
    for (const w of check.warnings) this.log.warn(w);
    if (check.errors.length > 0) {
      this.closePorts();
      throw new DaemonError(`the rules do not fit this director:\n${check.errors.join('\n')}`);
    }

    this.control = await ControlServer.start({
      socketPath: this.config.control,
      handler: async (request) =>
        executeCommand(this.core, request.argv, request.stdin, { now: () => performance.now(), stats: this.statsBook }),
      queryHandler: async () => ({ stdout: `${JSON.stringify(this.counters())}\n`, stderr: '', exitCode: 0 }),
      onRulesChanged: () => this.rulesChanged(),
      onError: (err) => this.log.error({ err }, 'control request failed'),
      onClientDropped: (reason) => this.log.warn(reason),
    });
    // Tracing is a learner's aid: without its socket the director still serves.
    try {
      this.trace = await TraceServer.start({
        socketPath: traceSocketPath(this.config.control),
        datapath: this.datapath,
      });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'trace socket not available; uvs trace cannot attach');
    }

    this.startedAt = performance.now();
    this.tx.count = 0;
    this.datapath.announce(this.tx);
    this.flush(0);
    for (let i = 0; i < this.ports.length; i++) {
      this.ports[i]!.onReadable(() => this.drain(i), this.config.io.wake);
    }
    this.housekeeping = setInterval(() => this.tick(), HOUSEKEEPING_MS);
    this.log.info(
      { interfaces: this.ports.map((p) => p.ifname), control: this.config.control, io: this.config.io },
      'uvs daemon running',
    );
  }

  private drain(portIndex: number): void {
    const port = this.ports[portIndex]!;
    const rx = this.rx;
    const tx = this.tx;
    for (let k = 0; k < MAX_DRAINS_PER_WAKE; k++) {
      const n = port.recv(rx);
      if (n <= 0) return;
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
        txDropped: p.txDropped,
      })),
      uptimeSeconds: (performance.now() - this.startedAt) / 1000,
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
    this.flush(0);
    this.estimators.tick(now);
  }

  /** Saves a change to the state file, or undoes it when it cannot be saved (and throws why). */
  private async rulesChanged(): Promise<void> {
    try {
      await this.persisted.commit();
    } finally {
      this.statsBook.sync(this.core.rules.snapshot);
    }
    const snapshot = this.core.rules.snapshot;
    for (const e of this.datapath.checkRules(snapshot).errors) this.log.warn(e);
    this.log.info({ generation: snapshot.generation, state: this.config.state }, 'rules changed');
  }

  /** SIGHUP: applies the rules file as a diff against the running rules; on an error nothing changes. */
  async reload(): Promise<void> {
    if (this.rulesPath === null) {
      this.log.warn('SIGHUP: no rules file to reload (give --rules or rules: in the config)');
      return;
    }
    try {
      const target = snapshotOf(readRules(this.rulesPath));
      const commands = diffRules(this.core.rules.snapshot, target);
      this.core.applyRules(commands.map((command) => ({ command })));
      await this.rulesChanged();
      this.log.info({ rules: this.rulesPath, changes: commands.length }, 'rules reloaded');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'SIGHUP reload refused; the running rules are unchanged');
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.closePorts();
    await this.control?.close();
    await this.trace?.close();
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
  }
}
