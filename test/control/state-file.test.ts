// writeFileAtomic(): the new text appears whole or not at all. A crash is simulated at the last moment before
// the rename: the target still holds the old text, complete, and the new text sits in a different file.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareStateDirectory, StateFileError, tempPathFor, writeFileAtomic } from '../../src/control/state-file.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uvs-state-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates and replaces the file, mode 0600, leaving no temporary file', async () => {
    const path = join(dir, 'rules');
    await writeFileAtomic(path, 'one\n');
    expect(await readFile(path, 'utf8')).toBe('one\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await writeFileAtomic(path, 'two\n');
    expect(await readFile(path, 'utf8')).toBe('two\n');
    expect(await readdir(dir)).toEqual(['rules']);
  });

  it('until the rename the target keeps the old text whole; the new text is in another file of the same directory', async () => {
    const path = join(dir, 'rules');
    const old = '-A -t 192.168.1.231:80 -s rr\n'.repeat(1000);
    const next = '-A -t 192.168.1.241:80 -s wlc\n'.repeat(2000);
    await writeFile(path, old);
    let seen: string | undefined;
    const crash = new Error('killed before rename');
    await expect(
      writeFileAtomic(path, next, {
        beforeRename: async (temp) => {
          seen = temp;
          expect(temp).not.toBe(path);
          expect(dirname(temp)).toBe(dir);
          expect(await readFile(temp, 'utf8')).toBe(next);
          expect(await readFile(path, 'utf8')).toBe(old);
          throw crash;
        },
      }),
    ).rejects.toBe(crash);
    expect(seen).toBeDefined();
    expect(await readFile(path, 'utf8')).toBe(old);
    // The failed write cleans up after itself (after a real kill -9 the hidden temporary file would remain).
    expect(await readdir(dir)).toEqual(['rules']);
  });

  it('temporary names are hidden, unique, and never the target', () => {
    const path = join(dir, 'rules');
    const a = tempPathFor(path);
    const b = tempPathFor(path);
    expect(a).not.toBe(b);
    expect(a).not.toBe(path);
    expect(a.startsWith(join(dir, '.rules.'))).toBe(true);
  });
});

describe('prepareStateDirectory', () => {
  /** The PID of a process that has exited, as a daemon killed with -9 leaves in its temporary file's name. */
  function deadPid(): number {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    return Number(child.stdout.toString());
  }

  it('creates a missing directory, mode 0700, so that the first save works', async () => {
    const path = join(dir, 'var', 'lib', 'uvs', 'rules.state');
    expect(await prepareStateDirectory(path)).toEqual([]);
    expect((await stat(dirname(path))).mode & 0o777).toBe(0o700);
    expect(await readdir(dirname(path))).toEqual([]);
    await writeFileAtomic(path, 'saved\n');
    expect(await readFile(path, 'utf8')).toBe('saved\n');
  });

  it("removes the temporary files of dead writers, and keeps a live writer's and everything else", async () => {
    const path = join(dir, 'rules.state');
    const pid = deadPid();
    const leftovers = Array.from(
      { length: 8 },
      (_, i) => `.rules.state.${pid}.${i.toString(16).padStart(12, 'a')}.tmp`,
    );
    const ours = `.rules.state.${process.pid}.0123456789ab.tmp`;
    const live = `.rules.state.${process.ppid}.0123456789ab.tmp`;
    const others = ['rules.state', '.other.state.1.0123456789ab.tmp', 'notes.tmp'];
    for (const name of [...leftovers, ours, live, ...others]) await writeFile(join(dir, name), 'x');
    const removed = await prepareStateDirectory(path);
    expect(removed.sort()).toEqual([...leftovers, ours].sort());
    expect((await readdir(dir)).sort()).toEqual([live, ...others].sort());
  });

  it('refuses, saying what to do, when the directory cannot be made', async () => {
    await writeFile(join(dir, 'file'), 'not a directory');
    const path = join(dir, 'file', 'rules.state');
    await expect(prepareStateDirectory(path)).rejects.toThrow(StateFileError);
    await expect(prepareStateDirectory(path)).rejects.toThrow(/state: in the config/);
  });
});
