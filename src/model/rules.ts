// The control plane's rules model: virtual services and their destinations, changed by ipvsadm-like commands
// and published as immutable snapshots that the datapath reads.
//
// A batch of commands is all-or-nothing. It runs twice over a working copy: a dry run that only checks
// (creates no destination, moves no counter, calls no scheduler), then, if every command passed, a live run
// of the same commands that creates destinations, edits the shared Dest objects and calls scheduler.update()
// after each change, exactly as the kernel's add_dest/upd_dest/del_dest hooks would be called one command at
// a time. The live run cannot fail, because it repeats checks that already passed on the same state.
import { IpProto } from '../constants.js';
import { type Dest, type DestRegistry, Fwd, type FwdMethod } from '../dest/dest.js';
import { Stats } from '../dest/stats.js';
import { createScheduler } from '../sched/index.js';
import type { Scheduler } from '../sched/types.js';
import { ipv4ToString } from '../wire/addr.js';
import { kernelError, RulesError, RulesErrorCode } from './errors.js';
import { ServiceTable } from './service-table.js';

/** ipvsadm's defaults (ipvsadm.c process_options(), libipvs.h). */
export const DEFAULT_SCHEDULER = 'wlc';
export const DEFAULT_WEIGHT = 1;
/** IPVS_SVC_PERSISTENT_TIMEOUT: a bare `-p` (the man page's 300 is wrong). */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
export const DEFAULT_NETMASK = 0xffffffff;
/** `-p N` accepts 1..31 days (MAX_TIMEOUT). */
export const MAX_TIMEOUT = 86400 * 31;
/** Default connection timeouts in seconds (ip_vs_proto_tcp.c ESTABLISHED, FIN_WAIT; ip_vs_proto_udp.c). */
export const DEFAULT_TIMEOUTS: Timeouts = Object.freeze({ tcp: 900, tcpFin: 120, udp: 300 });

export interface Timeouts {
  readonly tcp: number;
  readonly tcpFin: number;
  readonly udp: number;
}

/** A virtual service's identity. uvs serves TCP and UDP over IPv4 (no SCTP, no firewall marks yet). */
export interface ServiceId {
  /** IpProto.tcp or IpProto.udp. */
  readonly proto: number;
  /** VIP, IPv4 host order. */
  readonly addr: number;
  readonly port: number;
}

export interface ServiceConfig {
  readonly sched: string;
  /** IP_VS_SVC_F_SCHED1..3 bits (SchedFlag). */
  readonly schedFlags: number;
  /** Persistence timeout in seconds; 0 = not persistent. */
  readonly timeout: number;
  /** Persistence granularity mask, IPv4 host order (-M). */
  readonly netmask: number;
  /** One-packet scheduling (-o), UDP only. */
  readonly onePacket: boolean;
}

export interface DestConfig {
  /** Real server address, IPv4 host order. */
  readonly addr: number;
  readonly port: number;
  readonly fwd: FwdMethod;
  /** 0..65535. */
  readonly weight: number;
  /** -x, 0 = none. */
  readonly uThreshold: number;
  /** -y, 0 = none. */
  readonly lThreshold: number;
}

/** A rule change, as ipvsadm's commands express it (after its defaults are filled in). */
export type RuleCommand =
  | ({ readonly kind: 'add-service' | 'edit-service'; readonly svc: ServiceId } & ServiceConfig)
  | { readonly kind: 'delete-service'; readonly svc: ServiceId }
  | { readonly kind: 'clear' }
  | ({ readonly kind: 'add-dest' | 'edit-dest'; readonly svc: ServiceId } & DestConfig)
  | { readonly kind: 'delete-dest'; readonly svc: ServiceId; readonly addr: number; readonly port: number }
  /** `--set tcp tcpfin udp`; 0 leaves a value unchanged (ip_vs_set_timeout()). */
  | ({ readonly kind: 'set-timeouts' } & Timeouts);

/** A command with the line of the file or batch it came from, for error messages (default: its index + 1). */
export interface NumberedCommand {
  readonly line?: number;
  readonly command: RuleCommand;
}

const PROTO_SLOTS: readonly number[] = [IpProto.tcp, IpProto.udp];

/** A number identifying (proto, addr, port), for the control plane's maps (exact: < 2^51). */
function serviceKey(proto: number, addr: number, port: number): number {
  return (PROTO_SLOTS.indexOf(proto) * 0x100000000 + addr) * 0x10000 + port;
}

export function protoName(proto: number): string {
  return proto === IpProto.tcp ? 'TCP' : proto === IpProto.udp ? 'UDP' : proto === IpProto.sctp ? 'SCTP' : '?';
}

/** A virtual service in a snapshot. Frozen; its Dest objects are the shared, counting ones. */
export class Service implements ServiceId, ServiceConfig {
  readonly proto: number;
  readonly addr: number;
  readonly port: number;
  readonly sched: string;
  readonly schedFlags: number;
  readonly timeout: number;
  readonly netmask: number;
  readonly onePacket: boolean;
  readonly scheduler: Scheduler;
  /** Kernel order: newest first (list_add_rcu at the head in __ip_vs_update_dest()). */
  readonly dests: readonly Dest[];
  /**
   * Removed destinations the connection layer has not released yet (the kernel's dest trash). Adding the same
   * address and port again brings the same Dest back, as ip_vs_trash_get_dest() does.
   */
  readonly trash: readonly Dest[];
  readonly stats: Stats;

  constructor(w: WorkService) {
    this.proto = w.proto;
    this.addr = w.addr;
    this.port = w.port;
    this.sched = w.config.sched;
    this.schedFlags = w.config.schedFlags;
    this.timeout = w.config.timeout;
    this.netmask = w.config.netmask;
    this.onePacket = w.config.onePacket;
    this.scheduler = w.scheduler!;
    this.dests = Object.freeze(w.dests.map((e) => e.dest!));
    this.trash = Object.freeze([...w.trash]);
    this.stats = w.stats;
    Object.freeze(this);
  }

  get persistent(): boolean {
    return this.timeout !== 0;
  }
}

/** One published state of the rules: frozen, never changed after it is built. */
export class RulesSnapshot {
  /** Services in the order they were added. */
  readonly services: readonly Service[];
  readonly timeouts: Timeouts;
  /** Increases by one with every published change. */
  readonly generation: number;
  private readonly table: ServiceTable<Service>;
  private readonly byKey: ReadonlyMap<number, Service>;

  constructor(services: readonly Service[], timeouts: Timeouts, generation: number) {
    this.services = Object.freeze([...services]);
    this.timeouts = Object.freeze({ ...timeouts });
    this.generation = generation;
    this.table = new ServiceTable(services.map((s) => ({ proto: s.proto, addr: s.addr, port: s.port, value: s })));
    this.byKey = new Map(services.map((s) => [serviceKey(s.proto, s.addr, s.port), s]));
    Object.freeze(this);
  }

  /** Datapath lookup of the service a packet is for; allocates nothing. */
  lookup(proto: number, vip: number, vport: number): Service | undefined {
    return this.table.lookup(proto, vip, vport);
  }

  /** Control-plane lookup. */
  find(svc: ServiceId): Service | undefined {
    return this.byKey.get(serviceKey(svc.proto, svc.addr, svc.port));
  }
}

export interface ApplyResult {
  readonly snapshot: RulesSnapshot;
  /**
   * Destinations removed by the batch, already marked unavailable. The caller (the connection layer)
   * releases each from the DestRegistry once no connection refers to it.
   */
  readonly removed: readonly Dest[];
}

/** True for a destination the schedulers must pass over (RulesModel.setUnschedulable()). */
export type DestFilter = (dest: Dest) => boolean;

/** Creates a scheduler instance, or undefined for an unknown name (src/sched/index.ts createScheduler). */
export type SchedulerFactory = (name: string, flags: number) => Scheduler | undefined;

interface WorkDest {
  readonly addr: number;
  readonly port: number;
  /** The live object; null for a destination added by the dry run. */
  dest: Dest | null;
}

interface WorkService {
  readonly proto: number;
  readonly addr: number;
  readonly port: number;
  config: ServiceConfig;
  /** null only in the dry run, for a service it created. */
  scheduler: Scheduler | null;
  readonly stats: Stats;
  dests: WorkDest[];
  trash: Dest[];
  /** The snapshot's object while nothing changed, so unchanged services are shared between snapshots. */
  published: Service | undefined;
}

/** Whether two service configurations are the same (the scheduler instance survives an -E that changes nothing). */
export function sameServiceConfig(a: ServiceConfig, b: ServiceConfig): boolean {
  return (
    a.sched === b.sched &&
    a.schedFlags === b.schedFlags &&
    a.timeout === b.timeout &&
    a.netmask === b.netmask &&
    a.onePacket === b.onePacket
  );
}

export function describeService(svc: ServiceId): string {
  return `${protoName(svc.proto)} ${ipv4ToString(svc.addr)}:${svc.port}`;
}

export class RulesModel {
  private current: RulesSnapshot;
  private readonly registry: DestRegistry;
  private readonly schedulers: SchedulerFactory;
  private unschedulable: DestFilter | null = null;

  constructor(registry: DestRegistry, schedulers: SchedulerFactory = createScheduler) {
    this.registry = registry;
    this.schedulers = schedulers;
    this.current = new RulesSnapshot([], DEFAULT_TIMEOUTS, 0);
  }

  get snapshot(): RulesSnapshot {
    return this.current;
  }

  /**
   * Keeps the destinations `test` picks out of scheduling, now and after every later change, while they stay
   * in the rules (listed, saved, edited as usual): the daemon gives real servers it cannot reach no traffic.
   * A service whose destinations are all picked answers as one whose weights are all 0.
   */
  setUnschedulable(test: DestFilter | null): void {
    this.unschedulable = test;
    for (const svc of this.current.services) svc.scheduler.update(schedulable(svc.dests, test));
  }

  /** Applies one command; on error nothing changes. */
  apply(command: RuleCommand): ApplyResult {
    return this.commit([{ command }], false);
  }

  /** Applies a batch all-or-nothing; the first failing command's error names its line. */
  applyBatch(commands: readonly NumberedCommand[]): ApplyResult {
    return this.commit(commands, true);
  }

  private commit(commands: readonly NumberedCommand[], numbered: boolean): ApplyResult {
    new Transaction(this.current, this.registry, this.schedulers, false, this.unschedulable).runAll(commands, numbered);
    const live = new Transaction(this.current, this.registry, this.schedulers, true, this.unschedulable);
    live.runAll(commands, numbered);
    const result = live.publish(this.current.generation + 1);
    this.current = result.snapshot;
    return result;
  }
}

class Transaction {
  private readonly services = new Map<number, WorkService>();
  private timeouts: Timeouts;
  /** Dests this run marked unavailable (they may come back from the trash later in the batch). */
  private readonly unlinked = new Set<Dest>();

  constructor(
    base: RulesSnapshot,
    private readonly registry: DestRegistry,
    private readonly schedulers: SchedulerFactory,
    private readonly live: boolean,
    private readonly unschedulable: DestFilter | null,
  ) {
    this.timeouts = base.timeouts;
    for (const s of base.services) {
      // Forget trash entries the connection layer has released: they can no longer come back.
      const trash = s.trash.filter((d) => registry.get(d.id) === d);
      this.services.set(serviceKey(s.proto, s.addr, s.port), {
        proto: s.proto,
        addr: s.addr,
        port: s.port,
        config: s,
        scheduler: s.scheduler,
        stats: s.stats,
        dests: s.dests.map((d) => ({ addr: d.addr, port: d.port, dest: d })),
        trash,
        published: trash.length === s.trash.length ? s : undefined,
      });
    }
  }

  runAll(commands: readonly NumberedCommand[], numbered: boolean): void {
    commands.forEach(({ line, command }, index) => {
      try {
        this.run(command);
      } catch (err) {
        if (numbered && err instanceof RulesError) throw err.atLine(line ?? index + 1);
        throw err;
      }
    });
  }

  publish(generation: number): ApplyResult {
    const services: Service[] = [];
    for (const w of this.services.values()) {
      if (w.published === undefined) w.published = new Service(w);
      services.push(w.published);
    }
    const removed = [...this.unlinked].filter((d) => !d.available);
    return { snapshot: new RulesSnapshot(services, this.timeouts, generation), removed };
  }

  private run(c: RuleCommand): void {
    switch (c.kind) {
      case 'add-service':
      case 'edit-service':
        this.setService(c.kind === 'add-service', c.svc, c);
        break;
      case 'delete-service':
        this.deleteService(this.mustFind(c.svc, 'noSuchService'));
        break;
      case 'clear':
        for (const w of [...this.services.values()]) this.deleteService(w);
        break;
      case 'add-dest':
      case 'edit-dest':
        this.setDest(c.kind === 'add-dest', c.svc, c);
        break;
      case 'delete-dest':
        this.deleteDest(c.svc, c.addr, c.port);
        break;
      case 'set-timeouts':
        for (const t of [c.tcp, c.tcpFin, c.udp]) checkRange(t, 0, MAX_TIMEOUT, 'timeout');
        this.timeouts = {
          tcp: c.tcp || this.timeouts.tcp,
          tcpFin: c.tcpFin || this.timeouts.tcpFin,
          udp: c.udp || this.timeouts.udp,
        };
        break;
    }
  }

  private find(svc: ServiceId): WorkService | undefined {
    checkServiceId(svc);
    return this.services.get(serviceKey(svc.proto, svc.addr, svc.port));
  }

  private mustFind(svc: ServiceId, code: 'noSuchService' | 'serviceNotDefined'): WorkService {
    const w = this.find(svc);
    if (w === undefined) throw kernelError(code);
    return w;
  }

  private setService(add: boolean, svc: ServiceId, config: ServiceConfig): void {
    // ipvsadm's own checks (process_options()) come before the kernel's.
    if (svc.port === 0 && config.timeout === 0) {
      throw new RulesError(RulesErrorCode.zeroPort, 'Zero port specified for non-persistent service');
    }
    if (config.onePacket && svc.proto !== IpProto.udp) {
      throw new RulesError(RulesErrorCode.onePacketNotUdp, 'One-Packet Scheduling is only for UDP virtual services');
    }
    checkRange(config.timeout, 0, MAX_TIMEOUT, 'persistence timeout');
    checkRange(config.netmask, 0, 0xffffffff, 'netmask');
    checkRange(config.schedFlags, 0, 0x38, 'scheduler flags');
    const existing = this.find(svc);
    if (add && existing !== undefined) throw kernelError('serviceExists');
    if (!add && existing === undefined) throw kernelError('noSuchService');
    const cfg: ServiceConfig = {
      sched: config.sched,
      schedFlags: config.schedFlags,
      timeout: config.timeout,
      netmask: config.netmask,
      onePacket: config.onePacket,
    };
    // ip_vs_edit_service() keeps the bound scheduler when the name is unchanged; a Scheduler here takes its
    // flags at creation, so a flag change also needs a fresh instance.
    const keep =
      existing !== undefined && existing.config.sched === cfg.sched && existing.config.schedFlags === cfg.schedFlags;
    let scheduler = keep ? existing.scheduler : null;
    if (!keep) {
      const created = this.schedulers(cfg.sched, cfg.schedFlags);
      if (created === undefined) throw kernelError('schedulerNotFound');
      if (this.live) scheduler = created;
    }
    if (existing === undefined) {
      const w: WorkService = {
        proto: svc.proto,
        addr: svc.addr,
        port: svc.port,
        config: cfg,
        scheduler,
        stats: new Stats(),
        dests: [],
        trash: [],
        published: undefined,
      };
      this.services.set(serviceKey(svc.proto, svc.addr, svc.port), w);
      if (this.live) scheduler!.update([]);
      return;
    }
    if (sameServiceConfig(existing.config, cfg)) return;
    existing.config = cfg;
    existing.published = undefined;
    if (!keep) {
      existing.scheduler = scheduler;
      if (this.live) this.updateScheduler(existing);
    }
  }

  private deleteService(w: WorkService): void {
    for (const e of w.dests) this.unlink(e);
    this.services.delete(serviceKey(w.proto, w.addr, w.port));
  }

  private setDest(add: boolean, svc: ServiceId, config: DestConfig): void {
    const w = this.mustFind(svc, 'serviceNotDefined');
    checkRange(config.addr, 0, 0xffffffff, 'real server address');
    checkRange(config.port, 0, 65535, 'real server port');
    checkRange(config.weight, 0, 65535, 'weight');
    checkRange(config.uThreshold, 0, 0x7fffffff, 'upper threshold');
    checkRange(config.lThreshold, 0, 0x7fffffff, 'lower threshold');
    if (config.fwd !== Fwd.masq && config.fwd !== Fwd.route && config.fwd !== Fwd.tunnel) {
      throw new RulesError(RulesErrorCode.unsupported, 'uvs forwards by masquerading, direct routing or IPIP only');
    }
    // ipvsadm forces the service port for DR and TUN (process_options()): neither can change the port.
    const port = config.fwd === Fwd.masq ? config.port : w.port;
    if (config.lThreshold > config.uThreshold) throw kernelError('thresholdRange');
    const index = w.dests.findIndex((e) => e.addr === config.addr && e.port === port);
    if (add && index >= 0) throw kernelError('destExists');
    if (!add && index < 0) throw kernelError('noSuchDest');
    w.published = undefined;
    if (add) {
      const fromTrash = w.trash.findIndex((d) => d.addr === config.addr && d.port === port);
      let dest: Dest | null = null;
      if (fromTrash >= 0 && this.registry.get(w.trash[fromTrash]!.id) === w.trash[fromTrash]) {
        dest = w.trash[fromTrash]!;
        w.trash.splice(fromTrash, 1);
      } else if (this.live) {
        dest = this.registry.create(config.addr, port, config.fwd, config.weight, w.stats);
      }
      w.dests.unshift({ addr: config.addr, port, dest });
      if (this.live) {
        updateDest(dest!, config, true);
        this.updateScheduler(w);
      }
      return;
    }
    if (this.live) {
      updateDest(w.dests[index]!.dest!, config, false);
      this.updateScheduler(w);
    }
  }

  private deleteDest(svc: ServiceId, addr: number, port: number): void {
    const w = this.mustFind(svc, 'serviceNotDefined');
    const index = w.dests.findIndex((e) => e.addr === addr && e.port === port);
    if (index < 0) throw kernelError('noSuchDest');
    const [entry] = w.dests.splice(index, 1);
    this.unlink(entry!);
    if (entry!.dest !== null) w.trash.push(entry!.dest);
    w.published = undefined;
    if (this.live) this.updateScheduler(w);
  }

  private unlink(e: WorkDest): void {
    if (e.dest === null) return;
    if (this.live) e.dest.available = false;
    this.unlinked.add(e.dest);
  }

  private updateScheduler(w: WorkService): void {
    const dests = w.dests.map((e) => e.dest!);
    w.scheduler!.update(schedulable(dests, this.unschedulable));
  }
}

/** The destinations a scheduler may choose from. */
function schedulable(dests: readonly Dest[], unschedulable: DestFilter | null): Dest[] {
  return unschedulable === null ? [...dests] : dests.filter((d) => !unschedulable(d));
}

/** __ip_vs_update_dest(): the fields a -a/-e sets on the (possibly re-used) destination. */
function updateDest(dest: Dest, c: DestConfig, add: boolean): void {
  dest.fwd = c.fwd;
  dest.weight = c.weight;
  if (c.weight > 0) dest.lastWeight = c.weight;
  // The overload flag is cleared when the new upper threshold is none or higher (IPVS-REFERENCE.md §4).
  if (c.uThreshold === 0 || c.uThreshold > dest.uThreshold) dest.overloaded = false;
  dest.uThreshold = c.uThreshold;
  dest.lThreshold = c.lThreshold;
  if (add) dest.available = true;
}

function checkServiceId(svc: ServiceId): void {
  if (svc.proto !== IpProto.tcp && svc.proto !== IpProto.udp) {
    throw new RulesError(RulesErrorCode.unsupported, `uvs serves TCP and UDP services only (protocol ${svc.proto})`);
  }
  checkRange(svc.addr, 0, 0xffffffff, 'virtual address');
  checkRange(svc.port, 0, 65535, 'virtual port');
}

function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RulesError(RulesErrorCode.badValue, `${what} ${value} out of range ${min}..${max}`);
  }
}
