// The commands that turn the running rules into a target rule set while touching nothing that is already
// right. SIGHUP reloads the rules file through this, so unchanged services and destinations keep their
// objects (and with them their counters and every established connection), where a -C followed by the file
// would move every destination to the trash and drop the connections' packets.

import type { Dest } from '../dest/dest.js';
import { DestRegistry } from '../dest/dest.js';
import {
  type NumberedCommand,
  type RuleCommand,
  RulesModel,
  type RulesSnapshot,
  type Service,
  sameServiceConfig,
} from './rules.js';

function sameDest(a: Dest, b: Dest): boolean {
  return a.fwd === b.fwd && a.weight === b.weight && a.uThreshold === b.uThreshold && a.lThreshold === b.lThreshold;
}

function serviceCommand(kind: 'add-service' | 'edit-service', s: Service): RuleCommand {
  return {
    kind,
    svc: { proto: s.proto, addr: s.addr, port: s.port },
    sched: s.sched,
    schedFlags: s.schedFlags,
    timeout: s.timeout,
    netmask: s.netmask,
    onePacket: s.onePacket,
  };
}

function destCommand(kind: 'add-dest' | 'edit-dest', s: Service, d: Dest): RuleCommand {
  return {
    kind,
    svc: { proto: s.proto, addr: s.addr, port: s.port },
    addr: d.addr,
    port: d.port,
    fwd: d.fwd,
    weight: d.weight,
    uThreshold: d.uThreshold,
    lThreshold: d.lThreshold,
  };
}

/** The target rules as a snapshot of their own, built without touching the running model's destinations. */
export function snapshotOf(commands: readonly NumberedCommand[]): RulesSnapshot {
  return new RulesModel(new DestRegistry()).applyBatch(commands).snapshot;
}

/** Commands that make `current` equal to `target` (services, destinations in kernel order, timeouts). */
export function diffRules(current: RulesSnapshot, target: RulesSnapshot): RuleCommand[] {
  const out: RuleCommand[] = [];
  for (const s of current.services) {
    if (target.find(s) === undefined)
      out.push({ kind: 'delete-service', svc: { proto: s.proto, addr: s.addr, port: s.port } });
  }
  for (const t of target.services) {
    const s = current.find(t);
    if (s === undefined) {
      out.push(serviceCommand('add-service', t));
    } else {
      if (!sameServiceConfig(s, t)) out.push(serviceCommand('edit-service', t));
      for (const d of s.dests) {
        if (!t.dests.some((e) => e.addr === d.addr && e.port === d.port)) {
          out.push({
            kind: 'delete-dest',
            svc: { proto: s.proto, addr: s.addr, port: s.port },
            addr: d.addr,
            port: d.port,
          });
        }
      }
    }
    // Adding oldest first leaves new destinations in the target's (newest-first) order.
    for (let i = t.dests.length - 1; i >= 0; i--) {
      const d = t.dests[i]!;
      const old = s?.dests.find((e) => e.addr === d.addr && e.port === d.port);
      if (old === undefined) out.push(destCommand('add-dest', t, d));
      else if (!sameDest(old, d)) out.push(destCommand('edit-dest', t, d));
    }
  }
  const a = current.timeouts;
  const b = target.timeouts;
  if (a.tcp !== b.tcp || a.tcpFin !== b.tcpFin || a.udp !== b.udp) out.push({ kind: 'set-timeouts', ...b });
  return out;
}

/**
 * The rules `commands` would make of `current`, worked out on a copy (the running rules and their destinations
 * are not touched): the daemon saves these before it applies the change. It refuses exactly where applying the
 * commands to the running rules would, with the same error (and line, for a batch).
 */
export function rulesAfter(current: RulesSnapshot, commands: RuleCommand | readonly NumberedCommand[]): RulesSnapshot {
  const copy = new RulesModel(new DestRegistry());
  copy.applyBatch(diffRules(copy.snapshot, current).map((command) => ({ command })));
  const result = Array.isArray(commands)
    ? copy.applyBatch(commands as readonly NumberedCommand[])
    : copy.apply(commands as RuleCommand);
  return result.snapshot;
}
