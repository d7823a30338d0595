// The daemon's rules state file, written so that a crash or kill -9 at any moment leaves either the old file
// or the new one, whole: the text goes to a temporary file in the same directory (rename() is atomic only
// within one file system), is fsync'ed, renamed over the target, and the directory is fsync'ed so the
// rename itself survives a power cut.

import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
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
