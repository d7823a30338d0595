// The daemon's side of systemd's notification protocol (src/daemon/systemd.ts): what it reads from the
// environment, what it sends, the watchdog's pace, and that the pings come from the event loop, so a loop
// that is stuck stops them. Datagrams go through the addon to a real AF_UNIX receiver (test/helpers).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../src/daemon/systemd.js';
import { canReceiveNotify, NotifyReceiver } from '../helpers/notify-receiver.js';

const noFailure = (err: Error) => {
  throw err;
};

describe('SystemdNotifier.fromEnvironment', () => {
  it('is absent without NOTIFY_SOCKET', () => {
    expect(SystemdNotifier.fromEnvironment({}, noFailure)).toBeUndefined();
    expect(SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: '' }, noFailure)).toBeUndefined();
  });

  it('pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    const send = () => {};
    const env = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '3000000' };
    expect(SystemdNotifier.fromEnvironment(env, noFailure, send, 42)?.pingEveryMs).toBe(1500);
    expect(SystemdNotifier.fromEnvironment({ ...env, WATCHDOG_PID: '42' }, noFailure, send, 42)?.pingEveryMs).toBe(
      1500,
    );
    expect(SystemdNotifier.fromEnvironment({ ...env, WATCHDOG_PID: '43' }, noFailure, send, 42)?.pingEveryMs).toBe(0);
    expect(SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: '@x' }, noFailure, send, 42)?.pingEveryMs).toBe(0);
    for (const bad of ['0', '-5', 'soon', '1.5']) {
      expect(
        SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: '@x', WATCHDOG_USEC: bad }, noFailure, send)?.pingEveryMs,
      ).toBe(0);
    }
  });
});

describe('SystemdNotifier messages', () => {
  it('sends READY with a one-line STATUS, pings no sooner than half the period, and STOPPING', () => {
    const sent: string[] = [];
    const n = new SystemdNotifier('@x', 1_000_000, (path, text) => sent.push(`${path} ${text}`), noFailure);
    n.ready('serving on a, b\nwith a second line', 1000);
    expect(sent).toEqual([
      `@x READY=1\nSTATUS=serving on a, b; with a second line\nMAINPID=${process.pid}`,
      '@x WATCHDOG=1',
    ]);
    sent.length = 0;
    // Housekeeping every 250 ms: a ping at 500 ms after the last, none between.
    for (const t of [1250, 1499, 1500, 1750, 1999, 2000]) n.tick(t);
    expect(sent).toEqual(['@x WATCHDOG=1', '@x WATCHDOG=1']);
    sent.length = 0;
    n.stopping('bye');
    expect(sent).toEqual(['@x STOPPING=1\nSTATUS=bye']);
  });

  it('without a watchdog, never pings', () => {
    const sent: string[] = [];
    const n = new SystemdNotifier('@x', 0, (_p, text) => sent.push(text), noFailure);
    for (let t = 0; t < 10_000; t += 250) n.tick(t);
    expect(sent).toEqual([]);
  });

  it('reports a send failure once, not at every ping, and again after a success', () => {
    const failures: string[] = [];
    let broken = true;
    const n = new SystemdNotifier(
      '/nonexistent/notify',
      1_000_000,
      () => {
        if (broken) throw new Error('ECONNREFUSED');
      },
      (err) => failures.push(err.message),
    );
    for (let t = 0; t < 5000; t += 250) n.tick(t);
    expect(failures).toEqual(['ECONNREFUSED']);
    broken = false;
    n.tick(6000);
    broken = true;
    n.tick(7000);
    expect(failures).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
  });
});

// The receiving end is Python's (test/helpers/notify-receiver.py); without python3 these cannot run.
describe.skipIf(!canReceiveNotify)('SystemdNotifier over a real notification socket', () => {
  const receivers: NotifyReceiver[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const r of receivers.splice(0)) r.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('delivers to a path socket and to an abstract one (@name)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-notify-'));
    dirs.push(dir);
    for (const path of [join(dir, 'notify'), `@uvs-test-${process.pid}-${randomBytes(4).toString('hex')}`]) {
      const receiver = new NotifyReceiver(path, 20);
      receivers.push(receiver);
      await receiver.ready();
      const n = SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: path }, noFailure)!;
      n.ready('serving', 0);
      const got = await receiver.waitFor((m) => m.text.startsWith('READY=1'), 5_000);
      expect(got.text).toBe(`READY=1\nSTATUS=serving\nMAINPID=${process.pid}`);
    }
  });

  it('says why a socket cannot be reached', () => {
    const failures: string[] = [];
    const n = SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: '/nonexistent/uvs-notify' }, (e) =>
      failures.push(e.message),
    )!;
    n.status('x');
    expect(failures).toEqual([expect.stringMatching(/sendto\(\/nonexistent\/uvs-notify\): ENOENT/)]);
    const bad = SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: 'relative/path' }, (e) => failures.push(e.message))!;
    bad.status('x');
    expect(failures[1]).toMatch(/bad socket path/);
  });

  it('pings from the event loop: a blocked loop sends none until it runs again', async () => {
    const path = `@uvs-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    const receiver = new NotifyReceiver(path, 30);
    receivers.push(receiver);
    await receiver.ready();
    // A 200 ms watchdog: a ping every 100 ms from a 20 ms housekeeping timer, as the daemon's timer does.
    const n = SystemdNotifier.fromEnvironment({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '200000' }, noFailure)!;
    const timer = setInterval(() => n.tick(performance.now()), 20);
    try {
      await new Promise((resolve) => setTimeout(resolve, 600));
      const spin = performance.now() + 1000;
      while (performance.now() < spin) {
        // The loop is stuck here, as a packet loop in an endless loop would be.
      }
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      clearInterval(timer);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pings = receiver.pings();
    const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
    // About 5 pings before the block and 5 after; one gap spans the block (a busy machine may delay a timer,
    // never by the second the loop was blocked).
    expect(pings.length).toBeGreaterThanOrEqual(8);
    const long = gaps.filter((g) => g > 700);
    expect(long).toHaveLength(1);
    expect(long[0]).toBeGreaterThan(950);
    expect(gaps.filter((g) => g <= 700).every((g) => g >= 90)).toBe(true);
  });
});
