// `uvs lab --keep` leaves a lab running; `uvs lab --remove NAME`, the command it prints, must stop the lab's
// processes (the daemon, the web servers), not only delete the namespaces' names, which would leave them
// running in namespaces nobody can reach.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRunning, LAB_NAME, labNamespaces, namespacePids, removeLab } from '../../src/lab/remove.js';
import { runLab } from '../../src/lab/run.js';
import { canUseNetns, compileForChildren, netnsSkipReason } from '../netns/harness.js';

/** The built `uvs` (spawnSync: while it runs, nothing here reaps the lab's processes; zombies count as ended). */
function uvs(dist: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(dist, 'cli', 'uvs.js'), ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('uvs lab --remove', () => {
  it('refuses what is not a lab name, before touching anything', async () => {
    await expect(removeLab('uvs-1234-abcdef-lan')).rejects.toThrow(/is not the name of a lab/);
    await expect(removeLab('../../etc')).rejects.toThrow(/is not the name of a lab/);
    expect(LAB_NAME.test('uvs-lab-42-0a1b2c')).toBe(true);
  });

  it('knows a process that has ended, even one that waits as a zombie, from one that runs', () => {
    expect(isRunning(process.pid)).toBe(true);
    expect(isRunning(2 ** 22 + 1)).toBe(false);
  });
});

describe.skipIf(!canUseNetns)(`uvs lab --keep, then --remove ${netnsSkipReason}`, () => {
  it('stops the kept lab’s daemon and web servers, then removes its namespaces and files', async () => {
    const dist = compileForChildren();
    const lines: string[] = [];
    let name: string | undefined;
    try {
      const code = await runLab('nat', {
        requests: 2,
        requestTimeoutMs: 3_000,
        keep: true,
        distDir: dist,
        out: (line) => lines.push(line),
      });
      expect(code, lines.join('\n')).toBe(0);
      const kept = lines.find((l) => l.startsWith('kept as '));
      name = /remove it with: uvs lab --remove (uvs-lab-\d+-[0-9a-f]{6})$/.exec(kept ?? '')?.[1];
      expect(name, lines.join('\n')).toBeDefined();
      const namespaces = labNamespaces(name!);
      expect(namespaces.map((ns) => ns.slice(name!.length + 1)).sort()).toEqual([
        'client',
        'director',
        'lan',
        'web01',
        'web02',
      ]);
      const pids = namespaces.flatMap(namespacePids);
      // The daemon and the two web servers, still running after runLab returned.
      expect(pids.length).toBeGreaterThanOrEqual(3);
      expect(pids.every(isRunning)).toBe(true);
      const labDirs = () => readdirSync(tmpdir()).filter((entry) => entry.startsWith(`${name}-`));
      expect(labDirs()).toHaveLength(1);

      const r = uvs(dist, ['lab', '--remove', name!]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`removed ${name}: namespaces `);
      for (const pid of pids) expect(r.stdout).toContain(`stopped process ${pid} (`);
      expect(pids.filter(isRunning)).toEqual([]);
      expect(labNamespaces(name!)).toEqual([]);
      expect(labDirs()).toEqual([]);

      // A second time there is nothing left to remove, and it says so.
      const again = uvs(dist, ['lab', '--remove', name!]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`no lab named ${name}`);
    } finally {
      if (name !== undefined && labNamespaces(name).length > 0) await removeLab(name, 500);
    }
  }, 60_000);
});
