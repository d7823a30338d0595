// The `counters` query: the report the daemon builds from a real Datapath's counters, and how the control
// socket carries a query next to uvsadm's commands without uvsadm being able to send one.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatCounters } from '../../src/cli/counters.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { runUvsadm, sendQuery } from '../../src/control/client.js';
import { asCountersReport, countersReport } from '../../src/control/counters.js';
import { executeCommand } from '../../src/control/handler.js';
import { ControlServer } from '../../src/control/server.js';
import type { Datapath } from '../../src/datapath/datapath.js';
import { CIP, CLIENT_MAC, ETH0_MAC, makeDatapath, run, VIP } from '../datapath/helpers.js';
import { clientSyn, RULES, tcpFrame } from '../trace/helpers.js';
import { makeLab } from './helpers.js';

/** Three new connections, one SYN to a port no service has, one ACK of no connection, one frame for another MAC. */
function exercise(dp: Datapath): void {
  for (const sport of [1001, 1002, 1003]) run(dp, clientSyn(sport, 80));
  run(dp, clientSyn(1004, 99));
  run(dp, tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, VIP, 1005, 80, TcpFlag.ack));
  run(dp, tcpFrame(CLIENT_MAC, 0x02_00_00_00_09_09, CIP, VIP, 1006, 80, TcpFlag.syn));
}

function reportOf(dp: Datapath) {
  return countersReport({
    datapath: dp,
    conns: dp.core.conns,
    ports: [{ ifname: 'eth0', rx: 6, tx: 3, txDropped: 1, txDroppedQueueFull: 1 }],
    uptimeSeconds: 12.5,
  });
}

describe('counters report', () => {
  it("copies every datapath counter, the non-zero drops, the connection table's use and the fast path share", () => {
    const dp = makeDatapath(RULES);
    exercise(dp);
    const report = reportOf(dp);
    expect(report.datapath).toEqual({ ...dp.counters });
    expect(report.datapath.rx).toBe(6);
    expect(report.datapath.forwardedIn).toBe(3);
    expect(report.drops).toEqual({ noService: 1, tcpNoConn: 1, notForUs: 1 });
    expect(report.connections).toEqual({ size: 3, capacity: 1024, overflows: 0, expired: 0, reclaimed: 0, dropped: 0 });
    expect(report.connections.size).toBe(dp.core.conns.size);
    expect(report.fastPath.enabled).toBe(dp.fastPathEnabled);
    expect(report.fastPath.share).toBe(dp.counters.fastPath / 6);
    expect(report.ports).toEqual([{ ifname: 'eth0', rx: 6, tx: 3, txDropped: 1, txDroppedQueueFull: 1 }]);
    expect(report.neighbourWaiting).toBe(0);
    // It survives JSON, as it crosses the socket.
    expect(asCountersReport(JSON.parse(JSON.stringify(report)))).toEqual(report);
  });

  it('is a copy: counting after it was taken does not change it; no frames yet means no share', () => {
    const dp = makeDatapath(RULES);
    const before = reportOf(dp);
    expect(before.fastPath.share).toBeNull();
    expect(before.drops).toEqual({});
    exercise(dp);
    expect(before.datapath.rx).toBe(0);
    expect(reportOf(dp).datapath.rx).toBe(6);
  });

  it('asCountersReport refuses what is not a report', () => {
    const good = JSON.parse(JSON.stringify(reportOf(makeDatapath(RULES))));
    expect(asCountersReport(good)).toBeDefined();
    for (const bad of [
      null,
      [],
      { ...good, datapath: { rx: -1 } },
      { ...good, drops: { noService: 'x' } },
      { ...good, ports: [{ ifname: 'eth0', rx: 1, tx: 1 }] },
      { ...good, ports: [{ ifname: 'eth0', rx: 1, tx: 1, txDropped: 1 }] },
      { ...good, ports: [{ ifname: 'eth0', rx: 1, tx: 1, txDropped: 1, txDroppedQueueFull: 2 }] },
      { ...good, connections: { size: 1 } },
      { ...good, fastPath: { enabled: 'yes', share: null } },
      { ...good, uptimeSeconds: undefined },
    ]) {
      expect(asCountersReport(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

describe('disabled rules in the counters', () => {
  const MISFITS = `${RULES}-A -t 192.168.1.250:80 -s rr\n-a -t 192.168.1.231:80 -r 10.1.1.1:80 -g -w 1\n`;
  const disabledReport = () => {
    const dp = makeDatapath(MISFITS);
    return countersReport({
      datapath: dp,
      conns: dp.core.conns,
      ports: [],
      uptimeSeconds: 1,
      disabledRules: dp.checkRules().disabled,
    });
  };

  it('names each rule that cannot work on this director and why, in the report and in its JSON', () => {
    const report = disabledReport();
    expect(report.disabledRules).toEqual([
      {
        rule: 'TCP 192.168.1.231:80 -> 10.1.1.1:80',
        reason: "DR (-g) needs the real server on one of the director's links; it is not",
      },
      {
        rule: 'TCP 192.168.1.250:80',
        reason: "VIP 192.168.1.250 is not among the interfaces' addresses, so nothing answers ARP for it",
      },
    ]);
    expect(asCountersReport(JSON.parse(JSON.stringify(report)))).toEqual(report);
    expect(reportOf(makeDatapath(RULES)).disabledRules).toEqual([]);
  });

  it('uvs counters prints them with their reasons, and "none" when there are none', () => {
    expect(formatCounters(disabledReport())).toContain(
      'disabled rules: 2, kept in the rules (uvsadm -Ln, -S) but given no traffic, as they cannot work on this director:\n' +
        "  TCP 192.168.1.231:80 -> 10.1.1.1:80: DR (-g) needs the real server on one of the director's links; it is not\n" +
        "  TCP 192.168.1.250:80: VIP 192.168.1.250 is not among the interfaces' addresses, so nothing answers ARP for it\n",
    );
    expect(formatCounters(reportOf(makeDatapath(RULES)))).toContain('disabled rules: none\n');
  });

  it('asCountersReport checks their shape, and takes a report without them as having none', () => {
    const good = JSON.parse(JSON.stringify(disabledReport()));
    for (const bad of [
      { ...good, disabledRules: 'x' },
      { ...good, disabledRules: [{ rule: 'TCP 1.2.3.4:80' }] },
    ]) {
      expect(asCountersReport(bad), JSON.stringify(bad)).toBeUndefined();
    }
    const { disabledRules: _, ...older } = good;
    expect(asCountersReport(older)?.disabledRules).toEqual([]);
  });
});

describe('counters query on the control socket', () => {
  let dir: string;
  const servers: ControlServer[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uvs-counters-'));
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(withQueries: boolean) {
    const socketPath = join(dir, 'uvs.sock');
    const lab = makeLab();
    const asked: string[] = [];
    const server = await ControlServer.start({
      socketPath,
      handler: ({ argv, stdin }) => executeCommand(lab.core, argv, stdin, lab.ctx),
      ...(withQueries
        ? {
            queryHandler: async ({ query }) => {
              asked.push(query);
              return { stdout: '{"answer":1}\n', stderr: '', exitCode: 0 };
            },
          }
        : {}),
    });
    servers.push(server);
    return { socketPath, asked };
  }

  /** Sends one raw line and returns the decoded answer. */
  function raw(socketPath: string, line: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let text = '';
      const c = createConnection(socketPath, () => c.write(`${line}\n`));
      c.on('data', (d) => {
        text += d.toString();
      });
      c.on('end', () => resolve(JSON.parse(text)));
      c.on('error', reject);
    });
  }

  it('answers a query through the query handler; commands still go to the command handler; socket stays 0600', async () => {
    const { socketPath, asked } = await start(true);
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect(await sendQuery(socketPath, { query: 'counters' })).toEqual({
      stdout: '{"answer":1}\n',
      stderr: '',
      exitCode: 0,
    });
    expect(asked).toEqual(['counters']);
    const listed = await runUvsadm(['-Ln'], { socketEnv: socketPath, readStdin: async () => '' });
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain('Prot LocalAddress:Port');
    expect(asked).toEqual(['counters']);
  });

  it('uvsadm cannot ask a query: whatever its arguments, they are an ipvsadm command line', async () => {
    const { socketPath, asked } = await start(true);
    for (const argv of [['counters'], ['--query', 'counters'], ['--json']]) {
      const r = await runUvsadm(argv, { socketEnv: socketPath, readStdin: async () => '' });
      expect(r.exitCode, argv.join(' ')).not.toBe(0);
    }
    expect(asked).toEqual([]);
  });

  it('refuses unknown queries, a query with argv, and queries to a server without a query handler', async () => {
    const { socketPath, asked } = await start(true);
    expect(await raw(socketPath, '{"query":"secrets"}')).toEqual({
      stdout: '',
      stderr: 'uvs: unknown control query "secrets"\n',
      exitCode: 2,
    });
    expect(await raw(socketPath, '{"query":"counters","argv":["-C"]}')).toMatchObject({ exitCode: 2 });
    expect(asked).toEqual([]);
    await servers.splice(0)[0]!.close();

    const plain = await start(false);
    expect(await sendQuery(plain.socketPath, { query: 'counters' })).toEqual({
      stdout: '',
      stderr: 'uvs: this daemon does not answer counters queries\n',
      exitCode: 2,
    });
  });

  it('a failing query handler answers exit 2 with a message and the server keeps serving', async () => {
    const socketPath = join(dir, 'uvs.sock');
    const lab = makeLab();
    const errors: unknown[] = [];
    servers.push(
      await ControlServer.start({
        socketPath,
        handler: ({ argv, stdin }) => executeCommand(lab.core, argv, stdin, lab.ctx),
        queryHandler: async () => {
          throw new Error('boom');
        },
        onError: (err) => errors.push(err),
      }),
    );
    const r = await sendQuery(socketPath, { query: 'counters' });
    expect(r).toEqual({ stdout: '', stderr: 'uvs: internal error: Error: boom\n', exitCode: 2 });
    expect(errors).toHaveLength(1);
    expect((await runUvsadm(['-Ln'], { socketEnv: socketPath, readStdin: async () => '' })).exitCode).toBe(0);
  });
});
