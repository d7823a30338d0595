// `uvs lab --remove NAME`: takes down a lab that `uvs lab --keep` left up. Deleting a namespace's name does
// not end the processes inside it (the daemon, the web servers, a TUN decapsulator): they would go on running
// in a namespace nobody can reach. So the processes go first (SIGTERM, so the daemon cleans up as it stops;
// SIGKILL after a grace period), then the namespaces, then the lab's directory of config, rules and socket.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMAND_TIMEOUT_MS, run } from './netns.js';

/** The names buildTopology() gives a lab: `uvs-lab-<pid>-<6 hex>`; its namespaces are that plus `-<role>`. */
export const LAB_NAME = /^uvs-lab-\d+-[0-9a-f]{6}$/;

/** How long the lab's processes get to stop after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** How long a SIGKILLed process may take to be gone. */
const KILL_WAIT_MS = 2_000;

export interface LabRemoval {
  /** The namespaces deleted. */
  readonly namespaces: readonly string[];
  /** The processes that were running in them, and how each was stopped. */
  readonly stopped: readonly { pid: number; by: 'SIGTERM' | 'SIGKILL' }[];
  /** The lab directories removed. */
  readonly dirs: readonly string[];
}

export class LabRemoveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabRemoveError';
  }
}

/** Every network namespace of the lab called `name`. */
export function labNamespaces(name: string): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((ns) => ns.startsWith(`${name}-`));
}

/** The processes running in namespace `ns` (`ip netns pids`). */
export function namespacePids(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/**
 * Whether `pid` still runs. A zombie does not: it has ended, and only waits for a parent that may never come
 * (a kept lab's processes outlive the `uvs lab` that started them).
 */
export function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // pid (comm) state ...: comm may hold spaces and parentheses, so the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

async function waitUntilGone(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = left.filter(isRunning);
  }
  return left;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

/** Stops every process of the lab `name`, deletes its namespaces and its directory. */
export async function removeLab(name: string, graceMs = STOP_GRACE_MS): Promise<LabRemoval> {
  if (!LAB_NAME.test(name)) {
    throw new LabRemoveError(`'${name}' is not the name of a lab (uvs-lab-PID-HEX, as \`uvs lab --keep\` printed it)`);
  }
  const namespaces = labNamespaces(name);
  const dirs = readdirSync(tmpdir())
    .filter((entry) => entry.startsWith(`${name}-`))
    .map((entry) => join(tmpdir(), entry));
  if (namespaces.length === 0 && dirs.length === 0) {
    throw new LabRemoveError(`no lab named ${name}: no namespace ${name}-* and no directory ${join(tmpdir(), name)}-*`);
  }

  const self = new Set([process.pid, process.ppid]);
  const pids = [...new Set(namespaces.flatMap(namespacePids))].filter((pid) => !self.has(pid));
  for (const pid of pids) signal(pid, 'SIGTERM');
  const stubborn = await waitUntilGone(pids, graceMs);
  for (const pid of stubborn) signal(pid, 'SIGKILL');
  const left = await waitUntilGone(stubborn, KILL_WAIT_MS);
  if (left.length > 0) {
    throw new LabRemoveError(`processes ${left.join(', ')} of ${name} did not end; its namespaces are left in place`);
  }

  // The LAN namespace last: the hosts' veth ends go with their own namespaces first.
  const ordered = [
    ...namespaces.filter((ns) => !ns.endsWith('-lan')),
    ...namespaces.filter((ns) => ns.endsWith('-lan')),
  ];
  for (const ns of ordered) run('ip', ['netns', 'del', ns]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  return {
    namespaces: ordered,
    stopped: pids.map((pid) => ({ pid, by: stubborn.includes(pid) ? 'SIGKILL' : 'SIGTERM' })),
    dirs,
  };
}
