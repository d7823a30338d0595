// Two `uvs daemon`s on the same interfaces in one namespace, each with its own control socket and state file:
// the second is refused in one line naming the first's PID, before it touches anything; the interfaces are
// free again once the first stops, and after a kill -9 (the kernel drops the lock with the process). Also the
// state file's directory at start: made when missing, cleared of what a killed daemon left.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUvsadm } from '../../src/control/client.js';
import { NsChild } from '../../src/lab/netns.js';
import { buildTopology, type LabTopology } from '../../src/lab/topology.js';
import { canUseNetns, compileForChildren, netnsSkipReason } from './harness.js';

const READY_TIMEOUT_MS = 15_000;
const CHILD_TIMEOUT_MS = 60_000;

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

describe.skipIf(!canUseNetns)(`one uvs daemon per interface ${netnsSkipReason}`, () => {
  let topology: LabTopology | undefined;
  let dist = '';
  const children: NsChild[] = [];

  beforeAll(() => {
    dist = compileForChildren();
    topology = buildTopology('nat');
  }, 60_000);

  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop('SIGKILL', 2_000)));
    topology?.teardown();
  }, 30_000);

  /** A config like the lab's, with its own control socket and state file (`name` tells them apart). */
  function configFor(name: string, state = join(topology!.dir, `${name}.state`)) {
    const t = topology!;
    const control = join(t.dir, `${name}.sock`);
    const text = readFileSync(t.configPath, 'utf8')
      .replace(/^control: .*$/m, `control: ${control}`)
      .replace(/^state: .*$/m, `state: ${state}`);
    if (!text.includes(control) || !text.includes(state)) throw new Error('lab config names no control/state');
    const configPath = join(t.dir, `${name}.yaml`);
    writeFileSync(configPath, text);
    return { configPath, control, state };
  }

  function spawnDaemon(configPath: string): NsChild {
    const child = new NsChild(
      topology!.director.ns,
      [process.execPath, join(dist, 'cli', 'uvs.js'), 'daemon', '--config', configPath],
      CHILD_TIMEOUT_MS,
    );
    children.push(child);
    return child;
  }

  /** Starts a daemon and waits until it is running (its signal handlers are in place only then). */
  async function startDaemon(name: string, state?: string): Promise<NsChild> {
    const { configPath, control } = configFor(name, state);
    const child = spawnDaemon(configPath);
    let exited = false;
    void child.done.then(() => {
      exited = true;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!isSocket(control) || !child.stderr.includes('uvs daemon running')) {
      if (exited) throw new Error(`daemon ${name} exited at start:\n${child.stderr}`);
      if (Date.now() > deadline) throw new Error(`daemon ${name} did not open ${control} in time`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return child;
  }

  /** Runs a daemon that must be refused; returns its refusal line. */
  async function refusedDaemon(name: string): Promise<string> {
    const { configPath, control } = configFor(name);
    const child = spawnDaemon(configPath);
    const { code } = await child.done;
    expect(child.timedOut).toBe(false);
    expect(code, child.stderr).toBe(1);
    // It refused before opening anything of its own.
    expect(existsSync(control)).toBe(false);
    const refusals = child.stderr.split('\n').filter((line) => line.startsWith('uvs daemon:'));
    expect(refusals, child.stderr).toHaveLength(1);
    return refusals[0]!;
  }

  it('refuses a second daemon naming the first PID, until the first is stopped or killed', async () => {
    const first = await startDaemon('first');
    const firstPid = first.proc.pid!;
    const iface = topology!.director.interfaces[0]!.name;
    expect(await refusedDaemon('second')).toBe(
      `uvs daemon: interface ${iface} is in use by another uvs daemon (PID ${firstPid}); stop it, or give this daemon other interfaces`,
    );
    // The first is unharmed: it still answers.
    expect(isSocket(configFor('first').control)).toBe(true);

    // Stopped: the interfaces are free.
    first.proc.kill('SIGTERM');
    expect(await first.done, first.stderr).toEqual({ code: 0, signal: null });
    const second = await startDaemon('second');
    expect(await refusedDaemon('third')).toMatch(new RegExp(`\\(PID ${second.proc.pid}\\)`));

    // Killed with -9: the kernel frees them with the process; no stale lock stays behind.
    second.proc.kill('SIGKILL');
    await second.done;
    const fourth = await startDaemon('fourth');
    fourth.proc.kill('SIGTERM');
    expect(await fourth.done, fourth.stderr).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('makes a missing state directory (0700) so that uvsadm changes are saved, and removes what kill -9 left', async () => {
    const stateDir = join(topology!.dir, 'var', 'lib', 'uvs');
    const state = join(stateDir, 'rules.state');
    const daemon = await startDaemon('stateful', state);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    const env = { socketEnv: configFor('stateful', state).control, readStdin: async () => '' };
    expect(await runUvsadm(['-A', '-t', '192.168.1.231:81', '-s', 'rr'], env)).toEqual({
      stdout: '',
      stderr: '',
      exitCode: 0,
    });
    expect(readFileSync(state, 'utf8')).toContain('-A -t 192.168.1.231:81 -s rr\n');

    // Killed in the middle of saves: its temporary files stay behind; the next start removes them.
    daemon.proc.kill('SIGKILL');
    await daemon.done;
    const leftovers = Array.from({ length: 7 }, (_, i) => `.rules.state.${daemon.proc.pid}.${'0'.repeat(11)}${i}.tmp`);
    for (const name of leftovers) writeFileSync(join(stateDir, name), 'half a save');
    const again = await startDaemon('stateful', state);
    expect(readdirSync(stateDir)).toEqual(['rules.state']);
    expect(again.stderr).toContain('removed temporary state files left by a killed daemon');
    expect((await runUvsadm(['-Sn'], env)).stdout).toContain('-A -t 192.168.1.231:81 -s rr\n');
    again.proc.kill('SIGTERM');
    expect(await again.done, again.stderr).toEqual({ code: 0, signal: null });
  }, 60_000);
});
