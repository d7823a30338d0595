// The one-command lab end to end, for each forwarding mode: real HTTP from the client namespace to the VIP
// through the uvs daemon in the director namespace, answered by web01 and web02 in turn, then the director's
// tables as uvsadm prints them. This is the seed tutorial's experiment, run by the product code (`uvs lab`).
import { describe, expect, it } from 'vitest';
import { runLab } from '../../src/lab/run.js';
import { canUseNetns, compileForChildren, listNamespaces, netnsSkipReason } from '../netns/harness.js';

const forwardName = { nat: 'Masq', dr: 'Route', tun: 'Tunnel' } as const;

describe.skipIf(!canUseNetns)(`uvs lab ${netnsSkipReason}`, () => {
  for (const mode of ['nat', 'dr', 'tun'] as const) {
    it(`serves ${mode.toUpperCase()} traffic round-robin through the daemon and lists it like ipvsadm`, async () => {
      const lines: string[] = [];
      const mine = (n: string) => n.startsWith(`uvs-lab-${process.pid}-`);
      const before = listNamespaces().filter(mine);
      const code = await runLab(mode, {
        requests: 4,
        requestTimeoutMs: 3_000,
        keep: false,
        distDir: compileForChildren(),
        out: (line) => lines.push(line),
      });
      const text = lines.join('\n');
      // The tables arrive as one multi-line string each.
      const all = text.split('\n');
      expect(code, text).toBe(0);
      // rr over the kernel list order (newest first): web02, web01, web02, web01.
      const replies = all.filter((l) => /^ {2}\d+: /.test(l)).map((l) => l.replace(/ \(\d+ ms\)$/, '').trim());
      expect(replies).toEqual(['1: web02', '2: web01', '3: web02', '4: web01']);
      expect(text).toContain('TCP  192.168.1.231:80 rr');
      const destLines = all.filter((l) => l.startsWith('  -> 192.168.1.20'));
      // Each real server shows up in -Ln with the mode's forwarding name, weight 1 and its 2 connections
      // (finished, so inactive), then in --stats with 2 connections.
      expect(destLines.slice(0, 2).map((l) => l.trim().split(/\s+/))).toEqual([
        ['->', '192.168.1.200:80', forwardName[mode], '1', '0', '2'],
        ['->', '192.168.1.201:80', forwardName[mode], '1', '0', '2'],
      ]);
      const statsRows = destLines.slice(2).map((l) => l.trim().split(/\s+/));
      expect(statsRows.map((r) => r[2])).toEqual(['2', '2']);
      // OutPkts: NAT replies pass the director; DR and TUN replies go straight to the client.
      for (const r of statsRows) {
        if (mode === 'nat') expect(Number(r[4])).toBeGreaterThan(0);
        else expect(r[4]).toBe('0');
      }
      expect(listNamespaces().filter(mine)).toEqual(before);
    }, 60_000);
  }
});
