#!/usr/bin/env node
// Fails (exit 1) when src/ has an import cycle, between files or between folders. Part of `npm run lint`.
//
// Files: a cycle makes load order matter and hides which module is the lower layer. Folders: the layers
// of docs/architecture.md are folders (wire, dest, conn, sched, model, ipvs, io, datapath, control, ...),
// and two folders that import each other are one layer in two places, even when no single chain of files
// closes a loop. Type-only imports count: they are dependencies of the design even though tsc erases them.
//
// dpdm parses and resolves the imports (through tsconfig.json) and finds the cycles; this script only folds
// files into folders. A relative import dpdm cannot resolve would silently drop an edge, so it fails too.
import path from 'node:path';
import { parseCircular, parseDependencyTree } from 'dpdm';

const root = process.argv[2] ?? 'src';
const tree = await parseDependencyTree(`${root}/**/*.ts`, { context: process.cwd(), transform: false });

/** The folder a module belongs to, or undefined for modules outside `root` (packages, node: built-ins). */
function folderOf(id) {
  if (id === null || !id.startsWith(`${root}/`)) return undefined;
  return path.dirname(id);
}

// The same tree shape dpdm uses, one node per folder, so its cycle search runs on folders unchanged. Each
// folder edge keeps the first file import that made it, to tell the reader where to cut.
const folderTree = {};
const edgeExample = new Map();
const unresolved = [];
for (const [file, deps] of Object.entries(tree)) {
  const from = folderOf(file);
  if (from === undefined) continue;
  folderTree[from] ??= [];
  for (const dep of deps ?? []) {
    if (dep.id === null && dep.request.startsWith('.')) unresolved.push(`${file} imports ${dep.request}`);
    const to = folderOf(dep.id);
    if (to === undefined || to === from) continue;
    const key = `${from} -> ${to}`;
    if (edgeExample.has(key)) continue;
    edgeExample.set(key, `${file} imports ${dep.id}`);
    folderTree[from].push({ issuer: from, request: to, kind: dep.kind, id: to });
  }
}

const fileCycles = parseCircular(tree);
const folderCycles = parseCircular(folderTree);

for (const line of unresolved) console.error(`unresolved import (is tsconfig.json there?): ${line}`);
for (const cycle of fileCycles) {
  console.error(`import cycle between files: ${[...cycle, cycle[0]].join(' -> ')}`);
}
for (const cycle of folderCycles) {
  console.error(`import cycle between folders: ${[...cycle, cycle[0]].join(' -> ')}`);
  for (let i = 0; i < cycle.length; i++) {
    console.error(`  ${edgeExample.get(`${cycle[i]} -> ${cycle[(i + 1) % cycle.length]}`)}`);
  }
}
if (unresolved.length + fileCycles.length + folderCycles.length > 0) process.exit(1);
const modules = Object.keys(tree).filter((id) => folderOf(id) !== undefined).length;
console.log(`no import cycles in ${root}/ (${modules} modules, ${Object.keys(folderTree).length} folders)`);
