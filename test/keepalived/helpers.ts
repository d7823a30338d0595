// Writes keepalived configurations into a fresh temporary directory, so that includes and their globs are
// read from real files as keepalived reads them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export class ConfigDir {
  readonly root = mkdtempSync(join(tmpdir(), 'uvs-keepalived-'));

  /** Writes `text` at `relative` (directories made as needed) and returns its full path. */
  write(relative: string, text: string): string {
    const path = join(this.root, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A stream that keeps what is written to it. */
export class Sink {
  text = '';
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}
