// The daemon's rules state file, written so that a crash or kill -9 at any moment leaves either the old file
// or the new one, whole: the text goes to a temporary file in the same directory (rename() is atomic only
// within one file system), is fsync'ed, renamed over the target, and the directory is fsync'ed so the
// rename itself survives a power cut.
//
// A daemon killed mid-write (kill -9, a crash) leaves its hidden temporary file behind; the next start removes
// those (prepareStateDirectory()), along with making the directory, so that a change uvsadm makes can be saved.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface WriteAtomicOptions {
  /** File mode of the new file (default 0600: rules name the site's addresses). */
  mode?: number;
  /** Called with the temporary file, complete and synced, just before the rename (tests simulate a crash). */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

/** A temporary name beside `path`, never equal to it, hidden, and unique to this write. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateFileError';
  }
}

/** The writer's PID in a temporary name tempPathFor() made for `path`, or undefined when it is not one. */
function writerOfTemp(path: string, name: string): number | undefined {
  const prefix = `.${basename(path)}.`;
  if (!name.startsWith(prefix)) return undefined;
  const match = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
  return match === null ? undefined : Number(match[1]);
}

/**
 * Readies the state file's directory at start: creates it (mode 0700: the rules name the site's addresses) when
 * missing, removes the temporary files of writers that are gone, and checks that a file can be created there,
 * so that the first change uvsadm makes does not fail to save. Returns the temporary files removed. Throws
 * StateFileError, saying what to do, when the directory cannot be used.
 */
export async function prepareStateDirectory(path: string): Promise<string[]> {
  const dir = dirname(path);
  const fix = `create ${dir} (mode 0700) where the daemon can write, or name another file with state: in the config`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StateFileError(`cannot create the state file's directory ${dir}: ${(err as Error).message}; ${fix}`);
  }
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw new StateFileError(`cannot read the state file's directory ${dir}: ${(err as Error).message}; ${fix}`);
  }
  const removed: string[] = [];
  for (const name of names) {
    const writer = writerOfTemp(path, name);
    // A live writer's file is its write in progress (another daemon sharing the file), not a leftover.
    if (writer === undefined || (writer !== process.pid && existsSync(`/proc/${writer}`))) continue;
    await unlink(join(dir, name)).catch(() => undefined);
    removed.push(name);
  }
  const probe = tempPathFor(path);
  try {
    await (await open(probe, 'wx', 0o600)).close();
    await unlink(probe);
  } catch (err) {
    throw new StateFileError(`cannot write in the state file's directory ${dir}: ${(err as Error).message}; ${fix}`);
  }
  return removed;
}

export async function writeFileAtomic(path: string, text: string, options: WriteAtomicOptions = {}): Promise<void> {
  const temp = tempPathFor(path);
  let renamed = false;
  try {
    // 'wx': never follow or reuse an existing file at the temporary name.
    const file = await open(temp, 'wx', options.mode ?? 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await options.beforeRename?.(temp);
    await rename(temp, path);
    renamed = true;
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } finally {
    if (!renamed) await unlink(temp).catch(() => undefined);
  }
}
