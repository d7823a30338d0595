// Network-namespace harness for tests that move real packets (the shape of the kernel's
// tools/testing/selftests/netfilter/ipvs.sh). Every namespace it creates carries a prefix
// unique to the run, every address comes from 10.0.0.0/8 or 192.168.0.0/16 and lives only inside those
// namespaces, and cleanup() removes them all; it also runs from a process 'exit' handler, so a failing or
// interrupted test leaves nothing behind. A Node process cannot change its own namespace, so code that must
// run inside one runs as a child: `ip netns exec NAME node SCRIPT`, always with a time limit.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SENDER_OFFLOADS_OFF, setOffloads } from '../../src/io/offloads.js';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const isRoot = process.getuid?.() === 0;
const hasIp = spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0;
/** Namespace tests run only as root with iproute2 present; CI runs as root. */
export const canUseNetns = isRoot && hasIp;
/** Why namespace tests are skipped here, for the test titles. */
export const netnsSkipReason = !isRoot
  ? 'needs root (network namespaces and AF_PACKET)'
  : !hasIp
    ? 'needs iproute2 (`ip`)'
    : '';

/** Bound on any single `ip` command: they return in milliseconds unless something is wrong. */
const COMMAND_TIMEOUT_MS = 5_000;

const liveLabs = new Set<NetnsLab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.cleanup();
  });
}

/**
 * Throws unless `cidr` ("a.b.c.d/len") lies entirely inside 10.0.0.0/8 or 192.168.0.0/16: traffic of these
 * tests must never be addressed to anything outside the namespaces they build.
 */
export function assertPrivateCidr(cidr: string): void {
  const [addrText, lenText] = cidr.split('/');
  const addr = parseIpv4Address(addrText ?? '');
  const len = Number(lenText);
  if (addr === undefined || !Number.isInteger(len) || len < 0 || len > 32) {
    throw new Error(`harness: bad address ${cidr}`);
  }
  const in10 = addr >>> 24 === 10 && len >= 8;
  const in192 = addr >>> 16 === 0xc0a8 && len >= 16;
  if (!in10 && !in192) throw new Error(`harness: ${cidr} is outside 10.0.0.0/8 and 192.168.0.0/16`);
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** A running child in a namespace: its stdout lines as they come, and its end. */
export interface Child {
  /** Resolves with the first stdout line satisfying `match`, or rejects when the child ends first. */
  waitForLine(match: (line: string) => boolean): Promise<string>;
  done: Promise<ChildResult>;
  kill(): void;
}

export class NetnsLab {
  /** `uvs-<pid>-<random>-`: unique to this run, so parallel runs and leftovers cannot collide. */
  readonly prefix = `uvs-${process.pid}-${randomBytes(3).toString('hex')}-`;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<Child>();

  constructor() {
    installExitHook();
    removeStaleNamespaces();
    liveLabs.add(this);
  }

  /** Creates namespace `<prefix><name>` with lo up, and returns its full name. */
  addNamespace(name: string): string {
    const ns = this.prefix + name;
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Joins two namespaces with a veth pair (created inside `nsA`, so the host's own interface names are
   * never involved), gives each end an address, and brings both up.
   */
  addVeth(nsA: string, devA: string, cidrA: string, nsB: string, devB: string, cidrB: string): void {
    this.assertOwn(nsA);
    this.assertOwn(nsB);
    assertPrivateCidr(cidrA);
    assertPrivateCidr(cidrB);
    run('ip', ['-n', nsA, 'link', 'add', devA, 'type', 'veth', 'peer', 'name', devB, 'netns', nsB]);
    run('ip', ['-n', nsA, 'addr', 'add', cidrA, 'dev', devA]);
    run('ip', ['-n', nsB, 'addr', 'add', cidrB, 'dev', devB]);
    run('ip', ['-n', nsA, 'link', 'set', devA, 'up']);
    run('ip', ['-n', nsB, 'link', 'set', devB, 'up']);
  }

  /**
   * Turns checksum, TSO and GSO offloads on or off (`ethtool -K DEV tx rx tso gso`), as the measurements in
   * docs/design.md do, through the addon's ethtool ioctl (no ethtool program needed).
   */
  setOffloads(ns: string, dev: string, on: boolean): void {
    this.assertOwn(ns);
    setOffloads(ns, dev, on ? { tx: true, rx: true, tso: true, gso: true } : SENDER_OFFLOADS_OFF);
  }

  /** The MAC of `dev` in `ns` as a 48-bit number. */
  macOf(ns: string, dev: string): number {
    this.assertOwn(ns);
    const out = run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev]);
    const parsed = JSON.parse(out) as Array<{ address?: string }>;
    const mac = parseMac(parsed[0]?.address ?? '');
    if (mac === undefined) throw new Error(`harness: no MAC for ${dev} in ${ns}`);
    return mac;
  }

  /** Adds a permanent neighbour entry, so that a test's first packets do not wait for ARP. */
  addNeighbour(ns: string, dev: string, addr: string, mac: string): void {
    this.assertOwn(ns);
    assertPrivateCidr(`${addr}/32`);
    run('ip', ['-n', ns, 'neigh', 'replace', addr, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
  }

  /** Runs a command inside `ns` and returns its stdout. */
  exec(ns: string, cmd: string, args: string[]): string {
    this.assertOwn(ns);
    return run('ip', ['netns', 'exec', ns, cmd, ...args]);
  }

  /**
   * Starts `node script` inside `ns`. `config` reaches the child as JSON in UVS_CHILD_CONFIG; the child is
   * killed after `timeoutMs` whatever happens.
   */
  spawnNode(ns: string, script: string, config: unknown, timeoutMs: number): Child {
    this.assertOwn(ns);
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, script], {
      env: { ...process.env, UVS_CHILD_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let timedOut = false;
    const waiters: Array<{
      match: (line: string) => boolean;
      resolve: (l: string) => void;
      reject: (e: Error) => void;
    }> = [];
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        for (let i = waiters.length - 1; i >= 0; i--) {
          const w = waiters[i]!;
          if (w.match(line)) {
            waiters.splice(i, 1);
            w.resolve(line);
          }
        }
        nl = pending.indexOf('\n');
      }
    });
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    const done = new Promise<ChildResult>((resolve) => {
      proc.on('close', (code, signal) => {
        clearTimeout(timer);
        for (const w of waiters.splice(0)) {
          w.reject(new Error(`child ${script} ended (code ${code}) before the expected line; stderr: ${stderr}`));
        }
        resolve({ code, signal, stdout, stderr, timedOut });
      });
    });
    const child: Child = {
      waitForLine: (match) => new Promise((resolve, reject) => waiters.push({ match, resolve, reject })),
      done,
      kill: () => proc.kill('SIGKILL'),
    };
    this.children.add(child);
    void done.then(() => this.children.delete(child));
    return child;
  }

  /** Kills any child still running and deletes every namespace this lab made (their veths go with them). */
  cleanup(): void {
    for (const child of this.children) child.kill();
    this.children.clear();
    while (this.namespaces.length > 0) {
      const ns = this.namespaces.pop()!;
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
    }
    liveLabs.delete(this);
  }

  /** Namespaces this lab made and has not removed yet. */
  get made(): readonly string[] {
    return this.namespaces;
  }

  private assertOwn(ns: string): void {
    if (!this.namespaces.includes(ns)) throw new Error(`harness: ${ns} was not made by this lab`);
  }
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Names of the namespaces that exist now (`ip netns list`). */
export function listNamespaces(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.length > 0);
}

/**
 * Deletes namespaces left by earlier runs of this harness that were killed before their exit handler ran
 * (SIGKILL): names of the form `uvs-<pid>-<6 hex>-...` whose process no longer exists.
 */
export function removeStaleNamespaces(): void {
  for (const ns of listNamespaces()) {
    const m = /^uvs-(\d+)-[0-9a-f]{6}-/.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || existsSync(`/proc/${pid}`)) continue;
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: COMMAND_TIMEOUT_MS });
  }
}

let compiled: string | undefined;

/**
 * Compiles src/ into a temporary directory and returns the path of its JS, for child scripts (Node 20 does
 * not run TypeScript). A copy of the addon sits in `build` next to it, where src/native.ts looks.
 * Compiling fresh, rather than using dist/, keeps a stale build from testing old code.
 */
export function compileForChildren(): string {
  if (compiled !== undefined) return compiled;
  const out = mkdtempSync(join(tmpdir(), 'uvs-netns-'));
  // Readable by all: one test runs a child that has given up root.
  chmodSync(out, 0o755);
  const dist = join(out, 'dist');
  const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');
  // Type errors elsewhere in the tree still emit JS; only a missing output is fatal here.
  spawnSync(
    tsc,
    ['-p', join(repoRoot, 'tsconfig.json'), '--outDir', dist, '--sourceMap', 'false', '--declaration', 'false'],
    {
      stdio: 'ignore',
      timeout: 60_000,
    },
  );
  if (!existsSync(join(dist, 'io', 'afpacket.js'))) throw new Error(`harness: compiling src/ into ${dist} failed`);
  // A copy of the addon, not a link into the checkout: the child that has given up root cannot pass through a
  // checkout in a private directory (root's home is 0700), and it needs the addon, not the dependencies.
  // Without a built addon the children say so themselves, as they would from the checkout.
  const addon = join('build', 'Release', 'uvs_native.node');
  mkdirSync(join(out, 'build', 'Release'), { recursive: true });
  if (existsSync(join(repoRoot, addon))) copyFileSync(join(repoRoot, addon), join(out, addon));
  // The compiled tree imports its dependencies (yaml, pino) by package name.
  symlinkSync(join(repoRoot, 'node_modules'), join(out, 'node_modules'));
  process.on('exit', () => rmSync(out, { recursive: true, force: true }));
  compiled = dist;
  return dist;
}

/** Path of a child script in test/netns/children/. */
export function childScript(name: string): string {
  return join(repoRoot, 'test', 'netns', 'children', name);
}
