// Shared set-up for the control-plane tests: a core with a 4096-entry connection table (so the version line
// reads size=4096, as in the seed tutorial), its estimators, and a way to run uvsadm command lines.
import { type CommandResult, executeCommand, type HandlerContext } from '../../src/control/handler.js';
import { type NameLookup, type NameResolver, NUMERIC_NAMES } from '../../src/control/names.js';
import { StatsBook } from '../../src/control/stats-book.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { EstimatorSet } from '../../src/ipvs/estimator.js';

export interface Lab {
  core: IpvsCore;
  book: StatsBook;
  estimators: EstimatorSet;
  clock: { now: number };
  ctx: HandlerContext;
  /** Runs one command line, split on blanks (`uvsadm` words dropped). */
  run(line: string, stdin?: string): Promise<CommandResult>;
  /** Runs it and fails the test unless it exits 0 with no stderr. */
  must(line: string, stdin?: string): Promise<string>;
}

/** A resolver that must not be reached (tests of -n output). */
export const NO_RESOLVER: NameResolver = () => Promise.reject(new Error('name lookup in a numeric listing'));

export function fixedResolver(hosts: Record<string, string>, services: Record<string, string>): NameResolver {
  return async () => {
    const lookup: NameLookup = {
      host: (addr) => hosts[NUMERIC_NAMES.host(addr)] ?? NUMERIC_NAMES.host(addr),
      service: (port, proto) => services[`${port}/${proto}`] ?? String(port),
    };
    return lookup;
  };
}

export function makeLab(resolver: NameResolver = NO_RESOLVER): Lab {
  const core = new IpvsCore({ connCapacity: 4096, ticksPerSecond: 1000, seed: 1 });
  const estimators = new EstimatorSet(0, 1000);
  const book = new StatsBook(estimators);
  const clock = { now: 0 };
  const ctx: HandlerContext = { now: () => clock.now, stats: book, resolver };
  const run = (line: string, stdin = '') =>
    executeCommand(
      core,
      line.split(/\s+/).filter((w) => w !== '' && w !== 'uvsadm'),
      stdin,
      ctx,
    );
  const must = async (line: string, stdin = '') => {
    const r = await run(line, stdin);
    if (r.exitCode !== 0 || r.stderr !== '') throw new Error(`${line}: exit ${r.exitCode}: ${r.stderr}`);
    return r.stdout;
  };
  return { core, book, estimators, clock, ctx, run, must };
}

/** The seed tutorial's NAT lab (ens36 VIP 192.168.1.231, web01/web02 as real servers), as typed there. */
export const SEED_NAT = [
  'uvsadm -A -t 192.168.1.231:80 -s rr',
  'uvsadm -a -t 192.168.1.231:80 -r 192.168.1.200:80 -m',
  'uvsadm -a -t 192.168.1.231:80 -r 192.168.1.201:80 -m',
];

/** The seed tutorial's DR lab (VIP 192.168.1.241). */
export const SEED_DR = [
  'uvsadm -A -t 192.168.1.241:80 -s rr',
  'uvsadm -a -t 192.168.1.241:80 -r 192.168.1.200:80 -g',
  'uvsadm -a -t 192.168.1.241:80 -r 192.168.1.201:80 -g',
];

export async function runAll(lab: Lab, lines: readonly string[]): Promise<void> {
  for (const line of lines) await lab.must(line);
}

/** Lines joined with `\n` and a final `\n`: golden listings are written one quoted line each, blanks shown. */
export function lines(...text: string[]): string {
  return `${text.join('\n')}\n`;
}
