// `uvs counters` against a fake daemon: a ControlServer whose query handler reports a real Datapath's
// counters (the daemon's own handler, minus the interfaces). Text and --json output, the socket options, and
// the errors, which must read as uvsadm's. The last tests run the built CLI (dist/, from `npm run build`).
import { spawn } from 'node:child_process';
import { chmod, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COUNTERS_USAGE, countersMain, formatCounters, formatDuration } from '../../src/cli/counters.js';
import { DaemonUnavailableError, runUvsadm, unavailableMessage } from '../../src/control/client.js';
import { type CountersReport, countersReport } from '../../src/control/counters.js';
import { executeCommand } from '../../src/control/handler.js';
import { ControlServer } from '../../src/control/server.js';
import { DatapathCounters } from '../../src/datapath/datapath.js';
import { MetricsExposition } from '../../src/metrics/registry.js';
import { dropSentences } from '../../src/trace/explain.js';
import { makeLab } from '../control/helpers.js';
import { makeDatapath, run } from '../datapath/helpers.js';
import { clientSyn, RULES } from '../trace/helpers.js';

const cliRoot = join(import.meta.dirname, '../..');
const cli = join(cliRoot, 'dist', 'cli', 'uvs.js');

class Sink {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

async function counters(args: string[], socketEnv?: string) {
  const out = new Sink();
  const err = new Sink();
  const code = await countersMain(
    args,
    out as unknown as NodeJS.WritableStream,
    err as unknown as NodeJS.WritableStream,
    {
      socketEnv,
    },
  );
  return { code, stdout: out.text, stderr: err.text };
}

let dir: string;
const servers: ControlServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uvs-cli-counters-'));
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A daemon whose datapath took two new connections and dropped a SYN to a port no service has. */
async function fakeDaemon(socketPath = join(dir, 'uvs.sock')) {
  const dp = makeDatapath(RULES);
  run(dp, clientSyn(1001, 80));
  run(dp, clientSyn(1002, 81));
  run(dp, clientSyn(1003, 99));
  const lab = makeLab();
  const report = (): CountersReport =>
    countersReport({
      datapath: dp,
      conns: dp.core.conns,
      ports: [
        { ifname: 'eth0', rx: 3, tx: 2, txDropped: 0, txDroppedQueueFull: 0 },
        { ifname: 'eth1', rx: 0, tx: 0, txDropped: 4, txDroppedQueueFull: 3 },
      ],
      uptimeSeconds: 3725.4,
    });
  servers.push(
    await ControlServer.start({
      socketPath,
      handler: ({ argv, stdin }) => executeCommand(lab.core, argv, stdin, lab.ctx),
      queryHandler: async () => ({ stdout: `${JSON.stringify(report())}\n`, stderr: '', exitCode: 0 }),
    }),
  );
  return { socketPath, dp, report };
}

describe('uvs counters', () => {
  it('prints the counters, the drops with their meaning, the interfaces, the fast path and the table', async () => {
    const { socketPath, dp } = await fakeDaemon();
    const r = await counters(['--socket', socketPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('uvs daemon counters, over 1h 02m 05s');
    const counterLine = (name: string) => lines.find((l) => l.trimStart().startsWith(`${name} `));
    for (const [name, n] of Object.entries(dp.counters)) {
      expect(counterLine(name), name).toMatch(new RegExp(`^  ${name} +${n}( |$)`));
    }
    expect(counterLine('forwardedIn')).toMatch(/ 2 {2}client -> real server/);
    expect(r.stdout).toContain('drops: 1 frames, 1 reason\n');
    expect(r.stdout).toContain(`  noService  1  ${dropSentences.noService}\n`);
    const fast = lines.find((l) => l.startsWith('fast path: '));
    if (dp.fastPathEnabled) {
      const share = ((dp.counters.fastPath / dp.counters.rx) * 100).toFixed(1);
      expect(fast).toBe(`fast path: on, took ${share}% of received frames (${dp.counters.fastPath} of 3)`);
    } else {
      expect(fast).toMatch(/^fast path: off/);
    }
    expect(r.stdout).toContain(
      [
        '  interface  rx  tx  txDropped  queueFull  refused',
        '  eth0        3   2          0          0        0',
        '  eth1        0   0          4          3        1',
        '',
      ].join('\n'),
    );
    // Three SYNs: two forwarded, one dropped; the datapath put out two frames and the ports account for six.
    expect(r.stdout).toContain(
      [
        'balance (every frame accounted for once):',
        '  received 3 = forwarded 2 + answered 0 + queued 0 + consumed 0 + dropped 1',
        '  queued 0 = released 0 + neighUnresolved 0 + waiting 0',
        '  sent 2 = handedToKernel 2 + lostQueueFull 3 + lostRefused 1  (does not add up: -4 unaccounted)',
        '',
      ].join('\n'),
    );
    expect(r.stdout).toContain(
      'connections: 2 of 1024 entries in use (0.2%), 0 refused because the table was full, 0 expired, ' +
        '0 embryonic evicted for new connections, 0 dropped by drop_entry\n',
    );
    expect(r.stdout).toContain('waiting for ARP: 0 packets\n');
  });

  it('--json prints the daemon report as one JSON object on one line', async () => {
    const { socketPath, report } = await fakeDaemon();
    const r = await counters(['--json'], socketPath);
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual(report());
  });

  it('--socket wins over UVS_SOCKET', async () => {
    const { socketPath } = await fakeDaemon();
    expect((await counters(['--socket', socketPath], join(dir, 'absent.sock'))).code).toBe(0);
    expect((await counters([], join(dir, 'absent.sock'))).code).toBe(2);
  });

  it('with no daemon it says what uvsadm says, in one line, exit 2', async () => {
    const absent = join(dir, 'absent.sock');
    const r = await counters(['--socket', absent]);
    const uvsadm = await runUvsadm(['--socket', absent, '-Ln'], { readStdin: async () => '' });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(uvsadm.stderr.replace(/^uvsadm: /, 'uvs counters: '));
    expect(r.stderr).toMatch(/^uvs counters: no uvs daemon is listening on .*absent\.sock; start it with `uvs daemon/);
    expect(
      unavailableMessage(
        'uvs counters',
        new DaemonUnavailableError('/run/uvs/uvs.sock: permission denied (you must be root)', 'permission'),
      ),
    ).toBe('uvs counters: /run/uvs/uvs.sock: permission denied (you must be root)\n');
  });

  it('a daemon from before queries gets a hint; a malformed answer is reported, not thrown', async () => {
    const socketPath = join(dir, 'old.sock');
    let answer = '{"stdout":"","stderr":"uvs: malformed control request\\n","exitCode":2}\n';
    const old = createServer({ allowHalfOpen: true }, (c) => c.once('data', () => c.end(answer)));
    await new Promise<void>((resolve) => old.listen(socketPath, resolve));
    try {
      const r = await counters(['--socket', socketPath]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('does not answer counters queries; restart it with this uvs');
      answer = '{"stdout":"{\\"rx\\":1}\\n","stderr":"","exitCode":0}\n';
      const bad = await counters(['--socket', socketPath]);
      expect(bad).toEqual({ code: 2, stdout: '', stderr: `uvs counters: malformed answer from ${socketPath}\n` });
    } finally {
      old.close();
    }
  });

  it('bad options get the usage and exit 2; --help prints it', async () => {
    const r = await counters(['--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(COUNTERS_USAGE);
    expect(await counters(['--help'])).toEqual({ code: 0, stdout: COUNTERS_USAGE, stderr: '' });
  });

  it('formats durations and a report with no frames and the fast path off', () => {
    expect(formatDuration(42.9)).toBe('42s');
    expect(formatDuration(61)).toBe('1m 01s');
    expect(formatDuration(90061)).toBe('1d 01h 01m 01s');
    const empty = countersReport({
      datapath: {
        counters: new DatapathCounters(),
        fastPathEnabled: false,
        neigh: { queued: 1 },
        dropSummary: () => ({}),
      },
      conns: { size: 0, capacity: 16, overflows: 5, expired: 7, reclaimed: 3, dropped: 2 },
      ports: [],
      uptimeSeconds: 0,
    });
    const text = formatCounters(empty);
    expect(text).toContain('drops: none\n');
    expect(text).toContain(
      'connections: 0 of 16 entries in use (0.0%), 5 refused because the table was full, 7 expired, ' +
        '3 embryonic evicted for new connections, 2 dropped by drop_entry\n',
    );
    expect(text).not.toContain('interfaces');
    expect(text).toContain('fast path: off');
    expect(text).toContain('waiting for ARP: 1 packet\n');
  });
});

describe('the built uvs', () => {
  function runCli(args: string[], options: { uid?: number; gid?: number; script?: string } = {}) {
    const { script = cli, ...ids } = options;
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [script, ...args], { ...ids, env: { ...process.env, UVS_SOCKET: '' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('lists counters in its help and dispatches to it', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/\n {2}counters +print the running daemon's datapath counters/);
    const { socketPath } = await fakeDaemon();
    const r = await runCli(['counters', '--socket', socketPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^uvs daemon counters, over 1h 02m 05s\n/);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'says "permission denied (you must be root)" to a user who may not open the 0600 socket (needs root to switch user)',
    async () => {
      await chmod(dir, 0o755);
      // The user runs a copy of the built uvs it may read: the checkout may sit in a private directory (root's
      // home is 0700). `uvs counters` loads nothing from outside dist/; dist/ is ES modules, which no
      // package.json says outside the checkout.
      await cp(join(cliRoot, 'dist'), join(dir, 'uvs', 'dist'), { recursive: true });
      await writeFile(join(dir, 'uvs', 'package.json'), '{ "type": "module" }\n');
      const { socketPath } = await fakeDaemon();
      const r = await runCli(['counters', '--socket', socketPath], {
        uid: 65534,
        gid: 65534,
        script: join(dir, 'uvs', 'dist', 'cli', 'uvs.js'),
      });
      expect(r).toEqual({
        code: 2,
        stdout: '',
        stderr: `uvs counters: ${socketPath}: permission denied (you must be root)\n`,
      });
    },
  );
});

describe('uvs counters --prometheus', () => {
  it('refuses --json with --prometheus', async () => {
    const r = await counters(['--json', '--prometheus', '--socket', join(dir, 'none.sock')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^uvs counters: --json and --prometheus are two formats; choose one\n/);
  });

  it('asks the metrics query and prints its answer as it came; says when a daemon is too old for it', async () => {
    const dp = makeDatapath(RULES);
    run(dp, clientSyn(1001, 80));
    const book = makeLab().book;
    const text = (
      await new MetricsExposition(
        {
          counters: () => countersReport({ datapath: dp, conns: dp.core.conns, ports: [], uptimeSeconds: 1 }),
          rules: () => dp.core.rules.snapshot,
          readStats: (stats, out) => book.read(stats, out),
        },
        { defaultMetrics: false },
      ).render()
    ).text;
    let refuse = false;
    const socketPath = join(dir, 'uvs.sock');
    servers.push(
      await ControlServer.start({
        socketPath,
        handler: async () => ({ stdout: '', stderr: '', exitCode: 0 }),
        queryHandler: async ({ query }) =>
          refuse || query !== 'metrics'
            ? { stdout: '', stderr: `uvs: unknown control query "${query}"\n`, exitCode: 2 }
            : { stdout: text, stderr: '', exitCode: 0 },
      }),
    );
    expect(text).toContain('node_ipvs_backend_weight{');
    expect(await counters(['--prometheus'], socketPath)).toEqual({ code: 0, stdout: text, stderr: '' });
    refuse = true;
    const old = await counters(['--prometheus'], socketPath);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain('does not answer metrics queries; restart it with this uvs');
  });
});
