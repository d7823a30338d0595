#!/usr/bin/env node
// Builds the Node-API addon (native/) with node-gyp at `npm install`.
// Node's own headers ship with the distribution package on these machines; pointing node-gyp at them
// avoids a header download, which would fail on a machine with no access beyond the package registries.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const prefix = join(dirname(process.execPath), '..');
const args = ['rebuild'];
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// npm hands lifecycle scripts the path of its bundled node-gyp; run directly, use the copy bundled with
// this Node's npm, then one on PATH.
const bundled = join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const [cmd, cmdArgs] = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args];
const result = spawnSync(cmd, cmdArgs, { stdio: 'inherit' });
if (result.status !== 0) {
  console.error(
    'uvs: building the native addon failed; it needs python3, make and g++ (apt-get install build-essential python3)',
  );
  process.exit(result.status ?? 1);
}
