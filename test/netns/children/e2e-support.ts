// Shared driver of the end-to-end tests (test/netns/e2e-*.test.ts): one lab topology per mode, built and run
// exactly as `uvs lab` does (buildTopology, the `uvs rs` helpers, the lab's web servers, `uvs daemon`), plus
// a long-lived client agent (e2e-client.mjs) in the client namespace, uvsadm against the daemon's control
// socket, and small parsers for what uvsadm prints. Everything started here is stopped by stopModeLab(),
// and buildTopology() itself removes its namespaces on process exit if a test dies half-way.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runUvsadm } from '../../../src/control/client.js';
import type { ControlResponse } from '../../../src/control/protocol.js';
import { setOffloads } from '../../../src/io/offloads.js';
import { NsChild } from '../../../src/lab/netns.js';
import { type Director, setUpRealServers, startDirector, startWebServers } from '../../../src/lab/run.js';
import { buildTopology, type LabMode, type LabTopology } from '../../../src/lab/topology.js';
import { childScript, compileForChildren } from '../harness.js';

/** Children of a test stop by themselves after this, even if the test process is killed. */
const CHILD_LIFETIME_MS = 180_000;
/** Bound on one agent operation that has no time limit of its own. */
const DEFAULT_CALL_TIMEOUT_MS = 15_000;

/** The client agent in the client namespace: one JSON request per line, one JSON answer per request. */
export class ClientAgent {
  private readonly proc: ChildProcess;
  private nextId = 1;
  private pending = '';
  private stderr = '';
  private readonly waiting = new Map<number, (answer: Record<string, unknown>) => void>();
  private readonly ready: Promise<void>;

  constructor(ns: string) {
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, childScript('e2e-client.mjs')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, UVS_AGENT_MAX_SECONDS: String(CHILD_LIFETIME_MS / 1000) },
    });
    let markReady: () => void = () => {};
    this.ready = new Promise((resolve) => {
      markReady = resolve;
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.pending += chunk;
      let nl = this.pending.indexOf('\n');
      while (nl >= 0) {
        const answer = JSON.parse(this.pending.slice(0, nl)) as Record<string, unknown>;
        this.pending = this.pending.slice(nl + 1);
        if (answer.event === 'ready') markReady();
        const resolve = this.waiting.get(answer.id as number);
        this.waiting.delete(answer.id as number);
        resolve?.(answer);
        nl = this.pending.indexOf('\n');
      }
    });
  }

  /** Sends one operation and resolves with its answer; rejects when it fails or takes longer than `limitMs`. */
  async call<T>(op: string, args: Record<string, unknown>, limitMs = DEFAULT_CALL_TIMEOUT_MS): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`client agent: ${op} gave no answer within ${limitMs} ms; stderr: ${this.stderr}`));
      }, limitMs);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.proc.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
    if (answer.ok !== true) throw new Error(`client agent: ${op} failed: ${String(answer.error)}`);
    return answer as T;
  }

  close(): void {
    this.proc.stdin?.end();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

export interface HttpReply {
  status: number;
  servedBy: string;
  body: string;
  remote: string;
  remotePort: number;
}

export interface EchoResult {
  status: number;
  servedBy: string;
  remote: string;
  remotePort: number;
  sentBytes: number;
  sentHash: string;
  receivedBytes: number;
  receivedHash: string;
}

export interface UdpReply {
  body: string;
  from: string;
  fromPort: number;
}

export interface ModeLab {
  readonly topology: LabTopology;
  readonly agent: ClientAgent;
  readonly distDir: string;
  /** http://VIP:80/ */
  readonly url: string;
  /** Every child started for this lab (servers, decapsulators, the director); stopModeLab() ends them. */
  readonly children: NsChild[];
  director: Director | undefined;
}

export interface ModeLabOptions {
  /** Replaces the rules file buildTopology() wrote (the mode's two `-a` rules); '' starts with no rules. */
  rules?: string;
  /** Written as the daemon's state file before it starts, as uvsadm would have left it (it wins over `rules`). */
  state?: string;
  /**
   * Turns GRO on on the director's capture interfaces before the daemon starts, as on a physical NIC (a veth
   * starts with it off): the daemon's io.gro must turn it off again.
   */
  directorGro?: boolean;
  /**
   * Leaves the hosts' checksum, TSO and GSO offloads on (the veth default): the client and the real servers
   * then hand the director 64 KB TCP super-frames, which uvs must cut into segments.
   */
  senderOffloads?: boolean;
  /** The director's receive path (io.rx); the lab's config says mmsg. */
  rx?: 'mmsg' | 'ring';
  /** Rewrites the director's config file (YAML text) before the daemon starts. */
  editConfig?: (yaml: string) => string;
}

/** Builds the mode's topology and starts everything `uvs lab` starts, plus the client agent. */
export async function startModeLab(mode: LabMode, options: ModeLabOptions = {}): Promise<ModeLab> {
  const distDir = compileForChildren();
  const topology = buildTopology(mode, { offloadsOff: options.senderOffloads !== true });
  const children: NsChild[] = [];
  const lab: ModeLab = {
    topology,
    agent: new ClientAgent(topology.client.ns),
    distDir,
    url: `http://${topology.vip}:${topology.port}/`,
    children,
    director: undefined,
  };
  try {
    if (options.rules !== undefined) writeFileSync(topology.rulesPath, options.rules);
    if (options.state !== undefined) writeFileSync(join(topology.dir, 'rules.state'), options.state);
    if (options.rx === 'ring') {
      const config = readFileSync(topology.configPath, 'utf8');
      if (!/rx: mmsg/.test(config)) throw new Error('e2e: the lab config names no rx: mmsg to replace');
      writeFileSync(topology.configPath, config.replace(/rx: mmsg/, 'rx: ring'));
    }
    if (options.editConfig !== undefined) {
      writeFileSync(topology.configPath, options.editConfig(readFileSync(topology.configPath, 'utf8')));
    }
    if (options.directorGro === true) {
      for (const i of topology.director.interfaces) setOffloads(topology.director.ns, i.name, { gro: true });
    }
    const quiet = (): void => {};
    await setUpRealServers(topology, distDir, children, quiet);
    await startWebServers(topology, distDir, children, quiet);
    lab.director = await startDirector(topology, distDir, children);
    return lab;
  } catch (err) {
    await stopModeLab(lab);
    throw err;
  }
}

/** Stops every child, then removes the namespaces and the lab directory. Safe to call twice. */
export async function stopModeLab(lab: ModeLab | undefined): Promise<void> {
  if (lab === undefined) return;
  lab.agent.close();
  await lab.director?.stop();
  await Promise.all(lab.children.map((c) => c.stop('SIGTERM', 2_000)));
  lab.topology.teardown();
}

/** A UDP echo server (children/udp-echo.mjs) in each real server's namespace, bound to `host` (default: the VIP). */
export async function startUdpEchoServers(lab: ModeLab, port: number, host = lab.topology.vip): Promise<void> {
  for (const s of lab.topology.servers) {
    const child = new NsChild(s.ns, [process.execPath, childScript('udp-echo.mjs')], CHILD_LIFETIME_MS, {
      ...process.env,
      UVS_CHILD_CONFIG: JSON.stringify({ name: s.name, host, port, maxSeconds: CHILD_LIFETIME_MS / 1000 }),
    });
    lab.children.push(child);
    await child.waitForLine((l) => l.includes('"event":"ready"'), 10_000);
  }
}

/** uvsadm's whole logic (src/control/client.ts runUvsadm, what the CLI runs) against this lab's daemon. */
export function uvsadm(lab: ModeLab, args: readonly string[], stdin = ''): Promise<ControlResponse> {
  return runUvsadm(args, {
    socketEnv: lab.topology.controlSocket,
    readStdin: async () => stdin,
    send: { connectTimeoutMs: 2_000, responseTimeoutMs: 10_000 },
  });
}

/** The uvsadm command itself, run inside the director namespace as an operator would. */
export function uvsadmCli(
  lab: ModeLab,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return directorCli(lab, 'uvsadm', args);
}

/** `uvs ARGS` or `uvsadm ARGS` inside the director namespace, with UVS_SOCKET naming the lab daemon's socket. */
export function directorCli(
  lab: ModeLab,
  program: 'uvs' | 'uvsadm',
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      [
        'netns',
        'exec',
        lab.topology.director.ns,
        'env',
        `UVS_SOCKET=${lab.topology.controlSocket}`,
        process.execPath,
        join(lab.distDir, 'cli', `${program}.js`),
        ...args,
      ],
      { encoding: 'utf8', timeout: 15_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs uvsadm and throws with its message unless it exits 0. */
export async function uvsadmOk(lab: ModeLab, args: readonly string[], stdin = ''): Promise<string> {
  const r = await uvsadm(lab, args, stdin);
  if (r.exitCode !== 0) throw new Error(`uvsadm ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/**
 * The real server a connection from `source` ("CIP:port") was scheduled to, read from `uvsadm -Lnc`
 * (pro expire state source virtual destination).
 */
export function destinationOf(connListing: string, source: string): string | undefined {
  for (const line of connListing.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] === source) return fields[5];
  }
  return undefined;
}

export interface ServiceStats {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

/** The service rows of `uvsadm -Ln --stats --exact`, by "PROTO addr:port". */
export function serviceStats(listing: string): Map<string, ServiceStats> {
  const rows = new Map<string, ServiceStats>();
  for (const line of listing.split('\n')) {
    const f = line.trim().split(/\s+/);
    if ((f[0] !== 'TCP' && f[0] !== 'UDP') || f.length !== 7) continue;
    const [conns, inPkts, outPkts, inBytes, outBytes] = f.slice(2).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    rows.set(`${f[0]} ${f[1]}`, { conns, inPkts, outPkts, inBytes, outBytes });
  }
  return rows;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
