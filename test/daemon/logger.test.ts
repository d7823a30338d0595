// The daemon's log must never stall the packet loop: with stderr a pipe nobody reads, logging goes on,
// lines past the bound are dropped and counted (memory stays bounded), and the daemon can still exit.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDaemonLog, type LogStream } from '../../src/daemon/logger.js';
import { compileForChildren } from '../netns/harness.js';

/** A stream whose reader is as slow as the test says: `pending` bytes wait until the test drains them. */
class SlowReader extends EventEmitter implements LogStream {
  readonly written: string[] = [];
  writableLength = 0;
  write(chunk: string): boolean {
    this.written.push(chunk);
    this.writableLength += chunk.length;
    return false;
  }
  drainAll(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
}

describe('daemon log', () => {
  it('drops lines past the bound while the reader lags, then says how many', async () => {
    const stream = new SlowReader();
    const daemonLog = createDaemonLog({ stream, maxPendingBytes: 1000 });
    for (let i = 0; i < 50; i++) daemonLog.log.info({ i }, 'line');
    const kept = stream.written.length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(50);
    expect(daemonLog.dropped).toBe(50 - kept);
    // flush() waits for the reader, but never longer than asked.
    const started = Date.now();
    await daemonLog.flush(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    const flushed = daemonLog.flush(5_000);
    stream.drainAll();
    await flushed;
    daemonLog.log.warn('after');
    const notice = JSON.parse(stream.written[kept]!);
    expect(notice).toMatchObject({ level: 40, name: 'uvs', dropped: 50 - kept });
    expect(JSON.parse(stream.written[kept + 1]!)).toMatchObject({ level: 40, msg: 'after' });
  });

  it('with stderr a pipe nobody reads, the process keeps running, memory stays bounded, and it exits', async () => {
    const dist = compileForChildren();
    const child = spawn(
      process.execPath,
      [join(__dirname, 'children', 'stalled-log.mjs'), join(dist, 'daemon', 'logger.js')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Never read: the pipe fills after 64 KiB.
    child.stderr.pause();
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    child.stderr.destroy();
    expect(code, `the child hung; it printed: ${out}`).toBe(0);
    const [report, flushed] = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // 1 MiB pending is about 4000 of these lines: everything past it was dropped, not buffered.
    expect(report.lines).toBeGreaterThan(20_000);
    expect(report.dropped).toBeGreaterThan(report.lines / 2);
    expect(report.ticks).toBeGreaterThan(10);
    expect(report.rssGrowthBytes).toBeLessThan(64 * 1024 * 1024);
    expect(flushed.flushMs).toBeLessThan(1_000);
  }, 90_000);
});
