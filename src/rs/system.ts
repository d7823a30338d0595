// The host changes the real-server helpers make (`uvs rs`), in one place: iproute2 commands, sysctls written
// straight to /proc/sys, and the small state file each helper keeps so that `--undo` can put back what was
// there before. Everything acts on the network namespace of the calling process: /proc/sys/net and `ip`
// both follow it, which is how the lab runs the helpers inside its namespaces (`ip netns exec`).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the helpers keep their state; under /run, so a reboot (which undoes the changes too) clears it. */
export const DEFAULT_STATE_DIR = '/run/uvs/rs';

/** Bound on one `ip` command: it returns in milliseconds unless something is wrong. */
const IP_TIMEOUT_MS = 5_000;

/** An error meant for the user: one sentence saying what is wrong and what to do. */
export class RsError extends Error {
  override readonly name = 'RsError';
}

/** CAP_NET_ADMIN (linux/capability.h): what changing routes, addresses and net sysctls needs. */
const CAP_NET_ADMIN = 12;

/** Whether this process may change the network configuration (root, or CAP_NET_ADMIN in its effective set). */
export function hasNetAdmin(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** Runs `ip ARGS` and returns its stdout; a failure becomes an RsError quoting ip's own message. */
export function ip(args: readonly string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new RsError(
      code === 'ENOENT'
        ? 'uvs rs: the `ip` command (iproute2) is not installed; install iproute2'
        : `uvs rs: \`ip ${args.join(' ')}\` failed: ${r.error.message}`,
    );
  }
  if (r.status !== 0) {
    throw new RsError(`uvs rs: \`ip ${args.join(' ')}\` failed: ${r.stderr.trim() || `exit status ${r.status}`}`);
  }
  return r.stdout;
}

/** `ip -j ...` parsed; iproute2 prints nothing at all for an empty list. */
export function ipJson<T>(args: readonly string[]): T[] {
  const out = ip(['-j', ...args]).trim();
  return out === '' ? [] : (JSON.parse(out) as T[]);
}

/** A sysctl by its /proc/sys path below net/, e.g. `ipv4/conf/all/arp_ignore`. */
export function sysctlPath(key: string): string {
  return join('/proc/sys/net', key);
}

export function readSysctl(key: string): string {
  try {
    return readFileSync(sysctlPath(key), 'utf8').trim();
  } catch (err) {
    throw new RsError(`uvs rs: cannot read net.${key.replaceAll('/', '.')}: ${(err as Error).message}`);
  }
}

/** Writes a sysctl unless it already has that value; returns whether it changed. */
export function writeSysctl(key: string, value: string): boolean {
  if (readSysctl(key) === value) return false;
  try {
    writeFileSync(sysctlPath(key), value);
  } catch (err) {
    throw new RsError(`uvs rs: cannot set net.${key.replaceAll('/', '.')}=${value}: ${(err as Error).message}`);
  }
  return true;
}

/** The IPv4 addresses (with prefix) configured on `dev`. */
export function ipv4AddressesOf(dev: string): string[] {
  const links = ipJson<{ addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }> }>([
    '-4',
    'addr',
    'show',
    'dev',
    dev,
  ]);
  const out: string[] = [];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (a.family === 'inet' && a.local !== undefined) out.push(`${a.local}/${a.prefixlen ?? 32}`);
    }
  }
  return out;
}

/**
 * Identifies the calling process's network namespace (the inode of /proc/self/ns/net): namespaces share
 * /run, so the state file name must say which namespace it belongs to.
 */
export function netnsId(): string {
  return `net${statSync('/proc/self/ns/net').ino}`;
}

export function statePath(stateDir: string, mode: string): string {
  return join(stateDir, `${mode}-${netnsId()}.json`);
}

export function readState<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RsError(`uvs rs: cannot read the state file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RsError(`uvs rs: the state file ${path} is damaged; check the host by hand, then delete it`);
  }
}

/** Writes the state file atomically (temp file + rename), so a crash never leaves half a file. */
export function writeState(path: string, state: unknown): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function removeState(path: string): void {
  rmSync(path, { force: true });
}

/** Reads the current values of `keys`, for recording before they are changed. */
export function snapshotSysctls(keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = readSysctl(k);
  return out;
}

/** Puts recorded sysctl values back; returns the keys that changed. */
export function restoreSysctls(values: Record<string, string>): string[] {
  const changed: string[] = [];
  for (const [k, v] of Object.entries(values)) if (writeSysctl(k, v)) changed.push(k);
  return changed;
}
