// After `tsc`: makes every `bin` of package.json executable (tsc writes 0644), so `dist/cli/uvs.js` and
// `dist/cli/uvsadm.js` run directly and through a PATH link (`npm link`). A bin without a `#!` line would run
// as a shell script, so its absence is an error here rather than a puzzle later.
// Usage: node scripts/chmod-bins.mjs [ROOT]   (ROOT holds the compiled dist/; default: the package's root)
import { chmodSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(process.argv[2] ?? packageRoot);
const { bin } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));

let failed = false;
for (const [name, path] of Object.entries(bin ?? {})) {
  const file = join(root, path);
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    console.error(`chmod-bins: ${name}: cannot read ${file}: ${err.message}`);
    failed = true;
    continue;
  }
  if (!text.startsWith('#!')) {
    console.error(`chmod-bins: ${name}: ${file} has no #! line; start its source with #!/usr/bin/env node`);
    failed = true;
    continue;
  }
  chmodSync(file, 0o755);
}
process.exit(failed ? 1 : 0);
