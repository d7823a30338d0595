// A live `uvs daemon` whose interface goes down and up, or is deleted and made again, while its other
// interface keeps serving (issue 13, "Daemon robustness"). Three namespaces, per receive mode:
//
//   ns a                         ns d (uvs daemon)                      ns b
//   eth0 10.211.1.2/24 -- veth -- eth0 [uvs owns 10.211.1.1/24]
//                                eth1 [uvs owns 10.211.2.1/24] -- veth -- eth0 10.211.2.2/24
//
// The director's kernel holds no address: only uvs answers. In a and b an ARP prober
// (children/arp-prober.mjs) asks for uvs's address every 10 ms and reports each answer with the time it
// came. Then eth1 is flapped or replaced, and the test checks the log says so, that a kept getting answers
// throughout, and that b gets answers again within a second of eth1 being back.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getOffloads, setOffloads } from '../../src/io/offloads.js';
import { NsChild } from '../../src/lab/netns.js';
import { canUseNetns, childScript, compileForChildren, listNamespaces, NetnsLab, netnsSkipReason } from './harness.js';

const A_SIDE = { uvs: '10.211.1.1', peer: '10.211.1.2' };
const B_SIDE = { uvs: '10.211.2.1', peer: '10.211.2.2' };
const PROBE_INTERVAL_MS = 10;
/** What the daemon must do: answer on the interface again within this long of it coming back. */
const RESUME_LIMIT_MS = 1_000;
/** How long the test waits for a log line or a first answer before it calls it a failure. */
const WAIT_LIMIT_MS = 3_000;
const CHILD_LIFETIME_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A line of the daemon's log (pino JSON on stderr); `link` marks what its link monitoring saw. */
interface LogLine {
  msg: string;
  level: number;
  interface?: string;
  link?: 'down' | 'up' | 'deleted';
}

interface Answer {
  event: 'reply' | 'announce';
  t: number;
  mac: number;
}

/** An ARP prober child and what it has heard so far. */
class Prober {
  readonly answers: Answer[] = [];
  constructor(readonly child: NsChild) {
    child.onLine((line) => {
      const parsed = JSON.parse(line) as { event: string };
      if (parsed.event === 'reply' || parsed.event === 'announce') this.answers.push(parsed as Answer);
    });
  }

  repliesBetween(from: number, to: number): number {
    return this.answers.filter((a) => a.event === 'reply' && a.t >= from && a.t <= to).length;
  }

  /** The first answer of `event` at or after `since` that `accept` takes, waiting up to WAIT_LIMIT_MS. */
  async first(event: Answer['event'], since: number, accept: (a: Answer) => boolean = () => true): Promise<Answer> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      const found = this.answers.find((a) => a.event === event && a.t >= since && accept(a));
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no ${event} within ${WAIT_LIMIT_MS} ms`);
      await sleep(PROBE_INTERVAL_MS);
    }
  }
}

const MODES = [
  { name: 'afpacket, rx mmsg', backend: 'afpacket', rx: 'mmsg' },
  { name: 'afpacket, rx ring', backend: 'afpacket', rx: 'ring' },
  { name: 'afxdp', backend: 'afxdp', rx: 'mmsg' },
] as const;

describe.skipIf(!canUseNetns)(`uvs daemon across interface down/up and re-creation ${netnsSkipReason}`, () => {
  describe.each(MODES)('$name', ({ backend, rx }) => {
    let lab: NetnsLab;
    let nsA: string;
    let nsB: string;
    let nsD: string;
    let dir: string;
    let daemon: NsChild;
    let proberA: Prober;
    let proberB: Prober;

    const ip = (ns: string, args: string[]): string => lab.exec(ns, 'ip', args);
    /** Log lines of the daemon (pino JSON on stderr) so far. */
    const logLines = (): LogLine[] =>
      daemon.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine);
    async function waitForLog(match: (line: LogLine) => boolean, after = 0): Promise<LogLine> {
      const deadline = Date.now() + WAIT_LIMIT_MS;
      for (;;) {
        const found = logLines().slice(after).find(match);
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`no such log line within ${WAIT_LIMIT_MS} ms:\n${daemon.stderr}`);
        await sleep(20);
      }
    }
    const aboutEth1 = (link: LogLine['link']) => (line: LogLine) => line.interface === 'eth1' && line.link === link;

    /** eth1 of d with its peer eth0 in b, as at the start: uvs's side has no kernel address. */
    function makeEth1(): void {
      ip(nsD, ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsB]);
      ip(nsB, ['addr', 'add', `${B_SIDE.peer}/24`, 'dev', 'eth0']);
    }
    function bringEth1Up(): void {
      ip(nsB, ['link', 'set', 'eth0', 'up']);
      ip(nsD, ['link', 'set', 'eth1', 'up']);
    }
    function startProber(ns: string, side: typeof A_SIDE, dist: string): Prober {
      const child = new NsChild(ns, [process.execPath, childScript('arp-prober.mjs')], CHILD_LIFETIME_MS, {
        ...process.env,
        UVS_CHILD_CONFIG: JSON.stringify({
          dist,
          ifname: 'eth0',
          senderIp: side.peer,
          targetIp: side.uvs,
          intervalMs: PROBE_INTERVAL_MS,
          maxSeconds: CHILD_LIFETIME_MS / 1000,
        }),
      });
      return new Prober(child);
    }
    /** a was answered all through [from, to]: at least half the probes it sent then. */
    function expectAServedBetween(from: number, to: number): void {
      const expected = (to - from) / PROBE_INTERVAL_MS;
      expect(proberA.repliesBetween(from, to)).toBeGreaterThan(expected / 2);
    }

    beforeAll(async () => {
      const dist = compileForChildren();
      lab = new NetnsLab();
      nsA = lab.addNamespace('a');
      nsB = lab.addNamespace('b');
      nsD = lab.addNamespace('d');
      ip(nsD, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsA]);
      ip(nsA, ['addr', 'add', `${A_SIDE.peer}/24`, 'dev', 'eth0']);
      ip(nsA, ['link', 'set', 'eth0', 'up']);
      ip(nsD, ['link', 'set', 'eth0', 'up']);
      makeEth1();
      bringEth1Up();
      dir = mkdtempSync(join(tmpdir(), 'uvs-link-flap-'));
      const config = join(dir, 'director.yaml');
      writeFileSync(
        config,
        [
          'interfaces:',
          `  - { name: eth0, addresses: [${A_SIDE.uvs}/24] }`,
          `  - { name: eth1, addresses: [${B_SIDE.uvs}/24] }`,
          `control: ${join(dir, 'uvs.sock')}`,
          `state: ${join(dir, 'rules.state')}`,
          `io: { backend: ${backend}, rx: ${rx}, wake: poll, batch: 64 }`,
          'conn: { capacity: 1024 }',
          '',
        ].join('\n'),
      );
      daemon = new NsChild(
        nsD,
        [process.execPath, join(dist, 'cli', 'uvs.js'), 'daemon', '--config', config],
        CHILD_LIFETIME_MS,
      );
      await waitForLog((l) => l.msg === 'uvs daemon running');
      proberA = startProber(nsA, A_SIDE, dist);
      proberB = startProber(nsB, B_SIDE, dist);
      const started = Date.now();
      await proberA.first('reply', started);
      await proberB.first('reply', started);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([daemon, proberA?.child, proberB?.child].map((c) => c?.stop('SIGTERM', 2_000)));
      const prefix = lab.prefix;
      lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
      expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    });

    it('logs eth1 going down and up, serves eth0 meanwhile, and answers on eth1 within 1 s of it coming back', async () => {
      const logged = logLines().length;
      const down = Date.now();
      ip(nsD, ['link', 'set', 'eth1', 'down']);
      await waitForLog(aboutEth1('down'), logged);
      await sleep(300);
      const up = Date.now();
      ip(nsD, ['link', 'set', 'eth1', 'up']);
      const back = await proberB.first('reply', up);
      expect(back.t - up).toBeLessThan(RESUME_LIMIT_MS);
      await waitForLog(aboutEth1('up'), logged);
      expectAServedBetween(down, up);
      // Back in service, uvs announces its address on the link again, as the kernel does.
      await proberB.first('announce', up);
    });

    it('resumes on eth1 after a down and up in quick succession', async () => {
      const logged = logLines().length;
      ip(nsD, ['link', 'set', 'eth1', 'down']);
      const up = Date.now();
      ip(nsD, ['link', 'set', 'eth1', 'up']);
      const back = await proberB.first('reply', up);
      expect(back.t - up).toBeLessThan(RESUME_LIMIT_MS);
      // Too quick for a look at the link to see it down: the socket's error or the carrier count tells.
      await waitForLog(aboutEth1('down'), logged);
      await waitForLog(aboutEth1('up'), logged);
    });

    it('follows eth1 deleted and made again (a new ifindex and MAC), eth0 served meanwhile', async () => {
      const logged = logLines().length;
      const deleted = Date.now();
      ip(nsD, ['link', 'del', 'eth1']);
      await waitForLog(aboutEth1('deleted'), logged);
      await sleep(300);
      makeEth1();
      // A NIC that comes back with GRO on: the daemon must turn it off again, as at start (afpacket).
      if (backend === 'afpacket') setOffloads(nsD, 'eth1', { gro: true });
      const newMac = lab.macOf(nsD, 'eth1');
      const up = Date.now();
      bringEth1Up();
      const back = await proberB.first('reply', up, (a) => a.mac === newMac);
      expect(back.t - up).toBeLessThan(RESUME_LIMIT_MS);
      await waitForLog(aboutEth1('up'), logged);
      expectAServedBetween(deleted, up);
      await proberB.first('announce', up, (a) => a.mac === newMac);
      if (backend === 'afpacket') expect(getOffloads(nsD, 'eth1').gro).toBe(false);
    });
  });
});
