// `uvs rs nat --dip X`: the real-server side of LVS-NAT. Replies must go back through the director so that
// it can rewrite their source to the VIP, so the real server's default route points at the DIP (the seed's
// `route del default; route add default gw $dip`). The default routes found the first time are recorded and
// put back by `--undo`.
import { ipv4ToString, parseIpv4Address } from '../wire/addr.js';
import { ip, ipJson, RsError, readState, removeState, statePath, writeState } from './system.js';

/** A default route as `ip -j route show default` describes it: enough to add it back. */
export interface DefaultRoute {
  gateway?: string;
  dev?: string;
  metric?: number;
  protocol?: string;
  flags?: string[];
}

export interface NatState {
  mode: 'nat';
  dip: string;
  /** The default routes of the main table before the first `uvs rs nat`. */
  previousDefaults: DefaultRoute[];
}

export interface RsOptions {
  stateDir: string;
  log: (line: string) => void;
}

export function currentDefaultRoutes(): DefaultRoute[] {
  return ipJson<DefaultRoute & { dst?: string }>(['-4', 'route', 'show', 'default']).map((r) => {
    const out: DefaultRoute = {};
    if (r.gateway !== undefined) out.gateway = r.gateway;
    if (r.dev !== undefined) out.dev = r.dev;
    if (r.metric !== undefined) out.metric = r.metric;
    if (r.protocol !== undefined) out.protocol = r.protocol;
    if (r.flags !== undefined && r.flags.length > 0) out.flags = r.flags;
    return out;
  });
}

function routeArgs(r: DefaultRoute): string[] {
  const args = ['default'];
  if (r.gateway !== undefined) args.push('via', r.gateway);
  if (r.dev !== undefined) args.push('dev', r.dev);
  if (r.metric !== undefined) args.push('metric', String(r.metric));
  if (r.protocol !== undefined) args.push('proto', r.protocol);
  if (r.flags?.includes('onlink')) args.push('onlink');
  return args;
}

function deleteAllDefaults(): void {
  for (const r of currentDefaultRoutes()) ip(['-4', 'route', 'del', ...routeArgs(r)]);
}

/** Points the default route at the DIP; a second run finds it in place and changes nothing. */
export function applyNat(dipText: string, opts: RsOptions): void {
  const dip = parseIpv4Address(dipText);
  if (dip === undefined) throw new RsError(`uvs rs nat: '${dipText}' is not an IPv4 address; give --dip a.b.c.d`);
  const dipStr = ipv4ToString(dip);
  const path = statePath(opts.stateDir, 'nat');
  const state = readState<NatState>(path);
  if (state && state.dip !== dipStr) {
    throw new RsError(`uvs rs nat: this host already routes through DIP ${state.dip}; run \`uvs rs nat --undo\` first`);
  }
  const now = currentDefaultRoutes();
  // Record before changing anything, so that a failure half-way can still be undone.
  if (!state) writeState(path, { mode: 'nat', dip: dipStr, previousDefaults: now } satisfies NatState);
  if (now.length === 1 && now[0]?.gateway === dipStr) {
    opts.log(`uvs rs nat: the default route already goes via ${dipStr}; nothing to do`);
    return;
  }
  deleteAllDefaults();
  try {
    ip(['-4', 'route', 'add', 'default', 'via', dipStr]);
  } catch (err) {
    // Leave the host as it was: a real server without a default route is worse than one with the old one.
    for (const r of now) ip(['-4', 'route', 'add', ...routeArgs(r)]);
    if (!state) removeState(path);
    throw new RsError(
      `${(err as Error).message}; the DIP must be on one of this host's subnets (as in the seed: the RS and the DIP share a network)`,
    );
  }
  opts.log(`uvs rs nat: default route now via ${dipStr} (was: ${describe(now)})`);
}

/** Removes the route via the DIP and puts back the recorded default routes. */
export function undoNat(opts: RsOptions): void {
  const path = statePath(opts.stateDir, 'nat');
  const state = readState<NatState>(path);
  if (!state) {
    opts.log('uvs rs nat: nothing to undo (no state recorded in this network namespace)');
    return;
  }
  deleteAllDefaults();
  for (const r of state.previousDefaults) ip(['-4', 'route', 'add', ...routeArgs(r)]);
  removeState(path);
  opts.log(`uvs rs nat: default route restored (${describe(state.previousDefaults)})`);
}

function describe(routes: readonly DefaultRoute[]): string {
  if (routes.length === 0) return 'none';
  return routes.map((r) => routeArgs(r).join(' ')).join('; ');
}
