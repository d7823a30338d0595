// `npm run soak`: the daemon left running under faults, as an operator would leave it. It builds the lab's NAT
// topology in network namespaces (client, director running `uvs daemon`, web01/web02 with HTTP and UDP
// services), runs a steady mix of TCP and UDP from the client for the whole run, and meanwhile, in turn:
//   - takes the inside link (eth1) down and up,
//   - changes the rules with uvsadm (weights, a destination added and deleted),
//   - sends SIGHUP (the rules file is re-applied as a diff),
//   - holds the control socket with clients that never read their answer or never finish their request,
//     while uvsadm must still answer,
//   - takes the outside link (eth0) down and up.
// At the end it reports the daemon's RSS and open descriptors (start, end, highest), the requests and
// datagrams lost inside the link-down windows and outside them, and the daemon's own counters. It exits
// non-zero when the daemon died, when anything was lost outside a link-down window, when uvsadm went
// unanswered, or when descriptors grew.
//
//   node bench/soak/run.mjs [--minutes 10] [--period-s 30] [--no-write]
//
// Needs root and `npm run build` (it runs the compiled dist/). All traffic stays inside the namespaces it
// makes, and every namespace is removed at the end, also on failure or Ctrl-C.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(repo, 'dist');
const here = dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'period-s': { type: 'string', default: '30' },
    'no-write': { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
const periodS = Number(values['period-s']);
if (!(minutes > 0 && minutes <= 120)) throw new Error('--minutes must be a number from 0 to 120');
if (!(periodS >= 5 && periodS <= 600)) throw new Error('--period-s must be a number of seconds from 5 to 600');
if (process.getuid?.() !== 0) {
  console.error('soak: needs root (network namespaces)');
  process.exit(2);
}
try {
  readFileSync(join(dist, 'lab', 'topology.js'));
} catch {
  console.error('soak: dist/ is missing; run `npm run build` first');
  process.exit(2);
}

const { buildTopology } = await import(join(dist, 'lab', 'topology.js'));
const { setUpRealServers, startWebServers, startDirector } = await import(join(dist, 'lab', 'run.js'));
const { NsChild, nsRun } = await import(join(dist, 'lab', 'netns.js'));

const UDP_PORT = 7000;
/** The client's pace: one GET and one datagram every this many ms. */
const INTERVAL_MS = 50;
const REQUEST_TIMEOUT_MS = 1_000;
/** How long a link stays down, and how long after it comes back losses still count as the fault's. */
const LINK_DOWN_MS = 300;
const LINK_GRACE_MS = 2_000;
/** How long the stalled control clients are held, and how fast uvsadm must answer meanwhile. */
const STALL_MS = 10_000;
const UVSADM_DEADLINE_MS = 2_000;

const log = (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const children = [];
let topology;
const cleanup = () => {
  for (const c of children) c.kill?.();
  topology?.teardown();
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

function daemonSample(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: rssKiB / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function uvsadm(args) {
  const t0 = Date.now();
  const res = spawnSync(
    'ip',
    ['netns', 'exec', topology.director.ns, process.execPath, join(dist, 'cli', 'uvsadm.js'), ...args],
    {
      encoding: 'utf8',
      timeout: 10_000,
      env: { ...process.env, UVS_SOCKET: topology.controlSocket },
    },
  );
  return { code: res.status, ms: Date.now() - t0, stdout: res.stdout, stderr: res.stderr };
}

function setLink(dev, state) {
  nsRun(topology.director.ns, 'ip', ['link', 'set', dev, state]);
}

const failures = [];
const linkWindows = [];
const uvsadmTimes = [];

async function flap(dev) {
  const start = Date.now();
  setLink(dev, 'down');
  await sleep(LINK_DOWN_MS);
  setLink(dev, 'up');
  linkWindows.push([start, Date.now() + LINK_GRACE_MS]);
  log(`flapped ${dev}`);
}

async function changeRules() {
  const vip = topology.vip;
  const [rip1] = topology.servers.map((s) => s.rip);
  const steps = [
    ['-e', '-t', `${vip}:80`, '-r', `${rip1}:80`, '-m', '-w', '3'],
    ['-a', '-t', `${vip}:80`, '-r', '192.168.1.202:80', '-m', '-w', '0'],
    ['-d', '-t', `${vip}:80`, '-r', '192.168.1.202:80'],
    ['-e', '-t', `${vip}:80`, '-r', `${rip1}:80`, '-m', '-w', '1'],
  ];
  for (const args of steps) {
    const r = uvsadm(args);
    uvsadmTimes.push(r.ms);
    if (r.code !== 0) failures.push(`uvsadm ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
  }
  log('uvsadm: weight up, destination added and deleted, weight back');
}

async function reload(director) {
  director.reload();
  await sleep(500);
  log('SIGHUP');
}

async function stallControl() {
  const sockets = [];
  const open = (payload) =>
    new Promise((resolve) => {
      const s = createConnection(topology.controlSocket, () => {
        s.write(payload);
        // Never read: the answer (or the rest of the request) is left hanging.
        s.pause();
        resolve();
      });
      s.on('error', () => resolve());
      sockets.push(s);
    });
  await open(`${JSON.stringify({ argv: ['-S', '-n'], stdin: '' })}\n`);
  await open('{"argv": ["-L", "-n"');
  const end = Date.now() + STALL_MS;
  let answered = 0;
  while (Date.now() < end) {
    const r = uvsadm(['-Ln']);
    uvsadmTimes.push(r.ms);
    if (r.code !== 0 || r.ms > UVSADM_DEADLINE_MS) {
      failures.push(`uvsadm -Ln during a stalled control client: exit ${r.code} after ${r.ms} ms`);
      break;
    }
    answered++;
    await sleep(1_000);
  }
  for (const s of sockets) s.destroy();
  log(`two stalled control clients held ${STALL_MS / 1000} s; uvsadm answered ${answered} times meanwhile`);
}

function inWindow(t) {
  return linkWindows.some(([a, b]) => t >= a && t <= b);
}

function tally(events) {
  let ok = 0;
  let lostInFault = 0;
  let lostOutside = 0;
  for (const [t, good] of events) {
    if (good) ok++;
    else if (inWindow(t)) lostInFault++;
    else lostOutside++;
  }
  return { total: events.length, ok, lostInFault, lostOutside };
}

const durationMs = minutes * 60_000;
const commit =
  spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repo, encoding: 'utf8' }).stdout.trim() || 'unknown';
let exitCode = 0;
try {
  topology = buildTopology('nat', { log: () => {} });
  // The UDP service lives in the rules file, so that SIGHUP (which applies the file) keeps it.
  const udpRules = [`-A -u ${topology.vip}:${UDP_PORT} -s rr`]
    .concat(topology.servers.map((s) => `-a -u ${topology.vip}:${UDP_PORT} -r ${s.rip}:${UDP_PORT} -m -w 1`))
    .join('\n');
  appendFileSync(topology.rulesPath, `${udpRules}\n`);
  const quiet = () => {};
  await setUpRealServers(topology, dist, children, quiet);
  await startWebServers(topology, dist, children, quiet);
  for (const s of topology.servers) {
    const echo = new NsChild(s.ns, [process.execPath, join(here, 'udp-echo.mjs')], durationMs + 120_000, {
      ...process.env,
      UVS_SOAK_ECHO: JSON.stringify({ name: s.name, port: UDP_PORT, maxSeconds: durationMs / 1000 + 120 }),
    });
    children.push(echo);
    await echo.waitForLine((l) => l.includes('ready'), 10_000);
  }
  const director = await startDirector(topology, dist, children);
  const daemonProc = children[children.length - 1];
  const pid = daemonProc.proc.pid;
  const first = daemonSample(pid);
  let highest = { ...first };
  log(`director pid ${pid}: RSS ${first.rssMiB.toFixed(1)} MiB, ${first.fds} fds; soaking ${minutes} min`);

  const client = new NsChild(topology.client.ns, [process.execPath, join(here, 'client.mjs')], durationMs + 60_000, {
    ...process.env,
    UVS_SOAK_CLIENT: JSON.stringify({
      url: `http://${topology.vip}:${topology.port}/`,
      udpHost: topology.vip,
      udpPort: UDP_PORT,
      durationMs,
      intervalMs: INTERVAL_MS,
      timeoutMs: REQUEST_TIMEOUT_MS,
      udpSockets: 16,
    }),
  });
  children.push(client);

  const faults = [
    () => flap('eth1'),
    () => changeRules(),
    () => reload(director),
    () => stallControl(),
    () => flap('eth0'),
  ];
  const started = Date.now();
  // Faults stop one period before the end, so the last ones' effects show in the client's record.
  for (let k = 0; Date.now() - started < durationMs - periodS * 1000; k++) {
    await sleep(periodS * 1000);
    if (daemonProc.proc.exitCode !== null || daemonProc.proc.signalCode !== null) {
      failures.push(`the daemon exited: ${daemonProc.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      break;
    }
    await faults[k % faults.length]();
    const s = daemonSample(pid);
    highest = { rssMiB: Math.max(highest.rssMiB, s.rssMiB), fds: Math.max(highest.fds, s.fds) };
  }
  const { code } = await client.done;
  const record = JSON.parse(client.stdout.trim().split('\n').pop() ?? '{}');
  const last = daemonSample(pid);
  highest = { rssMiB: Math.max(highest.rssMiB, last.rssMiB), fds: Math.max(highest.fds, last.fds) };
  const counters = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      topology.director.ns,
      process.execPath,
      join(dist, 'cli', 'uvs.js'),
      'counters',
      '--json',
      '--socket',
      topology.controlSocket,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  await director.stop();

  const http = tally(record.http ?? []);
  const udp = tally(record.udp ?? []);
  if (code !== 0) failures.push(`the client exited with ${code}`);
  if (http.lostOutside > 0) failures.push(`${http.lostOutside} HTTP requests failed outside a link-down window`);
  if (udp.lostOutside > 0) failures.push(`${udp.lostOutside} UDP datagrams lost outside a link-down window`);
  if (last.fds > first.fds) failures.push(`descriptors grew: ${first.fds} -> ${last.fds}`);
  const maxUvsadm = uvsadmTimes.length ? Math.max(...uvsadmTimes) : 0;
  let parsed;
  try {
    parsed = JSON.parse(counters.stdout);
  } catch {
    parsed = undefined;
  }
  const report = [
    `# Soak: ${minutes} min of TCP and UDP through NAT under faults`,
    '',
    `${new Date().toISOString()}, ${os.cpus()[0]?.model.trim()} x ${os.cpus().length} cores, Node ${process.version}, commit ${commit}.`,
    `Faults every ${periodS} s in turn: inside link down/up, uvsadm changes, SIGHUP, two stalled control clients, outside link down/up (${linkWindows.length} link flaps).`,
    '',
    '| | total | ok | lost in a link-down window | lost outside one |',
    '|---|---|---|---|---|',
    `| HTTP GETs (new connection each) | ${http.total} | ${http.ok} | ${http.lostInFault} | ${http.lostOutside} |`,
    `| UDP datagrams | ${udp.total} | ${udp.ok} | ${udp.lostInFault} | ${udp.lostOutside} |`,
    '',
    `Daemon RSS: ${first.rssMiB.toFixed(1)} MiB at start, ${last.rssMiB.toFixed(1)} MiB at the end, ${highest.rssMiB.toFixed(1)} MiB highest.`,
    `Daemon descriptors: ${first.fds} at start, ${last.fds} at the end, ${highest.fds} highest.`,
    `uvsadm: ${uvsadmTimes.length} commands, slowest ${maxUvsadm} ms.`,
    parsed
      ? `Daemon counters: rx ${parsed.datapath?.rx}, drops ${JSON.stringify(parsed.drops)}, connections ${parsed.connections?.size}/${parsed.connections?.capacity}, overflows ${parsed.connections?.overflows}.`
      : `uvs counters failed: ${counters.stderr.trim()}`,
    '',
    failures.length ? `FAILED:\n${failures.map((f) => `- ${f}`).join('\n')}` : 'Result: pass.',
    '',
  ].join('\n');
  console.log(report);
  if (!values['no-write']) writeFileSync(join(repo, 'bench', 'soak', 'LAST-RUN.md'), report);
  if (failures.length) exitCode = 1;
} catch (err) {
  console.error(`soak: ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  for (const c of children) await c.stop?.();
  topology?.teardown();
}
process.exit(exitCode);
