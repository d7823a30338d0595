// `uvs` and `uvsadm` as commands: package.json's build makes the compiled bins executable (tsc writes them
// 0644), so dist/cli/uvsadm.js runs directly and through the links `npm link` / `npm install -g .` make.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compileForChildren } from '../netns/harness.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chmodBins = join(repoRoot, 'scripts', 'chmod-bins.mjs');
const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

describe('the built bins', () => {
  const scratch: string[] = [];
  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it('npm run build ends by making them executable', () => {
    expect(packageJson.scripts.build).toMatch(/^tsc -p tsconfig\.json && node scripts\/chmod-bins\.mjs$/);
    expect(Object.keys(packageJson.bin).sort()).toEqual(['uvs', 'uvsadm']);
  });

  it('dist/cli/uvsadm.js -h and dist/cli/uvs.js --help run as programs, without `node` in front', () => {
    const dist = compileForChildren();
    const root = dirname(dist);
    const uvsadm = join(root, packageJson.bin.uvsadm as string);
    const uvs = join(root, packageJson.bin.uvs as string);
    // As tsc leaves them: not executable.
    expect(statSync(uvsadm).mode & 0o111).toBe(0);
    const chmod = spawnSync(process.execPath, [chmodBins, root], { encoding: 'utf8', timeout: 10_000 });
    expect(chmod.stderr).toBe('');
    expect(chmod.status).toBe(0);
    expect(statSync(uvsadm).mode & 0o777).toBe(0o755);
    expect(statSync(uvs).mode & 0o777).toBe(0o755);
    // `#!/usr/bin/env node` finds node on PATH, as in a shell.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const help = spawnSync(uvsadm, ['-h'], { encoding: 'utf8', timeout: 10_000, env });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^uvsadm .*\nUsage:\n {2}uvsadm -A\|E virtual-service/s);
    // Its own option, which ipvsadm lacks: how it finds the daemon.
    expect(help.stdout).toContain('uvs Options:\n  --socket PATH ');
    expect(help.stdout).toContain('$UVS_SOCKET, else /run/uvs/uvs.sock');
    const uvsHelp = spawnSync(uvs, ['lab', '--help'], { encoding: 'utf8', timeout: 10_000, env });
    expect(uvsHelp.status, uvsHelp.stderr).toBe(0);
    expect(uvsHelp.stdout).toContain('uvs lab exec [NAME] HOST COMMAND...');
  }, 120_000);

  it('refuses a bin without a #! line, which a shell would run as a shell script', () => {
    const root = mkdtempSync(join(tmpdir(), 'uvs-bins-'));
    scratch.push(root);
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(root, packageJson.bin.uvs as string), '#!/usr/bin/env node\n');
    writeFileSync(join(root, packageJson.bin.uvsadm as string), 'console.log(1);\n');
    const r = spawnSync(process.execPath, [chmodBins, root], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('uvsadm: ');
    expect(r.stderr).toContain('has no #! line');
  });
});
