// `uvs lab [nat|dr|tun] [-n N] [--keep]`: the seed tutorial's experiment in one command. It builds the
// topology in network namespaces, sets up the real servers with `uvs rs`, starts web01 and web02, starts the
// uvs director, makes N HTTP requests from the client to the VIP, prints each reply and the director's
// `-Ln` and `--stats` tables, and tears everything down (also on failure, SIGINT and SIGTERM).
// `uvs lab --remove NAME` takes down a lab that --keep left up (src/lab/remove.ts). `--empty` starts the daemon
// with no rules, for the learner to type the seed's commands with uvsadm; `uvs lab exec` (src/lab/exec.ts)
// runs a command on one of the lab's hosts.
import { statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sendQuery } from '../control/client.js';
import { hasNetAdmin } from '../rs/system.js';
import { execInLab, LAB_HOSTS, LAB_NAME_ENV, LabExecError, resolveExecTarget, runningLabs } from './exec.js';
import { NsChild, nsRun } from './netns.js';
import { LabRemoveError, removeLab } from './remove.js';
import {
  buildTopology,
  FORWARD_FLAG,
  LAB_ADDRESSES,
  LAB_MODES,
  type LabMode,
  type LabTopology,
  SERVICE_PORT,
} from './topology.js';

export const LAB_USAGE = `Usage: uvs lab [nat|dr|tun] [-n N] [--timeout-ms MS] [--keep]
       uvs lab nat|dr|tun --empty [--keep]
       uvs lab exec [NAME] HOST COMMAND...
       uvs lab --remove NAME

Builds the seed tutorial's LVS topology (client, director, web01, web02) in network namespaces, runs N HTTP
requests from the client to the VIP (default 6, mode nat), prints the replies and the director's tables,
and removes everything. --keep leaves it up, running, and prints its name; --remove NAME stops that lab's
daemon, web servers and helpers, and removes its namespaces and files.

--empty starts the director with no rules and prints how to reach it: \`export UVS_SOCKET=...\` makes
uvsadm in your shell talk to the lab's daemon, so the tutorial's ipvsadm commands work typed as uvsadm.
The director owns the tutorial's VIPs on its client-facing interface: ${LAB_ADDRESSES.vip} (NAT, DR, TUN)
and ${LAB_ADDRESSES.drVip} (DR); the real servers are set up for them. Without --keep it stays in the
foreground until Ctrl-C, then removes everything.

exec runs COMMAND on HOST (${LAB_HOSTS.join(', ')}) of the lab NAME, with UVS_SOCKET set, and exits with its
status, e.g. \`uvs lab exec NAME client curl -s http://${LAB_ADDRESSES.drVip}/\`. NAME may be left out when
${LAB_NAME_ENV} is set (--keep prints it) or when exactly one lab is running.
`;

/** Bounds on the traffic: the lab must end even when the director forwards nothing. */
const MAX_REQUESTS = 1000;
const DEFAULT_REQUESTS = 6;
const DEFAULT_REQUEST_TIMEOUT_MS = 2_000;
/** How long a child may take to say it is ready. */
const READY_TIMEOUT_MS = 10_000;
/** Web servers and decapsulators stop by themselves after this, even if the lab is killed with SIGKILL. */
const CHILD_LIFETIME_S = 3_600;

export interface LabOptions {
  requests: number;
  requestTimeoutMs: number;
  keep: boolean;
  /** No rules and no requests: the learner types them (uvsadm, `uvs lab exec`). */
  empty?: boolean;
  /** The compiled JS directory (dist/) holding cli/uvs.js and lab/*.js; default: the one this file is in. */
  distDir?: string;
  out: (line: string) => void;
}

/** The running uvs director, as the lab needs it. */
export interface Director {
  stop(): Promise<void>;
  /** SIGHUP: the daemon re-reads its rules file and applies the difference. */
  reload(): void;
}

/** One estimator period (2 s) and a little: see runLab. */
const STATS_REFRESH_MS = 2_200;
/** How long the director may take to open its interfaces and its control socket. */
const DIRECTOR_READY_TIMEOUT_MS = 15_000;

/**
 * Starts `uvs daemon --config topology.configPath` in the director namespace and waits until its control
 * socket answers; if it exits first, its own error message (preflight, config, rules) is the lab's error.
 * The daemon takes its socket before it opens the interfaces, and answers only once they are open.
 */
export async function startDirector(topology: LabTopology, distDir: string, children: NsChild[]): Promise<Director> {
  const child = new NsChild(
    topology.director.ns,
    [process.execPath, join(distDir, 'cli', 'uvs.js'), 'daemon', '--config', topology.configPath],
    CHILD_LIFETIME_S * 1000,
  );
  children.push(child);
  let exited = false;
  void child.done.then(() => {
    exited = true;
  });
  const deadline = Date.now() + DIRECTOR_READY_TIMEOUT_MS;
  for (;;) {
    if (exited) throw new Error(`the uvs daemon exited at start:\n${child.stderr.trim()}`);
    if (socketExists(topology.controlSocket) && (await answers(topology.controlSocket))) break;
    if (Date.now() > deadline) throw new Error(`the uvs daemon did not open ${topology.controlSocket} in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { stop: () => child.stop(), reload: () => child.proc.kill('SIGHUP') };
}

/** Whether the daemon answers a counters query: it does once start-up is complete. */
async function answers(socketPath: string): Promise<boolean> {
  try {
    const reply = await sendQuery(
      socketPath,
      { query: 'counters' },
      { connectTimeoutMs: 1_000, responseTimeoutMs: 5_000 },
    );
    return reply.exitCode === 0;
  } catch {
    return false;
  }
}

/** The lab directory is new for each run, so the socket file appears exactly when the daemon listens. */
function socketExists(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

function defaultDistDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

/** Runs `node <distDir>/cli/<tool>.js ARGS` inside the director namespace and returns its output. */
function directorTool(topology: LabTopology, distDir: string, tool: string, args: string[]): string {
  return nsRun(topology.director.ns, 'env', [
    `UVS_SOCKET=${topology.controlSocket}`,
    process.execPath,
    join(distDir, 'cli', `${tool}.js`),
    ...args,
  ]);
}

/** The per-mode real-server setup, run inside each server's namespace. */
export async function setUpRealServers(
  topology: LabTopology,
  distDir: string,
  children: NsChild[],
  out: (line: string) => void,
): Promise<void> {
  const uvs = join(distDir, 'cli', 'uvs.js');
  const stateDir = join(topology.dir, 'rs');
  for (const s of topology.servers) {
    if (topology.mode === 'tun') {
      // One decapsulator per real server: uvs rs tun serves one VIP, and the TUN director owns one.
      const child = new NsChild(
        s.ns,
        [process.execPath, uvs, 'rs', 'tun', '--vip', topology.vip, '--dev', s.dev, '--state-dir', stateDir],
        CHILD_LIFETIME_S * 1000,
      );
      children.push(child);
      await child.waitForLine((l) => l.includes('decapsulating'), READY_TIMEOUT_MS);
      out(`${s.name}: uvs rs tun --vip ${topology.vip} (user-space IPIP decapsulator running)`);
    } else if (topology.mode === 'nat') {
      const args = ['rs', 'nat', '--dip', topology.dip];
      nsRun(s.ns, process.execPath, [uvs, ...args, '--state-dir', stateDir]);
      out(`${s.name}: uvs ${args.join(' ')}`);
    } else {
      // uvs rs dr records one VIP per state directory; the lab's real servers hold every VIP the director owns.
      for (const [i, vip] of topology.vips.entries()) {
        const args = ['rs', 'dr', '--vip', vip];
        nsRun(s.ns, process.execPath, [uvs, ...args, '--state-dir', i === 0 ? stateDir : join(stateDir, vip)]);
        out(`${s.name}: uvs ${args.join(' ')}`);
      }
    }
  }
}

export async function startWebServers(
  topology: LabTopology,
  distDir: string,
  children: NsChild[],
  out: (line: string) => void,
): Promise<void> {
  const script = join(distDir, 'lab', 'webserver.js');
  for (const s of topology.servers) {
    const child = new NsChild(
      s.ns,
      [
        process.execPath,
        script,
        '--name',
        s.name,
        '--port',
        String(topology.port),
        '--max-seconds',
        String(CHILD_LIFETIME_S),
      ],
      CHILD_LIFETIME_S * 1000,
    );
    children.push(child);
    await child.waitForLine((l) => l.includes('"event":"ready"'), READY_TIMEOUT_MS);
    out(`${s.name}: HTTP server answering "${s.name}" on 0.0.0.0:${topology.port}`);
  }
}

/** The client's N requests, each reply printed as it comes; resolves with how many succeeded. */
async function runRequests(topology: LabTopology, distDir: string, options: LabOptions): Promise<number> {
  const url = `http://${topology.vip}:${topology.port}/`;
  options.out(`client ${topology.client.cip}: ${options.requests} requests to ${url}`);
  const child = new NsChild(
    topology.client.ns,
    [
      process.execPath,
      join(distDir, 'lab', 'http-client.js'),
      '--url',
      url,
      '--count',
      String(options.requests),
      '--timeout-ms',
      String(options.requestTimeoutMs),
    ],
    options.requests * (options.requestTimeoutMs + 500) + READY_TIMEOUT_MS,
  );
  let ok = 0;
  child.onLine((line) => {
    let event: { event?: string; i?: number; body?: string; ms?: number; error?: string };
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.event === 'reply') {
      ok++;
      options.out(`  ${event.i}: ${event.body} (${event.ms} ms)`);
    } else if (event.event === 'error') {
      options.out(`  ${event.i}: no reply: ${event.error}`);
    }
  });
  await child.done;
  if (child.timedOut) options.out('  the client was stopped: it ran past its time limit');
  return ok;
}

export async function runLab(mode: LabMode, options: LabOptions): Promise<number> {
  const out = options.out;
  const distDir = options.distDir ?? defaultDistDir();
  const children: NsChild[] = [];
  let topology: LabTopology | undefined;
  let director: Director | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const c of children) c.kill();
    topology?.teardown();
    out(`uvs lab: stopped by ${signal}; namespaces removed`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    topology = buildTopology(mode, { log: out });
    if (options.empty) writeFileSync(topology.rulesPath, '');
    for (const note of topology.notes) out(`note: ${note}`);
    await setUpRealServers(topology, distDir, children, out);
    await startWebServers(topology, distDir, children, out);
    out(`director: starting uvs with ${topology.configPath}`);
    director = await startDirector(topology, distDir, children);
    if (options.empty) {
      printEmptyLabGuide(topology, options.keep, out);
      // In the foreground the lab lives until Ctrl-C (onSignal tears it down), or as long as its children.
      if (!options.keep) await new Promise((resolve) => setTimeout(resolve, CHILD_LIFETIME_S * 1000));
      return 0;
    }
    const ok = await runRequests(topology, distDir, options);
    out(`${ok} of ${options.requests} requests answered`);
    // IPVS refreshes the counters -L --stats shows when its estimator runs, every 2 s (ip_vs_est.c); wait
    // for one run so the table shows this lab's traffic.
    await new Promise((resolve) => setTimeout(resolve, STATS_REFRESH_MS));
    out('uvsadm -Ln');
    out(directorTool(topology, distDir, 'uvsadm', ['-Ln']).trimEnd());
    out('uvsadm -Ln --stats');
    out(directorTool(topology, distDir, 'uvsadm', ['-Ln', '--stats']).trimEnd());
    return ok === options.requests ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (options.keep && topology) {
      topology.keep();
      for (const c of children) c.proc.unref();
      out(`kept as ${topology.name}; remove it with: ${topology.removeCommand()}`);
    } else {
      await director?.stop();
      await Promise.all(children.map((c) => c.stop()));
      topology?.teardown();
      if (topology) out('torn down: every lab namespace removed');
    }
  }
}

/** What the learner types next: how uvsadm reaches this daemon, and the tutorial's commands for the mode. */
function printEmptyLabGuide(topology: LabTopology, keep: boolean, out: (line: string) => void): void {
  const vip = topology.mode === 'dr' ? LAB_ADDRESSES.drVip : topology.vip;
  const service = `${vip}:${SERVICE_PORT}`;
  // The seed gives NAT real servers a port and DR ones none (DR cannot map ports); both are accepted.
  const rip = (r: string): string => (topology.mode === 'nat' ? `${r}:${SERVICE_PORT}` : r);
  out(
    `the director has no rules; it owns VIP ${topology.vips.join(' and ')} (/32, ${topology.director.interfaces[0]?.name}, facing the client)`,
  );
  out(
    `the real servers are set up for ${topology.mode.toUpperCase()} (${topology.servers.map((s) => s.name).join(', ')})`,
  );
  out(`for uvsadm in ${keep ? 'your' : 'another'} shell to talk to this lab, run:`);
  out(`  export UVS_SOCKET=${topology.controlSocket}`);
  out(`  export ${LAB_NAME_ENV}=${topology.name}`);
  out("then the tutorial's commands, with uvsadm for ipvsadm:");
  out(`  uvsadm -A -t ${service} -s rr`);
  for (const s of topology.servers) out(`  uvsadm -a -t ${service} -r ${rip(s.rip)} ${FORWARD_FLAG[topology.mode]}`);
  out('  uvsadm -Ln');
  out(`  uvs lab exec ${topology.name} client curl -s http://${vip}/`);
  if (!keep) out('the lab runs until Ctrl-C; then it removes everything');
}

export async function labMain(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let parsed: {
    values: { n?: string; 'timeout-ms'?: string; keep?: boolean; empty?: boolean; remove?: string; help?: boolean };
    positionals: string[];
  };
  if (args[0] === 'exec') return execMain(args.slice(1), out, err);
  try {
    parsed = parseArgs({
      args,
      options: {
        n: { type: 'string', short: 'n' },
        'timeout-ms': { type: 'string' },
        keep: { type: 'boolean' },
        empty: { type: 'boolean' },
        remove: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    err.write(`uvs lab: ${(e as Error).message}\n${LAB_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out.write(LAB_USAGE);
    return 0;
  }
  if (values.remove !== undefined) {
    if (
      positionals.length > 0 ||
      values.keep ||
      values.empty ||
      values.n !== undefined ||
      values['timeout-ms'] !== undefined
    ) {
      err.write(`uvs lab: --remove takes only the lab's name\n${LAB_USAGE}`);
      return 2;
    }
    return removeMain(values.remove, out, err);
  }
  const mode = (positionals[0] ?? 'nat') as LabMode;
  if (!LAB_MODES.includes(mode) || positionals.length > 1) {
    err.write(`uvs lab: unknown mode '${positionals.join(' ')}'\n${LAB_USAGE}`);
    return 2;
  }
  if (values.empty && (values.n !== undefined || values['timeout-ms'] !== undefined)) {
    err.write('uvs lab: --empty makes no requests; -n and --timeout-ms do not apply\n');
    return 2;
  }
  const requests = values.n === undefined ? DEFAULT_REQUESTS : Number(values.n);
  if (!Number.isInteger(requests) || requests < 1 || requests > MAX_REQUESTS) {
    err.write(`uvs lab: -n must be a whole number from 1 to ${MAX_REQUESTS}\n`);
    return 2;
  }
  const requestTimeoutMs =
    values['timeout-ms'] === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : Number(values['timeout-ms']);
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1 || requestTimeoutMs > 60_000) {
    err.write('uvs lab: --timeout-ms must be a whole number of milliseconds from 1 to 60000\n');
    return 2;
  }
  if (!hasNetAdmin()) {
    err.write('uvs lab: building network namespaces needs root or CAP_NET_ADMIN; run it with sudo\n');
    return 1;
  }
  return runLab(mode, {
    requests,
    requestTimeoutMs,
    keep: values.keep ?? false,
    empty: values.empty ?? false,
    out: (line) => out.write(`${line}\n`),
  });
}

async function execMain(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (args[0] === '-h' || args[0] === '--help') {
    out.write(LAB_USAGE);
    return 0;
  }
  if (!hasNetAdmin()) {
    err.write('uvs lab exec: entering network namespaces needs root or CAP_NET_ADMIN; run it with sudo\n');
    return 1;
  }
  try {
    return await execInLab(resolveExecTarget(args, process.env[LAB_NAME_ENV], runningLabs()));
  } catch (e) {
    if (!(e instanceof LabExecError)) throw e;
    err.write(`uvs lab exec: ${e.message}\n`);
    return e.exitCode;
  }
}

async function removeMain(name: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (!hasNetAdmin()) {
    err.write('uvs lab: removing network namespaces needs root or CAP_NET_ADMIN; run it with sudo\n');
    return 1;
  }
  try {
    const removed = await removeLab(name);
    for (const p of removed.stopped) out.write(`stopped process ${p.pid} (${p.by})\n`);
    out.write(`removed ${name}: namespaces ${removed.namespaces.join(' ')}; files ${removed.dirs.join(' ')}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof LabRemoveError)) throw e;
    err.write(`uvs lab: ${e.message}\n`);
    return 1;
  }
}
