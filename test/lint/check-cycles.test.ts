// scripts/check-cycles.mjs, the import-cycle half of `npm run lint`: it must pass the real tree, and fail
// on a file cycle and on a folder cycle that no single chain of files closes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = path.resolve('scripts/check-cycles.mjs');
const scratch: string[] = [];

/** Writes `files` (path under src/ -> source) into a fresh directory and runs the check there. */
function checkTree(files: Record<string, string>): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'uvs-cycles-'));
  scratch.push(dir);
  // The check resolves `./x.js` to `./x.ts` the way the project's compiler does: through tsconfig.json.
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' }, include: ['src'] }),
  );
  for (const [name, source] of Object.entries(files)) {
    const file = path.join(dir, 'src', name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, source);
  }
  const run = spawnSync(process.execPath, [script, 'src'], { cwd: dir, encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// Each case starts a node process that parses a tree with TypeScript: seconds, more on a loaded machine.
describe('check-cycles', { timeout: 60_000 }, () => {
  it('passes the project source', () => {
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('passes a layered tree', () => {
    const run = checkTree({
      'low/a.ts': 'export const a = 1;\n',
      'high/b.ts': "import { a } from '../low/a.js';\nexport const b = a;\n",
    });
    expect(run.output).toMatch(/no import cycles/);
    expect(run.status).toBe(0);
  });

  it('fails on a relative import it cannot resolve, rather than skip its edge', () => {
    const run = checkTree({ 'a/x.ts': "import { y } from '../b/missing.js';\nexport const x = y;\n" });
    expect(run.output).toMatch(/unresolved import .*src\/a\/x\.ts imports \.\.\/b\/missing\.js/);
    expect(run.status).toBe(1);
  });

  it('fails on a cycle between two files, type-only imports included', () => {
    const run = checkTree({
      'io/port.ts': "import type { Mode } from './backend.js';\nexport type Port = { mode: Mode };\n",
      'io/backend.ts': "import type { Port } from './port.js';\nexport type Mode = 'a';\nexport type P = Port;\n",
    });
    expect(run.output).toMatch(/import cycle between files: src\/io\/(port|backend)\.ts -> /);
    expect(run.status).toBe(1);
  });

  it('fails on folders that import each other through files that do not', () => {
    // conn/table -> dest/dest, and dest/stats -> conn/state: no file cycle, but conn and dest are tangled.
    const run = checkTree({
      'dest/dest.ts': 'export const dest = 1;\n',
      'dest/stats.ts': "import { state } from '../conn/state.js';\nexport const stats = state;\n",
      'conn/state.ts': 'export const state = 1;\n',
      'conn/table.ts': "import { dest } from '../dest/dest.js';\nexport const table = dest;\n",
    });
    expect(run.output).not.toMatch(/between files/);
    expect(run.output).toMatch(/import cycle between folders: src\/(conn|dest) -> src\/(conn|dest) -> /);
    expect(run.output).toMatch(/src\/conn\/table\.ts imports src\/dest\/dest\.ts/);
    expect(run.output).toMatch(/src\/dest\/stats\.ts imports src\/conn\/state\.ts/);
    expect(run.status).toBe(1);
  });
});
