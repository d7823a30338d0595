// uvsadm against a live daemon in the lab topology (uvs issue 7):
// - the seed tutorial's NAT and DR command sequences, typed as the seed types them with `uvsadm` for
//   `ipvsadm` and the lab's VIP and RIPs, starting from a daemon with no rules, print the `-Ln` table the seed
//   shows (written out here by hand from ipvsadm.c's formats) and make a service that real HTTP reaches;
// - kill -9 of the daemon at random moments of a burst of rule changes leaves the state file holding either
//   the rules before the change in flight or after it, whole, and a restarted daemon serves exactly those.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NsChild } from '../../src/lab/netns.js';
import { startDirector } from '../../src/lab/run.js';
import { LAB_ADDRESSES } from '../../src/lab/topology.js';
import { parseRules } from '../../src/model/save-format.js';
import { ipv4ToString } from '../../src/wire/addr.js';
import {
  type HttpReply,
  type ModeLab,
  startModeLab,
  stopModeLab,
  uvsadm,
  uvsadmCli,
  uvsadmOk,
} from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

const VIP = LAB_ADDRESSES.vip;
const [RIP1, RIP2] = LAB_ADDRESSES.rips;

/**
 * ipvsadm -Ln with no services: list_all()'s version line, then the two title lines. The size is the
 * connection table's bucket count; the lab's config asks for 65536 connections, a power of two already.
 */
const EMPTY_LISTING =
  'IP Virtual Server version 1.2.1 (size=65536)\n' +
  'Prot LocalAddress:Port Scheduler Flags\n' +
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';

/** A destination line: `"  -> %-28s %-7s %-6d %-10u %-10u\n"` (print_service_entry()). */
function destLine(rip: string, forward: string, weight: number, active: number, inactive: number): string {
  return `  -> ${`${rip}:80`.padEnd(28)} ${forward.padEnd(7)} ${String(weight).padEnd(6)} ${String(active).padEnd(10)} ${String(inactive).padEnd(10)}\n`;
}

async function getFour(lab: ModeLab): Promise<string[]> {
  const { replies } = await lab.agent.call<{ replies: HttpReply[] }>('get', {
    url: lab.url,
    count: 4,
    timeoutMs: 5_000,
  });
  return replies.map((r) => r.body);
}

describe.skipIf(!canUseNetns)(`uvsadm on a live daemon ${netnsSkipReason}`, () => {
  it("runs the seed's NAT sequence: same -Ln table, working service", async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat', { rules: '' });
      expect(await uvsadmCli(lab, ['-Ln'])).toEqual({ code: 0, stdout: EMPTY_LISTING, stderr: '' });
      for (const line of [
        `-A -t ${VIP}:80 -s rr`,
        `-a -t ${VIP}:80 -r ${RIP1}:80 -m`,
        `-a -t ${VIP}:80 -r ${RIP2}:80 -m`,
      ]) {
        expect(await uvsadmCli(lab, line.split(' ')), line).toEqual({ code: 0, stdout: '', stderr: '' });
      }
      const seedTable = `${EMPTY_LISTING}TCP  ${VIP}:80 rr\n${destLine(RIP1, 'Masq', 1, 0, 0)}${destLine(RIP2, 'Masq', 1, 0, 0)}`;
      expect((await uvsadmCli(lab, ['-Ln'])).stdout).toBe(seedTable);
      expect(await getFour(lab)).toEqual(['web02', 'web01', 'web02', 'web01']);
    } finally {
      await stopModeLab(lab);
    }
  }, 60_000);

  describe('DR', () => {
    let lab: ModeLab | undefined;
    beforeAll(async () => {
      lab = await startModeLab('dr', { rules: '' });
    }, 60_000);
    afterAll(async () => {
      await stopModeLab(lab);
    }, 30_000);

    it("runs the seed's DR sequence (real servers without a port): same -Ln table, working service", async () => {
      expect((await uvsadmCli(lab!, ['-Ln'])).stdout).toBe(EMPTY_LISTING);
      for (const line of [`-A -t ${VIP}:80 -s rr`, `-a -t ${VIP}:80 -r ${RIP1} -g`, `-a -t ${VIP}:80 -r ${RIP2} -g`]) {
        expect(await uvsadmCli(lab!, line.split(' ')), line).toEqual({ code: 0, stdout: '', stderr: '' });
      }
      // ipvsadm gives a DR real server the service's port when none is given.
      const seedTable = `${EMPTY_LISTING}TCP  ${VIP}:80 rr\n${destLine(RIP1, 'Route', 1, 0, 0)}${destLine(RIP2, 'Route', 1, 0, 0)}`;
      expect((await uvsadmCli(lab!, ['-Ln'])).stdout).toBe(seedTable);
      expect(await getFour(lab!)).toEqual(['web02', 'web01', 'web02', 'web01']);
    }, 30_000);

    it('survives kill -9 during a burst of rule changes: the state file is the old or the new rules, whole', async () => {
      const topology = lab!.topology;
      const statePath = join(topology.dir, 'rules.state');
      // The rules as plain text lines, kept by this test independently of the daemon: "S svc sched" and
      // "D svc -> rip weight".
      let rules = new Set([`S TCP ${VIP}:80 rr`, `D TCP ${VIP}:80 -> ${RIP1}:80 1`, `D TCP ${VIP}:80 -> ${RIP2}:80 1`]);
      let nextPort = 2000;
      /** The k-th change of a burst: its uvsadm arguments, stdin, and what it does to `rules`. */
      const change = (k: number): { args: string[]; stdin: string; apply: (r: Set<string>) => void } => {
        const port = nextPort + Math.floor(k / 4);
        const svc = `${VIP}:${port}`;
        const key = `TCP ${svc}`;
        switch (k % 4) {
          case 0:
            return { args: ['-A', '-t', svc, '-s', 'wrr'], stdin: '', apply: (r) => r.add(`S ${key} wrr`) };
          case 1:
            // A two-line restore: applied all at once or not at all.
            return {
              args: ['-R'],
              stdin: `-a -t ${svc} -r ${RIP1}:${port} -g -w 2\n-a -t ${svc} -r ${RIP2}:${port} -g -w 3\n`,
              apply: (r) => {
                r.add(`D ${key} -> ${RIP1}:${port} 2`);
                r.add(`D ${key} -> ${RIP2}:${port} 3`);
              },
            };
          case 2:
            return {
              args: ['-e', '-t', svc, '-r', `${RIP1}:${port}`, '-g', '-w', '5'],
              stdin: '',
              apply: (r) => {
                r.delete(`D ${key} -> ${RIP1}:${port} 2`);
                r.add(`D ${key} -> ${RIP1}:${port} 5`);
              },
            };
          default:
            return {
              args: ['-d', '-t', svc, '-r', `${RIP2}:${port}`],
              stdin: '',
              apply: (r) => r.delete(`D ${key} -> ${RIP2}:${port} 3`),
            };
        }
      };
      const canonical = (r: Set<string>): string[] => [...r].sort();
      /** The state file read back with the rules-file parser, in the same plain lines. */
      const stateRules = (text: string): string[] => {
        const out = new Set<string>();
        for (const { command: c } of parseRules(text)) {
          const proto = c.kind !== 'clear' && c.kind !== 'set-timeouts' && c.svc.proto === 6 ? 'TCP' : 'UDP';
          if (c.kind === 'add-service') out.add(`S ${proto} ${ipv4ToString(c.svc.addr)}:${c.svc.port} ${c.sched}`);
          else if (c.kind === 'add-dest') {
            out.add(
              `D ${proto} ${ipv4ToString(c.svc.addr)}:${c.svc.port} -> ${ipv4ToString(c.addr)}:${c.port} ${c.weight}`,
            );
          } else throw new Error(`unexpected ${c.kind} in the state file`);
        }
        return canonical(out);
      };

      // The seed test's rules are on disk already; restart from them under a daemon this test can kill.
      await lab!.director?.stop();
      const ROUNDS = 3;
      for (let round = 0; round < ROUNDS; round++) {
        rmSync(topology.controlSocket, { force: true });
        const before = lab!.children.length;
        lab!.director = await startDirector(topology, lab!.distDir, lab!.children);
        const daemon = lab!.children[before] as NsChild;
        // A restarted daemon serves exactly what the state file held.
        expect(stateRules(await uvsadmOk(lab!, ['-S', '-n']))).toEqual(canonical(rules));

        const states = [canonical(rules)];
        let acked = 0;
        let killed = false;
        const burst = (async () => {
          for (let k = 0; !killed && k < 4_000; k++) {
            const step = change(k);
            const r = await uvsadm(lab!, step.args, step.stdin);
            if (r.exitCode !== 0) {
              // Only the kill may interrupt the burst.
              expect(killed, `${step.args.join(' ')}: ${r.stderr}`).toBe(true);
              return;
            }
            step.apply(rules);
            acked++;
            states.push(canonical(rules));
          }
        })();
        const delayMs = 30 + Math.floor(Math.random() * 400);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        killed = true;
        daemon.kill();
        const end = await daemon.done;
        await burst;
        expect(end.signal).toBe('SIGKILL');
        expect(acked, 'the burst made no change before the kill').toBeGreaterThan(0);

        const onDisk = stateRules(readFileSync(statePath, 'utf8'));
        // Either every acknowledged change (the one in flight had not reached the disk) or one more.
        const old = states[acked]!;
        const withInFlight = new Set(old);
        change(acked).apply(withInFlight);
        const candidates = [old, canonical(withInFlight)];
        expect(candidates, `round ${round}, killed after ${delayMs} ms, ${acked} changes acknowledged`).toContainEqual(
          onDisk,
        );
        rules = new Set(onDisk);
        // The next burst starts on ports no change of this one can have touched.
        nextPort += Math.floor(acked / 4) + 2;
      }
      // The last restart: the rules of the last kill, and the seed's service still answering on both servers.
      rmSync(topology.controlSocket, { force: true });
      lab!.director = await startDirector(topology, lab!.distDir, lab!.children);
      expect(stateRules(await uvsadmOk(lab!, ['-S', '-n']))).toEqual(canonical(rules));
      expect(new Set(await getFour(lab!))).toEqual(new Set(['web01', 'web02']));
    }, 60_000);
  });
});
