// writeFileAtomic(): the new text appears whole or not at all. A crash is simulated at the last moment before
// the rename: the target still holds the old text, complete, and the new text sits in a different file.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempPathFor, writeFileAtomic } from '../../src/control/state-file.js';

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
