// Network-namespace plumbing for the lab (`uvs lab`): bounded `ip` commands, sysctls set inside a namespace,
// and child processes started inside one. A Node process cannot change its own namespace, so everything
// that must run inside one runs as a child of `ip netns exec`, and every child has a time limit.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { parseIpv4Address } from '../wire/addr.js';

/** Bound on one `ip`/`nft` command: they return in milliseconds unless something is wrong. */
export const COMMAND_TIMEOUT_MS = 5_000;

export function commandExists(cmd: string, versionArg: string): boolean {
  return spawnSync(cmd, [versionArg], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS }).status === 0;
}

/** Runs a command and returns its stdout; a failure throws with the command and its stderr. */
export function run(cmd: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      timeout: COMMAND_TIMEOUT_MS,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input !== undefined ? { input } : {}),
    });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`uvs lab: \`${cmd} ${args.join(' ')}\` failed: ${stderr || (err as Error).message}`);
  }
}

/** Runs a command inside `ns`. */
export function nsRun(ns: string, cmd: string, args: readonly string[], input?: string): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], input);
}

/**
 * Sets a sysctl below /proc/sys/net inside `ns` (which /proc/sys/net shows depends on the namespace of the
 * process reading it). Returns false when the key does not exist there (IPv6 compiled out, for example).
 */
export function setNsSysctl(ns: string, key: string, value: string): boolean {
  const path = `/proc/sys/net/${key}`;
  if (spawnSync('ip', ['netns', 'exec', ns, 'test', '-e', path], { timeout: COMMAND_TIMEOUT_MS }).status !== 0) {
    return false;
  }
  nsRun(ns, 'tee', [path], value);
  return true;
}

/**
 * Throws unless `cidr` ("a.b.c.d/len" or a bare address) lies inside 10.0.0.0/8 or 192.168.0.0/16: the lab
 * must never address anything outside the namespaces it builds.
 */
export function assertPrivate(cidr: string): void {
  const [addrText, lenText] = cidr.split('/');
  const addr = parseIpv4Address(addrText ?? '');
  const len = lenText === undefined ? 32 : Number(lenText);
  if (addr === undefined || !Number.isInteger(len) || len < 0 || len > 32)
    throw new Error(`uvs lab: bad address ${cidr}`);
  const in10 = addr >>> 24 === 10 && len >= 8;
  const in192 = addr >>> 16 === 0xc0a8 && len >= 16;
  if (!in10 && !in192) throw new Error(`uvs lab: ${cidr} is outside 10.0.0.0/8 and 192.168.0.0/16`);
}

/** A child running inside a namespace: its stdout lines as they come, and its end. */
export class NsChild {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  timedOut = false;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private pending = '';
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly timer: NodeJS.Timeout;

  constructor(ns: string, argv: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv) {
    this.proc = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
    this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.pending += chunk;
      let nl = this.pending.indexOf('\n');
      while (nl >= 0) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        for (const listener of this.lineListeners) listener(line);
        nl = this.pending.indexOf('\n');
      }
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.proc.kill('SIGKILL');
    }, timeoutMs);
    this.done = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        clearTimeout(this.timer);
        resolve({ code, signal });
      });
      this.proc.on('error', () => {
        clearTimeout(this.timer);
        resolve({ code: null, signal: null });
      });
    });
  }

  /** Calls `listener` with each stdout line from now on. */
  onLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /** Resolves with the first stdout line that matches, or rejects when the child ends or `timeoutMs` passes. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no expected line within ${timeoutMs} ms`)), timeoutMs);
      const listener = (line: string): void => {
        if (match(line)) finish(undefined, line);
      };
      const finish = (err: Error | undefined, line?: string): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        if (err) reject(err);
        else resolve(line as string);
      };
      this.lineListeners.add(listener);
      void this.done.then(({ code }) =>
        finish(new Error(`the child ended (exit ${code}) first: ${this.stderr.trim() || this.stdout.trim()}`)),
      );
    });
  }

  /** Sends `signal` (SIGTERM lets it clean up) and resolves when it has ended; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill(signal);
    const grace = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.done;
    clearTimeout(grace);
  }

  /** Kills at once (synchronous cleanup paths: signal handlers, process exit). */
  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
