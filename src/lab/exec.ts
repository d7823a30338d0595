// `uvs lab exec [NAME] HOST COMMAND...`: runs a command on one host of a lab that `uvs lab --keep` left up,
// as `ip netns exec` into that host's namespace, with the terminal passed through and the command's exit
// status as its own. The command gets UVS_SOCKET pointing at the lab's daemon, so `uvsadm` works on any host.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './netns.js';
import { LAB_NAME } from './remove.js';

export const LAB_HOSTS = ['client', 'director', 'web01', 'web02'] as const;
export type LabHost = (typeof LAB_HOSTS)[number];

/** The environment variable `uvs lab --keep` prints, so that `uvs lab exec` may leave out the lab's name. */
export const LAB_NAME_ENV = 'UVS_LAB';

export class LabExecError extends Error {
  constructor(
    message: string,
    /** 2: a usage mistake; 1: the lab or host is not there. */
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'LabExecError';
  }
}

/** The names of the labs running now: those with a director namespace. */
export function runningLabs(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((ns) => ns.endsWith('-director'))
    .map((ns) => ns.slice(0, -'-director'.length))
    .filter((name) => LAB_NAME.test(name))
    .sort();
}

/** The control socket of the lab `name` (in its directory under the temporary directory), if it is there. */
export function labSocket(name: string): string | undefined {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(`${name}-`)) continue;
    const socket = join(tmpdir(), entry, 'uvs.sock');
    try {
      if (statSync(socket).isSocket()) return socket;
    } catch {
      // Not this directory.
    }
  }
  return undefined;
}

export interface ExecTarget {
  name: string;
  host: LabHost;
  namespace: string;
  command: string[];
}

/**
 * Reads `[NAME] HOST COMMAND...`. NAME is recognised by its form (uvs-lab-PID-HEX); without it the lab is
 * $UVS_LAB, or the only lab running. `labs` lists the running labs (a parameter so that tests need no netns).
 */
export function resolveExecTarget(
  args: readonly string[],
  envName: string | undefined,
  labs: readonly string[],
): ExecTarget {
  let rest = [...args];
  let name: string;
  if (rest.length > 0 && LAB_NAME.test(rest[0] as string)) {
    name = rest.shift() as string;
  } else if (envName !== undefined && envName !== '') {
    if (!LAB_NAME.test(envName)) {
      throw new LabExecError(`${LAB_NAME_ENV}='${envName}' is not the name of a lab (uvs-lab-PID-HEX)`, 2);
    }
    name = envName;
  } else if (labs.length === 1) {
    name = labs[0] as string;
  } else if (labs.length === 0) {
    throw new LabExecError('no lab is running; start one with `uvs lab nat|dr|tun --empty --keep`', 1);
  } else {
    throw new LabExecError(
      `${labs.length} labs are running (${labs.join(', ')}); say which: uvs lab exec NAME HOST COMMAND...`,
      2,
    );
  }
  const host = rest[0];
  if (host === undefined || !(LAB_HOSTS as readonly string[]).includes(host)) {
    const what = host === undefined ? 'no host given' : `unknown host '${host}'`;
    throw new LabExecError(`${what}; a lab's hosts are ${LAB_HOSTS.join(', ')}`, 2);
  }
  rest = rest.slice(1);
  if (rest.length === 0) throw new LabExecError(`no command given to run on ${host}`, 2);
  if (!labs.includes(name)) {
    const running = labs.length === 0 ? 'no lab is running' : `running: ${labs.join(', ')}`;
    throw new LabExecError(`no lab named ${name} (${running})`, 1);
  }
  return { name, host: host as LabHost, namespace: `${name}-${host}`, command: rest };
}

/** Runs the command with the terminal passed through; resolves with its exit status (128+N for signal N). */
export function execInLab(target: ExecTarget): Promise<number> {
  const socket = labSocket(target.name);
  const env = socket === undefined ? process.env : { ...process.env, UVS_SOCKET: socket };
  const child = spawn('ip', ['netns', 'exec', target.namespace, ...target.command], { stdio: 'inherit', env });
  // The terminal's Ctrl-C reaches the command too (same process group); this process waits for its end.
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  return new Promise((resolve) => {
    const finish = (code: number): void => {
      process.off('SIGINT', ignore);
      resolve(code);
    };
    child.on('error', (err) => {
      process.stderr.write(`uvs lab exec: cannot run ip: ${err.message}\n`);
      finish(1);
    });
    child.on('close', (code, signal) => {
      finish(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}
