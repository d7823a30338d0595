// The director's rule-fit check as uvsadm reports it: the datapath's reason a rule cannot work here and, for a
// service on a VIP no interface owns, what to do about it: which address to add, under which key of which
// config file. Kept out of the datapath, which knows neither its config file nor the daemon's restart.
import type { RuleCommand } from '../model/rules.js';
import { ipv4ToString } from '../wire/addr.js';
import type { RuleFitCheck } from './handler.js';

/** What of the datapath the check needs (Datapath.misfitOf and Datapath.serviceMisfit). */
export interface RuleFitSource {
  misfitOf(command: RuleCommand): string | null;
  serviceMisfit(vip: number): string | null;
}

/** The remedy appended to a refusal for an unowned VIP. */
export function ownVipRemedy(vip: number, configPath: string): string {
  return `; to serve it, add ${ipv4ToString(vip)}/32 to the \`addresses:\` of the client-facing interface in ${configPath}, then restart uvs daemon`;
}

export function ruleFitWithRemedy(director: RuleFitSource, configPath: string): RuleFitCheck {
  return (command) => {
    const misfit = director.misfitOf(command);
    if (misfit === null) return null;
    switch (command.kind) {
      case 'add-service':
      case 'edit-service':
      case 'add-dest':
      case 'edit-dest':
        if (director.serviceMisfit(command.svc.addr) !== null)
          return misfit + ownVipRemedy(command.svc.addr, configPath);
        return misfit;
      default:
        return misfit;
    }
  };
}
