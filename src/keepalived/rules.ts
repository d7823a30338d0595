// The IPVS rules keepalived loads at start when every real server is up (check/ipwrapper.c init_services(),
// check/ipvswrapper.c ipvs_set_srule()/ipvs_set_drule()), as uvs rule commands:
// - each virtual_server is one service; a `virtual_server group` is one service per address of each group
//   line (ranges expanded, ipvs_group_range_cmd()), all with the virtual server's settings;
// - lb_algo -> -s, its flags -> -b, persistence_timeout -> -p, persistence_granularity -> -M (only with -p,
//   as ipvs_set_srule() sends the netmask only for a persistent service), ops -> -o;
// - each real_server -> -a with lb_kind/lvs_method (NAT -m, DR -g, TUN -i), weight -w, uthreshold -x,
//   lthreshold -y;
// - the sorry_server is added only when quorum is lost, which never holds at start with every real server up
//   (validate_check_config() lowers a quorum above the total weight to that total), so it is not loaded;
//   inhibit_on_failure only changes what a failure does;
// - global_defs lvs_timeouts -> --set.
import { IpProto } from '../constants.js';
import { Fwd, type FwdMethod } from '../dest/dest.js';
import { snapshotOf } from '../model/diff.js';
import { RulesError, RulesErrorCode } from '../model/errors.js';
import {
  describeService,
  type NumberedCommand,
  type RuleCommand,
  type RulesSnapshot,
  type ServiceId,
} from '../model/rules.js';
import { KeepalivedConfigError } from './config.js';
import type { Forwarding, KeepalivedConfig, VirtualServer } from './model.js';
import type { Location } from './syntax.js';

const FWD: Readonly<Record<Forwarding, FwdMethod>> = { NAT: Fwd.masq, DR: Fwd.route, TUN: Fwd.tunnel };

/** A rule command with the keepalived.conf line it comes from. */
export interface LocatedCommand {
  readonly at: Location;
  readonly command: RuleCommand;
}

/** The services one virtual server stands for: its own address, or each address of its group's lines. */
function serviceIds(vs: VirtualServer, config: KeepalivedConfig): { at: Location; id: ServiceId }[] {
  const proto = vs.protocol === 'TCP' ? IpProto.tcp : IpProto.udp;
  if (vs.address.kind === 'address') return [{ at: vs, id: { proto, addr: vs.address.addr, port: vs.address.port } }];
  const group = config.groups.get(vs.address.name)!;
  const out: { at: Location; id: ServiceId }[] = [];
  for (const entry of group.entries) {
    for (let addr = entry.first; addr <= entry.last; addr++)
      out.push({ at: entry, id: { proto, addr, port: entry.port } });
  }
  return out;
}

/** The commands that load `config`'s services into an empty table, every real server up. */
export function keepalivedCommands(config: KeepalivedConfig): LocatedCommand[] {
  const out: LocatedCommand[] = [];
  for (const vs of config.virtualServers) {
    for (const { at, id } of serviceIds(vs, config)) {
      out.push({
        at,
        command: {
          kind: 'add-service',
          svc: id,
          sched: vs.sched,
          schedFlags: vs.schedFlags,
          timeout: vs.persistenceTimeout,
          netmask: vs.persistenceTimeout !== 0 ? vs.persistenceGranularity : 0xffffffff,
          onePacket: vs.onePacket,
        },
      });
      for (const rs of vs.realServers) {
        out.push({
          at: rs,
          command: {
            kind: 'add-dest',
            svc: id,
            addr: rs.addr,
            // A group's NAT real server without a port takes each service's port.
            port: rs.port === 0 ? id.port : rs.port,
            fwd: FWD[rs.forwarding],
            weight: rs.weight,
            uThreshold: rs.uThreshold,
            lThreshold: rs.lThreshold,
          },
        });
      }
    }
  }
  const t = config.globalDefs.lvsTimeouts;
  if (t.tcp !== 0 || t.tcpFin !== 0 || t.udp !== 0) {
    out.push({ at: { file: config.files[0] ?? '', line: 0 }, command: { kind: 'set-timeouts', ...t } });
  }
  return out;
}

/**
 * The rules as a snapshot of the project's rules model, so that they print exactly as `uvsadm -S -n` prints
 * the same rules. A rule the model refuses (a scheduler uvs lacks, a duplicate service) is a
 * KeepalivedConfigError naming the keepalived.conf line.
 */
export function keepalivedSnapshot(config: KeepalivedConfig): RulesSnapshot {
  const located = keepalivedCommands(config);
  const numbered: NumberedCommand[] = located.map((c, index) => ({ line: index + 1, command: c.command }));
  try {
    return snapshotOf(numbered);
  } catch (err) {
    if (!(err instanceof RulesError) || err.line === undefined) throw err;
    const { at, command } = located[err.line - 1]!;
    let message = err.reason;
    if (command.kind === 'add-service') {
      message =
        err.code === RulesErrorCode.schedulerNotFound
          ? `lb_algo ${command.sched}: uvs has no such scheduler (${err.reason})`
          : `${describeService(command.svc)}: ${err.reason}`;
    } else if (command.kind === 'add-dest') {
      message = `real server for ${describeService(command.svc)}: ${err.reason}`;
    }
    throw new KeepalivedConfigError([{ file: at.file, line: at.line, message }]);
  }
}
