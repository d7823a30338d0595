#!/usr/bin/env node
// SYN flood bench: a flood from many spoofed sources against a NAT service with a full connection table,
// beside a legitimate client that connects once every simulated second (bench/flood/synflood.ts), run once
// without the defense (reclaim_embryonic off, the kernel's sysctl defaults otherwise) and once per defense
// setting asked for. Reports, for each run, how many legitimate handshakes crossed the director end to end.
// In memory through the datapath: no interface, no namespace, no packet leaves the process.
//
// Usage: node bench/flood/run.mjs [--capacity=N] [--sources=N] [--rate=SYN/s] [--seconds=N] [--rtt=MS]
//                                  [--json]
// Defaults: a 1M-entry table, 1M sources, 500k SYN/s for 10 simulated seconds, 20 ms round trips.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = join(root, 'dist', 'bench');

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      capacity: { type: 'string' },
      sources: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      rtt: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const whole = (name, fallback, min) => {
    const v = values[name];
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`flood bench: --${name} takes a whole number >= ${min}`);
    return Number(v);
  };
  return {
    capacity: whole('capacity', 1 << 20, 1),
    sources: whole('sources', 1 << 20, 1),
    floodPerSecond: whole('rate', 500_000, 1),
    seconds: whole('seconds', 10, 1),
    rttMs: whole('rtt', 20, 0),
    json: values.json === true,
  };
}

/** Compiles bench/ (and the src/ it imports) as bench/run.mjs does, and links the addon beside it. */
function compile() {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const res = spawnSync(tsc, ['-p', join(root, 'bench', 'tsconfig.json')], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error('flood bench: compiling bench/ failed (see the tsc errors above)');
  const link = join(outDir, 'build');
  let present = false;
  try {
    present = lstatSync(link).isSymbolicLink();
  } catch {}
  if (!present && existsSync(join(root, 'build'))) symlinkSync(relative(outDir, join(root, 'build')), link);
}

async function main() {
  const opts = options(process.argv.slice(2));
  compile();
  const mod = await import(pathToFileURL(join(outDir, 'bench', 'flood', 'synflood.js')).href);
  const defense = await import(pathToFileURL(join(outDir, 'src', 'ipvs', 'defense.js')).href);
  const base = defense.DEFAULT_DEFENSE;
  const runs = [
    { name: 'no defense (reclaim_embryonic: false)', defense: { ...base, reclaimEmbryonic: false } },
    { name: 'default (reclaim_embryonic: true)', defense: base },
    {
      name: 'default + drop_entry 1, secure_tcp 1',
      defense: { ...base, dropEntry: 1, secureTcp: 1 },
    },
  ];
  const scenario = {
    capacity: opts.capacity,
    sources: opts.sources,
    floodPerSecond: opts.floodPerSecond,
    seconds: opts.seconds,
    rttMs: opts.rttMs,
  };
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`;
  const results = [];
  for (const run of runs) {
    const r = mod.runSynFlood({ ...scenario, defense: run.defense });
    results.push({ run: run.name, ...r, failures: r.failures.slice(0, 5) });
    if (!opts.json) {
      console.log(
        `${run.name}: ${r.succeeded}/${r.attempts} legitimate connections succeeded ` +
          `(${r.succeededWhileFull}/${r.attemptsWhileFull} with the table full); ` +
          `${r.floodSyns} flood SYNs, table ${r.tableSize}/${opts.capacity}, ${r.reclaimed} reclaimed, ` +
          `${r.droppedByDropEntry} dropped by drop_entry, ${r.overflows} refused, ${r.untracked} untracked; ` +
          `levels ${JSON.stringify(r.levels)}; ${(r.wallMs / 1000).toFixed(1)} s wall` +
          (r.failures.length > 0 ? `; first failure: ${r.failures[0]}` : ''),
      );
    }
  }
  if (opts.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), machine, scenario, results }, null, 2));
  } else {
    console.log(`scenario ${JSON.stringify(scenario)}; ${machine}; ${new Date().toISOString()}`);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
