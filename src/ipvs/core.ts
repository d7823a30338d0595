// The IPVS core: the rules, the connection table and the schedulers wired together the way ip_vs_core.c
// wires them (ip_vs_schedule(), ip_vs_sched_persist()). The datapath and `uvs simulate` both drive this one
// object, so a simulated decision is the decision the datapath would make.

import { ConnTable, INSERT_FULL, NO_ENTRY } from '../conn/table.js';
import { IpProto } from '../constants.js';
import { type Dest, DestRegistry } from '../dest/dest.js';
import { type ApplyResult, type NumberedCommand, type RuleCommand, RulesModel, type Service } from '../model/rules.js';
import type { SchedInput } from '../sched/types.js';
import { Defense } from './defense.js';

/** What `schedule()` decided. */
export const Schedule = {
  /** A connection entry was created: `core.slot` and `core.dest` are set. */
  created: 0,
  /** A destination was chosen but nothing is tracked (table full, or one-packet scheduling): `core.dest` is set. */
  untracked: 1,
  /** No destination available: IPVS answers the client with ICMP port unreachable (ip_vs_leave()). */
  noDest: 2,
} as const;
export type ScheduleVerdict = (typeof Schedule)[keyof typeof Schedule];

/** The FTP control port: persistence templates of a port-21 service carry vport 0 (ip_vs_sched_persist()). */
const FTP_PORT = 21;

export interface IpvsCoreOptions {
  /** Connection table capacity (entries, templates included). */
  connCapacity?: number;
  /** Units of `now` per second (1000 = milliseconds). */
  ticksPerSecond?: number;
  /** Hash seed for the connection table (tests fix it; the daemon leaves it random). */
  seed?: number;
}

export class IpvsCore {
  readonly dests = new DestRegistry();
  readonly rules: RulesModel;
  readonly conns: ConnTable;
  /** drop_entry, drop_packet, secure_tcp (src/ipvs/defense.ts); the datapath runs its timer. */
  readonly defense: Defense;
  readonly ticksPerSecond: number;

  /** Results of the last `schedule()` call; fields rather than a returned object, so nothing is allocated. */
  slot = NO_ENTRY;
  dest: Dest | null = null;

  /** Destinations removed from the rules that connections may still point at (the kernel's dest trash). */
  private readonly trash: Dest[] = [];
  private readonly input: SchedInput = { saddr: 0, sport: 0, daddr: 0, dport: 0, proto: 0 };

  constructor(options: IpvsCoreOptions = {}) {
    this.ticksPerSecond = options.ticksPerSecond ?? 1000;
    this.rules = new RulesModel(this.dests);
    const tableOptions = options.seed === undefined ? {} : { seed: options.seed };
    this.conns = new ConnTable(options.connCapacity ?? 1 << 20, this.dests, {
      ...tableOptions,
      ticksPerSecond: this.ticksPerSecond,
    });
    this.defense = new Defense(this.conns);
  }

  /** Applies one command or an all-or-nothing batch, then carries timeouts and removals to the connection layer. */
  applyRules(commands: RuleCommand | readonly NumberedCommand[]): ApplyResult {
    const result = Array.isArray(commands)
      ? this.rules.applyBatch(commands as readonly NumberedCommand[])
      : this.rules.apply(commands as RuleCommand);
    const t = result.snapshot.timeouts;
    this.conns.timeouts.set(t.tcp, t.tcpFin, t.udp);
    for (const dest of result.removed) if (!this.trash.includes(dest)) this.trash.push(dest);
    this.releaseUnused();
    return result;
  }

  /**
   * ip_vs_schedule() for the first packet of a connection to `svc` (the caller has checked that no entry
   * exists and that the packet may create one). Applies persistence, picks a destination, creates the entry.
   * `caddr` and `vaddr` may be unsigned or signed (`addr | 0`): the datapath passes them signed, since an
   * unsigned address of 2^31 or more is a heap number, allocated on every call V8 does not inline.
   */
  schedule(
    svc: Service,
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    now: number,
  ): ScheduleVerdict {
    const input = this.input;
    input.saddr = caddr | 0;
    input.sport = cport;
    input.daddr = vaddr | 0;
    input.dport = vport;
    input.proto = proto;
    this.slot = NO_ENTRY;
    this.dest = null;
    let control = NO_ENTRY;
    let dest: Dest | null;
    let dport: number;
    if (svc.timeout !== 0) {
      // ip_vs_sched_persist(): one template per (client & netmask, VIP, service port).
      const snet = (caddr & svc.netmask) >>> 0;
      const portService = vport === svc.port && svc.port !== 0;
      const tplPort = portService && svc.port !== FTP_PORT ? vport : 0;
      // Templates are the slow path (persistent services only), and their lookup compares unsigned words.
      control = this.conns.lookupTemplate(proto, snet, vaddr >>> 0, tplPort, now);
      if (control !== NO_ENTRY && !this.templateUsable(control)) {
        this.conns.invalidateTemplate(control);
        control = NO_ENTRY;
      }
      if (control === NO_ENTRY) {
        dest = svc.scheduler.pick(input);
        if (dest === null) return Schedule.noDest;
        const tplDport = portService && svc.port !== FTP_PORT ? dest.port : 0;
        control = this.conns.insertTemplate(
          proto,
          snet,
          vaddr,
          tplPort,
          dest.addr,
          tplDport,
          dest.id,
          svc.timeout * this.ticksPerSecond,
          now,
        );
        if (control === INSERT_FULL) control = NO_ENTRY;
      } else {
        dest = this.dests.get(this.conns.destId[control]!) ?? null;
        if (dest === null) return Schedule.noDest;
        this.conns.touchTemplate(control, now);
      }
      // The connection keeps the client's port when it did not ask for the service port (port-zero services).
      dport = vport === svc.port && dest.port !== 0 ? dest.port : vport;
    } else {
      dest = svc.scheduler.pick(input);
      if (dest === null) return Schedule.noDest;
      dport = dest.port !== 0 ? dest.port : vport;
    }
    this.dest = dest;
    // One-packet scheduling: the kernel creates an entry that dies with its packet; tracking nothing is the same.
    if (svc.onePacket && proto === IpProto.udp) return Schedule.untracked;
    // The table stores addresses as 32-bit words, so signed arguments store the same bits.
    const slot = this.conns.insert(
      proto,
      caddr | 0,
      cport,
      vaddr | 0,
      vport,
      dest.addr | 0,
      dport,
      dest.id,
      now,
      control,
    );
    if (slot === INSERT_FULL) return Schedule.untracked;
    this.slot = slot;
    return Schedule.created;
  }

  /** ip_vs_check_template(): a template whose destination is gone (or unavailable) no longer binds its clients. */
  private templateUsable(tpl: number): boolean {
    const dest = this.dests.get(this.conns.destId[tpl]!);
    return dest?.available === true;
  }

  /** Expires due entries (a bounded budget) and frees removed destinations nothing points at any more. */
  sweep(now: number, budget: number): number {
    const removed = this.conns.sweep(now, budget);
    if (removed > 0 && this.trash.length > 0) this.releaseUnused();
    return removed;
  }

  private releaseUnused(): void {
    for (let i = this.trash.length - 1; i >= 0; i--) {
      const dest = this.trash[i]!;
      if (dest.available) {
        // Re-added from the trash by a later command.
        this.trash.splice(i, 1);
      } else if (dest.activeConns + dest.inactConns + dest.persistConns === 0) {
        this.dests.release(dest);
        this.trash.splice(i, 1);
      }
    }
  }
}
