// The trace socket with a Datapath driven in-process: the stream of JSON lines, the context that names the
// addresses, `uvs trace`'s live rendering, the bound on what waits for a slow client (dropped and counted,
// never buffered without limit), and tracing switched off again when the last client leaves.
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, statSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { traceMain } from '../../src/cli/trace.js';
import { TRACE_CHANNEL } from '../../src/datapath/datapath.js';
import { type TraceLine, TraceServer, traceSocketPath } from '../../src/trace/server.js';
import { makeDatapath, run, topology } from '../datapath/helpers.js';
import { clientSyn, RULES } from './helpers.js';

const channel = diagnosticsChannel.channel(TRACE_CHANNEL);
const servers: TraceServer[] = [];

async function startServer(maxPendingBytes?: number) {
  const dp = makeDatapath(RULES, topology());
  const path = traceSocketPath(join(mkdtempSync(join(tmpdir(), 'uvs-tr-')), 'uvs.sock'));
  const server = await TraceServer.start({
    socketPath: path,
    datapath: dp,
    ...(maxPendingBytes === undefined ? {} : { maxPendingBytes }),
  });
  servers.push(server);
  return { dp, path, server };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let k = 0; k < 400; k++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A client that collects the lines it reads. */
function connect(path: string): { socket: Socket; lines: TraceLine[] } {
  const socket = createConnection(path);
  const lines: TraceLine[] = [];
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      lines.push(JSON.parse(pending.slice(0, nl)) as TraceLine);
      pending = pending.slice(nl + 1);
    }
  });
  return { socket, lines };
}

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

describe('trace socket', () => {
  it('is created 0600 and defaults to the control socket path + .trace', async () => {
    const { path } = await startServer();
    expect(path.endsWith('/uvs.sock.trace')).toBe(true);
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('subscribes only while a client is connected, streams context then packets, unsubscribes on leave', async () => {
    const { dp, server, path } = await startServer();
    run(dp, clientSyn(40000, 443));
    expect(channel.hasSubscribers).toBe(false);
    expect(server.tracing).toBe(false);

    const a = connect(path);
    await until(() => a.lines.length === 1, 'the context line');
    expect(channel.hasSubscribers).toBe(true);
    expect(a.lines[0]).toMatchObject({
      type: 'context',
      context: { vips: ['192.168.1.231'], rips: ['192.168.2.11', '192.168.2.12'] },
    });
    run(dp, clientSyn(40000, 80));
    await until(() => a.lines.length === 2, 'the packet line');
    expect(a.lines[1]).toMatchObject({
      type: 'packet',
      seq: 1,
      trace: { verdict: 'forward', conn: 'new', fwd: 'Masq', output: { dst: '192.168.2.11', dport: 8080 } },
    });

    const b = connect(path);
    await until(() => server.clientCount === 2 && b.lines.length === 1, 'the second client');
    a.socket.destroy();
    await until(() => server.clientCount === 1, 'the first client to leave');
    expect(channel.hasSubscribers).toBe(true);
    run(dp, clientSyn(40001, 443));
    await until(() => b.lines.length === 2, 'the second packet');
    expect(b.lines[1]).toMatchObject({ type: 'packet', seq: 2, trace: { verdict: 'drop', reason: 'noService' } });

    b.socket.end();
    await until(() => server.clientCount === 0, 'the last client to leave');
    expect(channel.hasSubscribers).toBe(false);
    expect(server.tracing).toBe(false);
    run(dp, clientSyn(40002, 443));
    expect(server.published).toBe(2);
  });

  it('sends the context again after the rules changed', async () => {
    const { dp, path } = await startServer();
    const a = connect(path);
    await until(() => a.lines.length === 1, 'the context line');
    dp.core.applyRules([{ command: { kind: 'clear' } }]);
    run(dp, clientSyn(40000, 80));
    await until(() => a.lines.length === 3, 'context and packet');
    expect(a.lines[1]).toEqual({ type: 'context', context: expect.objectContaining({ vips: [], rips: [] }) });
    expect(a.lines[2]).toMatchObject({ type: 'packet', trace: { reason: 'noService' } });
  });

  it('drops and counts what a slow client cannot take, keeping the daemon buffer bounded', async () => {
    const bound = 16 * 1024;
    const { dp, path, server } = await startServer(bound);
    const slow = connect(path);
    await until(() => slow.lines.length === 1, 'the context line');
    slow.socket.pause();
    const lineBytes = 1000;
    const sent = 5000;
    let highest = 0;
    for (let k = 0; k < sent; k++) {
      run(dp, clientSyn(10000 + k, 443));
      highest = Math.max(highest, server.pendingBytes);
    }
    expect(server.published).toBe(sent);
    expect(server.lost).toBeGreaterThan(0);
    expect(highest).toBeLessThanOrEqual(bound + lineBytes);

    slow.socket.resume();
    await until(() => server.pendingBytes === 0, 'the client to drain');
    const lost = server.lost;
    run(dp, clientSyn(9999, 443));
    await until(() => slow.lines.some((l) => l.type === 'packet' && l.seq === sent + 1), 'the last packet');
    const packets = slow.lines.filter((l) => l.type === 'packet');
    const lostLines = slow.lines.filter((l) => l.type === 'lost');
    expect(lostLines).toEqual([{ type: 'lost', count: lost }]);
    // The lost line comes right before the first packet after the gap.
    expect(slow.lines.at(-2)).toEqual({ type: 'lost', count: lost });
    expect(packets.length + lost).toBe(sent + 1);
    const seqs = packets.map((l) => (l.type === 'packet' ? l.seq : 0));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('uvs trace --socket renders the stream with the daemon context until stopped', async () => {
    const { dp, path, server } = await startServer();
    // An earlier client saw one packet; this one still numbers its first packet #1.
    const earlier = connect(path);
    await until(() => earlier.lines.length === 1, 'the earlier client');
    run(dp, clientSyn(39999, 443));
    await until(() => earlier.lines.length === 2, 'the earlier packet');
    earlier.socket.destroy();
    await until(() => server.clientCount === 0, 'the earlier client to leave');
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const stop = new AbortController();
    const exit = traceMain(['--socket', path], out, err, stop.signal);
    await until(() => server.clientCount === 1, 'the trace client');
    // The context is on its way before the first packet can be.
    await new Promise((r) => setTimeout(r, 20));
    run(dp, clientSyn(40000, 80));
    await until(() => text.split('\n').length >= 4, 'the explanation');
    stop.abort();
    expect(await exit).toBe(0);
    expect(text).toBe(
      [
        '#1 eth0 in  TCP 192.168.1.100:40000 -> 192.168.1.231:80 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:80 rr: new connection -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080, out eth1 to 02:00:00:00:02:11; state NONE -> SYN_RECV',
        '',
      ].join('\n'),
    );
    await until(() => server.clientCount === 0, 'the client to leave');
    expect(channel.hasSubscribers).toBe(false);
  });
});

describe('uvs trace --socket rendering', () => {
  it('numbers from the first packet seen and reports lost packets, from a hand-written stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-tr-'));
    const path = join(dir, 'fake.trace');
    const ctx = {
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addresses: ['192.168.1.231'] }],
      vips: ['192.168.1.231'],
      rips: [],
      neighbours: [],
    };
    const drop = (sport: number) => ({
      now: 1,
      ingress: 'eth0',
      verdict: 'drop',
      reason: 'noService',
      input: { kind: 'udp', src: '10.0.0.1', dst: '192.168.1.231', sport, dport: 53, srcMac: 'a', dstMac: 'b' },
      output: null,
      egress: null,
      service: null,
      scheduler: null,
      conn: null,
      fwd: null,
      stateBefore: null,
      stateAfter: null,
    });
    const fake = createServer((socket) => {
      socket.end(
        [
          { type: 'context', context: ctx },
          { type: 'packet', seq: 41, trace: drop(1000) },
          { type: 'lost', count: 3 },
          { type: 'packet', seq: 45, trace: drop(1004) },
        ]
          .map((l) => `${JSON.stringify(l)}\n`)
          .join(''),
      );
    });
    await new Promise<void>((resolve) => fake.listen(path, resolve));
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    let errText = '';
    out.on('data', (d: Buffer) => {
      text += d.toString();
    });
    err.on('data', (d: Buffer) => {
      errText += d.toString();
    });
    expect(await traceMain(['--socket', path], out, err)).toBe(0);
    await new Promise<void>((resolve) => fake.close(() => resolve()));
    const sentence = 'to an address of the director, but no virtual service listens on that protocol and port';
    expect(text).toBe(
      [
        '#1 eth0 in  UDP 10.0.0.1:1000 -> 192.168.1.231:53 (CIP -> VIP)',
        `   dropped (noService): ${sentence}`,
        '... 3 packets not shown: this client did not keep up',
        '#5 eth0 in  UDP 10.0.0.1:1004 -> 192.168.1.231:53 (CIP -> VIP)',
        `   dropped (noService): ${sentence}`,
        '',
      ].join('\n'),
    );
    expect(errText).toBe('uvs trace: the daemon closed the trace socket\n');
  });
});
