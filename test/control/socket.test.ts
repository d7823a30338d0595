// The control socket end to end in a temporary directory: uvsadm's client against a ControlServer running
// executeCommand(), the socket's 0600 mode, stale and live sockets, a missing daemon, and the state-file hook.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runUvsadm, sendCommand } from '../../src/control/client.js';
import { executeCommand, type HandlerContext } from '../../src/control/handler.js';
import { MAX_REQUEST_BYTES } from '../../src/control/protocol.js';
import { ControlServer, ControlServerError } from '../../src/control/server.js';
import { writeFileAtomic } from '../../src/control/state-file.js';
import { formatRules } from '../../src/model/save-format.js';
import { lines, makeLab, SEED_NAT } from './helpers.js';

let dir: string;
const servers: ControlServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uvs-control-'));
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

async function startDaemon(socketPath: string, stateFile?: string) {
  const lab = makeLab();
  const ctx: HandlerContext = stateFile
    ? { ...lab.ctx, saveRules: (next) => writeFileAtomic(stateFile, formatRules(next)) }
    : lab.ctx;
  const server = await ControlServer.start({
    socketPath,
    handler: ({ argv, stdin }) => executeCommand(lab.core, argv, stdin, ctx),
  });
  servers.push(server);
  return { lab, server };
}

const env = (socket: string, stdin = '') => ({ socketEnv: socket, readStdin: async () => stdin });

describe('control socket', () => {
  it('runs the seed commands from uvsadm and lists them; the socket is 0600', async () => {
    const socket = join(dir, 'run', 'uvs.sock');
    await startDaemon(socket);
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    for (const line of SEED_NAT) {
      expect(await runUvsadm(line.split(' ').slice(1), env(socket))).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    }
    const listed = await runUvsadm(['-Ln'], env(socket));
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain('TCP  192.168.1.231:80 rr\n');
    // --socket wins over UVS_SOCKET; an error keeps its message and status.
    const err = await runUvsadm(['--socket', socket, '-D', '-t', '10.0.0.1:80'], env('/nonexistent/uvs.sock'));
    expect(err).toEqual({ stdout: '', stderr: 'No such service\n', exitCode: 255 });
  });

  it('-R sends stdin, and every successful change is saved to the state file before uvsadm returns', async () => {
    const socket = join(dir, 'uvs.sock');
    const state = join(dir, 'rules');
    await startDaemon(socket, state);
    const rules = lines('-A -t 192.168.1.231:80 -s rr', '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 1');
    expect(await runUvsadm(['-R'], env(socket, rules))).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    expect(await readFile(state, 'utf8')).toBe(rules);
    // A failed change leaves the file as it was.
    await runUvsadm(['-a', '-t', '192.168.1.231:80', '-r', '192.168.1.200:80', '-m'], env(socket));
    expect(await readFile(state, 'utf8')).toBe(rules);
    expect((await stat(state)).mode & 0o777).toBe(0o600);
  });

  it('answers concurrent clients one at a time, each seeing the previous change', async () => {
    const socket = join(dir, 'uvs.sock');
    const { lab } = await startDaemon(socket);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sendCommand(socket, { argv: ['-A', '-t', `10.0.0.${i + 1}:80`], stdin: '' }),
      ),
    );
    expect(results.every((r) => r.exitCode === 0)).toBe(true);
    expect(lab.core.rules.snapshot.services).toHaveLength(20);
  });

  it('replaces a stale socket left by a killed daemon, but refuses a live one or a non-socket', async () => {
    const socket = join(dir, 'uvs.sock');
    // A process that listens and dies by SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await new Promise((resolve) => child.on('exit', resolve));
    expect((await stat(socket)).isSocket()).toBe(true);
    await startDaemon(socket);
    expect((await runUvsadm(['-Ln'], env(socket))).exitCode).toBe(0);
    await expect(startDaemon(socket)).rejects.toThrow(ControlServerError);
    expect((await runUvsadm(['-Ln'], env(socket))).exitCode).toBe(0);

    const file = join(dir, 'not-a-socket');
    await writeFile(file, 'keep me');
    await expect(startDaemon(file)).rejects.toThrow(/not a socket/);
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  it('with no daemon, uvsadm says so in one line with how to start one, exit 2, quickly', async () => {
    const started = Date.now();
    const r = await runUvsadm(['-Ln'], env(join(dir, 'absent.sock')));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(
      /^uvsadm: no uvs daemon is listening on .*absent\.sock; start it with `uvs daemon --config FILE`\n$/,
    );
    // Help needs no daemon.
    const help = await runUvsadm(['-h'], env(join(dir, 'absent.sock')));
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage:');
  });

  it('a daemon that accepts but never answers times out instead of hanging', async () => {
    const socket = join(dir, 'mute.sock');
    const mute = createServer(() => undefined);
    await new Promise<void>((resolve) => mute.listen(socket, resolve));
    try {
      const r = await runUvsadm(['-Ln'], { ...env(socket), send: { responseTimeoutMs: 200 } });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/did not answer in time/);
    } finally {
      mute.close();
    }
  });

  it('a malformed request gets exit 2 and a message, and the server keeps serving', async () => {
    const socket = join(dir, 'uvs.sock');
    await startDaemon(socket);
    const answer = await new Promise<string>((resolve) => {
      const c = createConnection(socket, () => c.write('{"argv": 5}\n'));
      let text = '';
      c.on('data', (d) => {
        text += d.toString();
      });
      c.on('end', () => resolve(text));
    });
    expect(JSON.parse(answer)).toEqual({ stdout: '', stderr: 'uvs: malformed control request\n', exitCode: 2 });
    expect((await runUvsadm(['-Ln'], env(socket))).exitCode).toBe(0);
  });
});

/** A full garbage collection, so that memory a test expects to be freed is. */
function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('control socket under misbehaving clients', () => {
  const openFds = () => readdirSync('/proc/self/fd').length;

  /** A server whose `big` command answers `bytes` of output: more than the socket buffers hold. */
  /** How long the server waits for a client to take its answer, in the stalled-client test. */
  const WRITE_DEADLINE_MS = 1_500;

  async function startBigAnswerServer(socketPath: string, bytes: number, writeTimeoutMs?: number) {
    const server = await ControlServer.start({
      socketPath,
      handler: async ({ argv }) => ({
        stdout: argv[0] === 'big' ? 'x'.repeat(bytes) : 'small\n',
        stderr: '',
        exitCode: 0,
      }),
      ...(writeTimeoutMs === undefined ? {} : { writeTimeoutMs }),
    });
    servers.push(server);
    return server;
  }

  it('a client that stops reading its answer blocks nobody, and is dropped after the write deadline', async () => {
    const socket = join(dir, 'uvs.sock');
    // The write deadline leaves room for the checks below on a loaded machine; they must all fall inside it.
    const server = await startBigAnswerServer(socket, 32 * 1024 * 1024, WRITE_DEADLINE_MS);
    // The stalled client: sends its request, then never reads (a stopped `uvsadm -S | less`).
    const stalled = createConnection(socket);
    stalled.pause();
    stalled.on('error', () => undefined);
    stalled.write(`${JSON.stringify({ argv: ['big'], stdin: '' })}\n`);
    // Let the server take the request and fill the socket buffers.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 3 }, () => sendCommand(socket, { argv: ['small'], stdin: '' }, { responseTimeoutMs: 2000 })),
    );
    expect(answers.map((a) => a.stdout)).toEqual(['small\n', 'small\n', 'small\n']);
    expect(Date.now() - started).toBeLessThan(400);
    // The server gives up on the stalled client after the deadline: the connection is closed, not kept with
    // its 32 MiB answer (the paused client itself cannot see the close until it reads again).
    // The three small clients have their answers; the server may take a moment to see them hang up, so wait
    // for that (well inside the stalled client's deadline) before counting only the stalled one.
    for (let tries = 0; tries < 20 && (await server.connectionCount()) > 1; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await server.connectionCount()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, WRITE_DEADLINE_MS + 300));
    expect(await server.connectionCount()).toBe(0);
    stalled.destroy();
  });

  it('an oversize request is refused, and its socket closed and freed', async () => {
    const socket = join(dir, 'uvs.sock');
    const server = await startBigAnswerServer(socket, 1);
    const oversize = Buffer.alloc(MAX_REQUEST_BYTES + 1024 * 1024, 0x61);
    const before = openFds();
    gc();
    const buffersBefore = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 5; i++) {
      const c = createConnection(socket);
      c.on('error', () => undefined);
      const answer = new Promise<string>((resolve) => {
        let text = '';
        c.on('data', (d) => {
          text += d.toString();
        });
        c.on('close', () => resolve(text));
      });
      c.write(oversize);
      // The server closes the connection itself: the client never has to hang up.
      expect(JSON.parse(await answer)).toEqual({
        stdout: '',
        stderr: `uvs: request larger than ${MAX_REQUEST_BYTES} bytes refused\n`,
        exitCode: 2,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await server.connectionCount()).toBe(0);
    expect(openFds()).toBe(before);
    // What the five requests sent (80 MiB and more) is not kept once they are refused. A leak keeps a request's
    // worth per refusal (five of them); under load a chunk or two can still be in flight, so allow two requests'
    // worth, and give the socket buffers a moment to be released.
    let kept = Number.POSITIVE_INFINITY;
    for (let tries = 0; tries < 20 && kept >= 2 * MAX_REQUEST_BYTES; tries++) {
      gc();
      kept = process.memoryUsage().arrayBuffers - buffersBefore;
      if (kept >= 2 * MAX_REQUEST_BYTES) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(kept).toBeLessThan(2 * MAX_REQUEST_BYTES);
    expect((await sendCommand(socket, { argv: ['small'], stdin: '' })).stdout).toBe('small\n');
  });
});

describe('a change whose state file cannot be saved', () => {
  it('is not applied, and the client is told so', async () => {
    const socket = join(dir, 'uvs.sock');
    const stateDir = join(dir, 'state');
    const state = join(stateDir, 'rules.state');
    await mkdir(stateDir);
    const { lab } = await startDaemon(socket, state);
    const saved = lines('-A -t 192.168.1.231:80 -s rr', '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 1');
    expect(await runUvsadm(['-R'], env(socket, saved))).toEqual({ stdout: '', stderr: '', exitCode: 0 });

    // The directory goes away (a full or read-only disk fails the same way): nothing can be saved.
    await rm(stateDir, { recursive: true });
    const refused = [
      ['-a', '-t', '192.168.1.231:80', '-r', '192.168.1.201:80', '-m'],
      ['-e', '-t', '192.168.1.231:80', '-r', '192.168.1.200:80', '-m', '-w', '5'],
      ['-E', '-t', '192.168.1.231:80', '-s', 'wlc'],
      ['-D', '-t', '192.168.1.231:80'],
      ['-C'],
      ['--set', '10', '20', '30'],
    ];
    for (const argv of refused) {
      const r = await runUvsadm(argv, env(socket));
      expect(r.exitCode, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^uvs: the state file could not be saved, so the change was not applied: ENOENT/);
      expect(formatRules(lab.core.rules.snapshot), argv.join(' ')).toBe(saved);
      expect(lab.core.rules.snapshot.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    }

    await mkdir(stateDir);
    expect((await runUvsadm(refused[0]!, env(socket))).exitCode).toBe(0);
    expect(await readFile(state, 'utf8')).toBe(formatRules(lab.core.rules.snapshot));
    expect(lab.core.rules.snapshot.services[0]!.dests).toHaveLength(2);
  });

  // What the core schedules with while the state file is being written: a change must not be live yet.
  function liveDuringSave(fail: boolean) {
    const lab = makeLab();
    const seen: { services: string[]; timeouts: unknown }[] = [];
    const ctx: HandlerContext = {
      ...lab.ctx,
      saveRules: async (next) => {
        const live = lab.core.rules.snapshot;
        seen.push({ services: [formatRules(live), formatRules(next)], timeouts: live.timeouts });
        await new Promise((resolve) => setTimeout(resolve, 10));
        if (fail) throw new Error('ENOSPC: no space left on device');
      },
    };
    return { lab, seen, run: (line: string, stdin = '') => executeCommand(lab.core, line.split(' '), stdin, ctx) };
  }

  it('is never live, not even while the save is tried', async () => {
    const { lab, seen, run } = liveDuringSave(true);
    const before = formatRules(lab.core.rules.snapshot);
    const changes: [string, string][] = [
      ['-A -t 192.168.1.231:80 -s rr', ''],
      ['-R', lines('-A -t 192.168.1.232:80 -s rr', '-a -t 192.168.1.232:80 -r 192.168.1.200:80 -m')],
      ['--set 10 20 30', ''],
    ];
    for (const [line, stdin] of changes) {
      expect(await run(line, stdin)).toEqual({
        stdout: '',
        stderr:
          'uvs: the state file could not be saved, so the change was not applied: ENOSPC: no space left on device\n',
        exitCode: 2,
        rulesChanged: false,
      });
    }
    expect(seen).toHaveLength(3);
    for (const [index, { services, timeouts }] of seen.entries()) {
      // The save was asked for the changed rules, while the core still ran the old ones.
      expect(services[0], changes[index]![0]).toBe(before);
      expect(timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    }
    expect(seen[0]!.services[1]).toBe(lines('-A -t 192.168.1.231:80 -s rr'));
    expect(seen[1]!.services[1]).toContain('-a -t 192.168.1.232:80 -r 192.168.1.200:80 -m -w 1\n');
    expect(formatRules(lab.core.rules.snapshot)).toBe(before);
    expect(lab.core.rules.snapshot.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });

  it('is applied once saved: live after the save, exactly as saved; a refused change is not saved', async () => {
    const { lab, seen, run } = liveDuringSave(false);
    expect(await run('-A -t 192.168.1.231:80 -s rr')).toMatchObject({ exitCode: 0, rulesChanged: true });
    expect(seen[0]!.services[0]).toBe('');
    expect(formatRules(lab.core.rules.snapshot)).toBe(seen[0]!.services[1]);
    expect(lab.core.rules.snapshot.find({ proto: 6, addr: 0xc0a801e7, port: 80 })?.sched).toBe('rr');
    expect(await run('-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 3')).toMatchObject({ exitCode: 0 });
    expect(formatRules(lab.core.rules.snapshot)).toBe(seen[1]!.services[1]);
    expect(formatRules(lab.core.rules.snapshot)).toContain('-r 192.168.1.200:80 -m -w 3\n');
    // The model's own refusal comes from the copy, with the core's message, and nothing is written.
    expect(await run('-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m')).toMatchObject({
      stderr: 'Destination already exists\n',
      exitCode: 255,
    });
    expect(
      await run('-R', lines('-A -t 192.168.1.232:80', '-a -t 192.168.1.232:80 -r 192.168.1.201:80 -w -1')),
    ).toMatchObject({ stderr: 'line 2: illegal weight specified\n', exitCode: 2 });
    expect(seen).toHaveLength(2);
  });
});

describe('ControlServer.exclusive', () => {
  it('runs a change from outside the socket (SIGHUP) only between requests, never inside one', async () => {
    const socket = join(dir, 'uvs.sock');
    const events: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const server = await ControlServer.start({
      socketPath: socket,
      handler: async ({ argv }) => {
        events.push(`start ${argv[0]}`);
        if (argv[0] === 'slow') await held;
        events.push(`end ${argv[0]}`);
        return { stdout: '', stderr: '', exitCode: 0 };
      },
    });
    servers.push(server);
    const slow = sendCommand(socket, { argv: ['slow'], stdin: '' });
    while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const reload = server.exclusive(async () => {
      events.push('reload');
      return 'reloaded';
    });
    const next = sendCommand(socket, { argv: ['next'], stdin: '' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual(['start slow']);
    release();
    expect(await reload).toBe('reloaded');
    await Promise.all([slow, next]);
    expect(events).toEqual(['start slow', 'end slow', 'reload', 'start next', 'end next']);
  });
});
