// `uvs daemon` leaves the host as it found it when it does not start, and when it was killed (issue 13):
// - a start that fails, at any step, undoes what the steps before changed (GRO/LRO, the control socket);
// - one that cannot have its control socket fails before it touches the interfaces;
// - after SIGKILL, `uvs daemon --restore-offloads` or the next start turns GRO back on from the record the
//   killed daemon kept beside its control socket.
// And under systemd (Type=notify): READY=1 once it answers on its control socket, WATCHDOG=1 pings at half
// WATCHDOG_USEC from its event loop (none while it cannot run), STOPPING=1 at stop. A Python receiver plays
// systemd's notification socket.
//
// The director is one namespace with one veth whose kernel address is not one uvs owns; GRO is turned on
// there before each start, as a physical NIC has it (a veth starts with it off).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendQuery } from '../../src/control/client.js';
import { offloadRecordPath } from '../../src/daemon/offload-record.js';
import { getOffloads, setOffloads } from '../../src/io/offloads.js';
import { NsChild } from '../../src/lab/netns.js';
import { canReceiveNotify, NotifyReceiver } from '../helpers/notify-receiver.js';
import { canUseNetns, compileForChildren, NetnsLab, netnsSkipReason } from './harness.js';

/** Any daemon of these tests ends by itself after this. */
const DAEMON_LIFETIME_MS = 60_000;
const DEV = 'vd';
/** setpriv (util-linux) runs the daemon with fewer capabilities, as systemd's CapabilityBoundingSet= does. */
const hasSetpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!canUseNetns)(`uvs daemon start-up failures, SIGKILL and offloads ${netnsSkipReason}`, () => {
  let lab: NetnsLab;
  let ns: string;
  let dir: string;
  let dist: string;
  const daemons: NsChild[] = [];
  const servers: Server[] = [];
  const receivers: NotifyReceiver[] = [];

  const configPath = (): string => join(dir, 'uvs.yaml');
  const control = (): string => join(dir, 'uvs.sock');

  function writeConfig(rules = '', backend = 'afpacket'): void {
    writeFileSync(join(dir, 'rules.txt'), rules);
    writeFileSync(
      configPath(),
      [
        'interfaces:',
        `  - name: ${DEV}`,
        '    mac: auto',
        '    mtu: auto',
        '    addresses: [10.207.0.10/24]',
        'rules: rules.txt',
        `control: ${control()}`,
        `state: ${join(dir, 'state', 'rules.state')}`,
        `io: { backend: ${backend}, rx: mmsg, wake: poll, batch: 64 }`,
        'conn: { capacity: 4096 }',
        '',
      ].join('\n'),
    );
  }

  /** `uvs ARGS` in the director namespace; `caps` limits it to those capabilities (setpriv, as systemd's unit does). */
  function uvs(args: string[], env?: NodeJS.ProcessEnv, caps?: string[]): NsChild {
    const limit =
      caps === undefined
        ? []
        : ['setpriv', `--bounding-set=-all,${caps.map((c) => `+${c}`).join(',')}`, '--inh-caps=-all', '--'];
    const child = new NsChild(
      ns,
      [...limit, process.execPath, join(dist, 'cli', 'uvs.js'), ...args],
      DAEMON_LIFETIME_MS,
      env,
    );
    daemons.push(child);
    return child;
  }

  const gro = (): boolean => getOffloads(ns, DEV).gro;

  /** Starts the daemon and resolves once it answers a counters query (start-up complete). */
  async function startDaemon(env?: NodeJS.ProcessEnv, caps?: string[]): Promise<NsChild> {
    const child = uvs(['daemon', '--config', configPath()], env, caps);
    let exited = false;
    void child.done.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exited) throw new Error(`the daemon exited at start: ${child.stderr}`);
      if (Date.now() > deadline) throw new Error(`the daemon did not answer in time: ${child.stderr}`);
      try {
        const reply = await sendQuery(control(), { query: 'counters' }, { connectTimeoutMs: 500 });
        if (reply.exitCode === 0) return child;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function run(
    args: string[],
    env?: NodeJS.ProcessEnv,
    caps?: string[],
  ): Promise<{ code: number | null; stderr: string }> {
    const child = uvs(args, env, caps);
    const { code } = await child.done;
    return { code, stderr: child.stderr };
  }

  beforeAll(() => {
    dist = compileForChildren();
    lab = new NetnsLab();
    ns = lab.addNamespace('d');
    const peer = lab.addNamespace('p');
    lab.addVeth(ns, DEV, '10.207.0.1/24', peer, 'vp', '10.207.0.2/24');
  }, 90_000);

  afterEach(async () => {
    for (const d of daemons.splice(0)) {
      d.proc.kill('SIGKILL');
      await d.done;
    }
    for (const s of servers.splice(0)) s.close();
    for (const r of receivers.splice(0)) r.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  afterAll(() => lab?.cleanup());

  function freshRun(rules = '', backend = 'afpacket'): void {
    dir = mkdtempSync(join(tmpdir(), 'uvs-startup-'));
    writeConfig(rules, backend);
    setOffloads(ns, DEV, { gro: true });
    expect(gro()).toBe(true);
  }

  it('cannot take its control socket: fails before it touches the interfaces, GRO stays on', async () => {
    freshRun();
    const holder = createServer();
    servers.push(holder);
    await new Promise<void>((resolve) => holder.listen(control(), resolve));
    const { code, stderr } = await run(['daemon', '--config', configPath()]);
    expect(stderr).toMatch(/another uvs daemon is already listening on .*uvs\.sock/);
    expect(code).toBe(1);
    expect(gro()).toBe(true);
    expect(existsSync(offloadRecordPath(control()))).toBe(false);
  }, 30_000);

  it.skipIf(!hasSetpriv)(
    'fails after GRO went off and the control socket was taken (no CAP_NET_RAW for its packet sockets): undoes it all',
    async () => {
      freshRun();
      const { code, stderr } = await run(['daemon', '--config', configPath()], undefined, ['net_admin']);
      expect(stderr).toMatch(/opening a packet socket on vd needs root or CAP_NET_RAW/);
      // It did turn GRO off before it failed.
      expect(stderr).toMatch(/receive coalescing off/);
      expect(code).toBe(1);
      expect(gro()).toBe(true);
      expect(existsSync(control())).toBe(false);
      expect(existsSync(offloadRecordPath(control()))).toBe(false);
    },
    30_000,
  );

  it('after SIGKILL, uvs daemon --restore-offloads turns GRO back on (and refuses while a daemon runs)', async () => {
    freshRun();
    const daemon = await startDaemon();
    expect(gro()).toBe(false);
    const refused = await run(['daemon', '--config', configPath(), '--restore-offloads']);
    expect(refused.stderr).toMatch(/a daemon is running on/);
    expect(refused.code).toBe(1);
    expect(gro()).toBe(false);

    daemon.proc.kill('SIGKILL');
    await daemon.done;
    expect(gro()).toBe(false);
    expect(existsSync(offloadRecordPath(control()))).toBe(true);
    const restored = await run(['daemon', '--config', configPath(), '--restore-offloads']);
    expect(restored.stderr).toMatch(new RegExp(`${DEV}: gro back on`));
    expect(restored.code).toBe(0);
    expect(gro()).toBe(true);
    expect(existsSync(offloadRecordPath(control()))).toBe(false);
    // Once more: nothing left to do, and that is not an error (systemd runs it after every stop).
    const again = await run(['daemon', '--config', configPath(), '--restore-offloads']);
    expect(again.stderr).toMatch(/nothing to restore/);
    expect(again.code).toBe(0);
  }, 60_000);

  it('after SIGKILL, the next start turns GRO back on first, so its own stop leaves GRO as the host had it', async () => {
    freshRun();
    const first = await startDaemon();
    first.proc.kill('SIGKILL');
    await first.done;
    expect(gro()).toBe(false);
    // Without the record, this daemon would find GRO off, have nothing to turn back on, and leave it off.
    const second = await startDaemon();
    expect(second.stderr).toMatch(/turned gro back on: the daemon before this one .* was killed/);
    expect(gro()).toBe(false);
    second.proc.kill('SIGTERM');
    const { code } = await second.done;
    expect(code).toBe(0);
    expect(gro()).toBe(true);
    expect(existsSync(offloadRecordPath(control()))).toBe(false);
  }, 60_000);

  // What packaging/systemd/uvs.service grants, shown to be enough; and what happens with less.
  it.skipIf(!hasSetpriv)(
    'serves with only CAP_NET_RAW and CAP_NET_ADMIN (afpacket), and restores GRO at stop',
    async () => {
      freshRun();
      const daemon = await startDaemon(undefined, ['net_raw', 'net_admin']);
      expect(gro()).toBe(false);
      daemon.proc.kill('SIGTERM');
      expect((await daemon.done).code).toBe(0);
      expect(gro()).toBe(true);
    },
    30_000,
  );

  it.skipIf(!hasSetpriv)(
    'serves with CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF (afxdp), not without CAP_BPF',
    async () => {
      freshRun('', 'afxdp');
      const refused = await run(['daemon', '--config', configPath()], undefined, ['net_raw', 'net_admin']);
      expect(refused.stderr).toMatch(/AF_XDP port on vd needs root, or CAP_NET_RAW with CAP_BPF and CAP_NET_ADMIN/);
      expect(refused.code).toBe(1);
      const daemon = await startDaemon(undefined, ['net_raw', 'net_admin', 'bpf']);
      daemon.proc.kill('SIGTERM');
      expect((await daemon.done).code).toBe(0);
    },
    30_000,
  );

  it.skipIf(!hasSetpriv)(
    'without CAP_NET_ADMIN: serves with GRO left on, and at stop has nothing to turn back on',
    async () => {
      freshRun();
      const daemon = await startDaemon(undefined, ['net_raw']);
      expect(daemon.stderr).toMatch(/could not turn GRO\/LRO off: .*EPERM/);
      expect(gro()).toBe(true);
      expect(existsSync(offloadRecordPath(control()))).toBe(false);
      daemon.proc.kill('SIGTERM');
      expect((await daemon.done).code).toBe(0);
      expect(daemon.stderr).not.toMatch(/could not turn gro back on/);
    },
    30_000,
  );

  // systemd's side is a Python receiver (test/helpers/notify-receiver.py): skipped without python3.
  it.skipIf(!canReceiveNotify)(
    'under systemd: READY=1 once the control socket answers, watchdog pings, none while stopped, STOPPING=1',
    async () => {
      freshRun();
      const notifySocket = join(dir, 'notify');
      const receiver = new NotifyReceiver(notifySocket, 50);
      receivers.push(receiver);
      await receiver.ready();
      // A 1 s watchdog: a ping every 500 ms.
      const env = { ...process.env, NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '1000000' };
      const daemon = uvs(['daemon', '--config', configPath()], env);
      const ready = await receiver.waitFor((n) => n.text.split('\n').includes('READY=1'), 15_000);
      expect(ready.text).toMatch(new RegExp(`STATUS=serving on ${DEV}; 0 services`));
      // READY means serving: the control socket is there and answers at once.
      expect(statSync(control()).isSocket()).toBe(true);
      const reply = await sendQuery(
        control(),
        { query: 'counters' },
        { connectTimeoutMs: 500, responseTimeoutMs: 1_000 },
      );
      expect(reply.exitCode).toBe(0);
      expect(reply.stdout).toContain(DEV);

      await new Promise((resolve) => setTimeout(resolve, 2_200));
      const running = receiver.pings().filter((t) => t >= ready.ms);
      expect(running.length).toBeGreaterThanOrEqual(4);
      const gaps = running.slice(1).map((t, i) => t - running[i]!);
      for (const g of gaps) {
        expect(g).toBeGreaterThanOrEqual(450);
        expect(g).toBeLessThan(1_000);
      }

      // A daemon that cannot run (here: stopped) sends nothing, and systemd would kill it.
      daemon.proc.kill('SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = receiver.pings().length;
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(receiver.pings().length).toBe(before);
      daemon.proc.kill('SIGCONT');
      await receiver.waitFor((n) => n.text === 'WATCHDOG=1', 2_000, receiver.received.length);

      const mark = receiver.received.length;
      daemon.proc.kill('SIGTERM');
      const stopping = await receiver.waitFor((n) => n.text.split('\n').includes('STOPPING=1'), 5_000, mark);
      expect(stopping.text).toMatch(/STATUS=stopping/);
      expect((await daemon.done).code).toBe(0);
      expect(gro()).toBe(true);
    },
    60_000,
  );
});
