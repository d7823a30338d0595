#!/usr/bin/env node
// Runs every microbenchmark in bench/micro/ and regenerates BENCHMARKS.md from the results (`npm run bench`).
//
// The benchmarks are TypeScript, type-checked like the rest of the tree, and Node 20 cannot run .ts. So this
// script compiles src/ and bench/ together with bench/tsconfig.json into dist/bench/ (one tsc run with the
// project's strict settings; never a stale dist/), links dist/bench/build to build/ so that the compiled
// src/native.ts finds the addon one level above itself as it expects, and imports each compiled
// dist/bench/bench/micro/*.bench.js. A new benchmark plugs in by being placed in bench/micro/ as
// NAME.bench.ts with a default export of the BenchModule shape in bench/types.ts; nothing here changes.
//
// Usage: node bench/run.mjs [--time=MS] [--warmup=MS] [--no-write] [FILTER...]
// FILTER keeps only bench files whose name contains it, and implies --no-write: BENCHMARKS.md always holds
// every benchmark from one run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs as parseCliArgs } from 'node:util';
import { Bench } from 'tinybench';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'bench');
const microSrc = join(root, 'bench', 'micro');
const microOut = join(outDir, 'bench', 'micro');

/** Parses the options with node:util parseArgs; the positionals are bench-file filters. */
function parseArgs(argv) {
  const { values, positionals } = parseCliArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { time: { type: 'string' }, warmup: { type: 'string' }, 'no-write': { type: 'boolean' } },
  });
  const ms = (name, value, fallback) => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value)) throw new Error(`bench: --${name} takes whole milliseconds, got ${value}`);
    return Number(value);
  };
  const opts = {
    time: ms('time', values.time, 500),
    warmup: ms('warmup', values.warmup, 100),
    write: values['no-write'] !== true,
    filters: positionals,
  };
  if (opts.filters.length > 0) opts.write = false;
  return opts;
}

function compile() {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const res = spawnSync(tsc, ['-p', join(root, 'bench', 'tsconfig.json')], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error('bench: compiling bench/ failed (see the tsc errors above)');
  const link = join(outDir, 'build');
  if (!existsSync(join(root, 'build', 'Release'))) {
    throw new Error('bench: the native addon is not built; run `npm run build:native`');
  }
  let present = false;
  try {
    present = lstatSync(link).isSymbolicLink();
  } catch {}
  if (!present) symlinkSync(relative(outDir, join(root, 'build')), link);
}

function isBenchModule(m) {
  return (
    m !== null &&
    typeof m === 'object' &&
    typeof m.title === 'string' &&
    typeof m.description === 'string' &&
    typeof m.groups === 'function'
  );
}

async function runModule(file, mod, groups, opts) {
  const results = [];
  for (const group of groups) {
    const bench = new Bench({
      name: group.title,
      time: opts.time,
      warmupTime: opts.warmup,
      timestampProvider: 'hrtimeNow',
      throws: true,
    });
    for (const c of group.cases) bench.add(c.name, c.fn);
    await bench.run();
    for (const c of group.cases) {
      const task = bench.getTask(c.name);
      const r = task?.result;
      if (!r || !('latency' in r)) throw new Error(`bench: ${file}: "${group.title}" / "${c.name}" did not complete`);
      // tinybench reports milliseconds per call of fn; a call runs `reps` operations.
      const perOp = (ms) => (ms * 1e6) / c.reps;
      const result = {
        group: group.title,
        name: c.name,
        reps: c.reps,
        items: c.items ?? 1,
        samples: r.latency.samplesCount,
        minNs: perOp(r.latency.min),
        medianNs: perOp(r.latency.p50),
        p99Ns: perOp(r.latency.p99),
        meanNs: perOp(r.latency.mean),
      };
      results.push(result);
      console.log(
        `${mod.title} | ${group.title} | ${c.name}: median ${fmt(result.medianNs)} ns/op ` +
          `(min ${fmt(result.minNs)}, p99 ${fmt(result.p99Ns)}, ${result.samples} samples)`,
      );
    }
  }
  return results;
}

function fmt(v) {
  if (v < 10) return v.toFixed(2);
  if (v < 1000) return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machine(opts) {
  const cpus = os.cpus();
  const tinybench = JSON.parse(readFileSync(join(root, 'node_modules', 'tinybench', 'package.json'), 'utf8'));
  const args = process.argv.slice(2);
  const command =
    process.env.npm_lifecycle_event === 'bench'
      ? `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`
      : `node bench/run.mjs${args.length ? ` ${args.join(' ')}` : ''}`;
  return [
    ['CPU', cpus[0]?.model ?? 'unknown'],
    ['Cores', String(cpus.length)],
    ['Kernel', `${os.type()} ${os.release()} ${os.arch()}`],
    ['Memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['Node', process.version],
    ['Date', new Date().toISOString()],
    ['Command', `\`${command}\``],
    ['Commit', git(['describe', '--always', '--dirty']) ?? 'unknown'],
    [
      'Settings',
      `tinybench ${tinybench.version}, ${opts.time} ms per case after ${opts.warmup} ms of warm-up, process.hrtime`,
    ],
  ];
}

function markdown(sections, opts) {
  const out = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/run.mjs from bench/micro/*.bench.ts. Do not edit: the next `npm run bench` overwrites it. -->',
    '',
    '**Generated file — do not edit by hand.** `npm run bench` (bench/run.mjs) runs every',
    '`bench/micro/*.bench.ts` and rewrites this page from the results. To change it, change a benchmark and run',
    'it again.',
    '',
    'How to read the tables: tinybench times each call of a case, and one call runs the operation `reps` times',
    'back to back (a timer read costs tens of nanoseconds, more than a 64-byte checksum), so every sample is a',
    'mean over `reps` operations. min, median and p99 are taken over those samples, in nanoseconds per',
    'operation; "per item" divides the median by the frames (or other units) one operation handles.',
    '',
    '## Machine',
    '',
    '| | |',
    '|---|---|',
    ...machine(opts).map(([k, v]) => `| ${k} | ${v} |`),
    '',
  ];
  for (const { file, mod, groups, results } of sections) {
    out.push(`## ${mod.title}`, '', `Source: \`bench/micro/${file}\`. ${mod.description}`, '');
    let group;
    for (const r of results) {
      if (r.group !== group) {
        group = r.group;
        const note = groups.find((g) => g.title === group)?.note;
        out.push(`### ${group}`, '');
        if (note) out.push(note, '');
        out.push(
          '| Case | ns/op min | ns/op median | ns/op p99 | ns/item median | reps | samples |',
          '|---|---:|---:|---:|---:|---:|---:|',
        );
      }
      out.push(
        `| ${r.name} | ${fmt(r.minNs)} | ${fmt(r.medianNs)} | ${fmt(r.p99Ns)} | ${fmt(r.medianNs / r.items)} | ${r.reps} | ${r.samples} |`,
      );
      const next = results[results.indexOf(r) + 1];
      if (!next || next.group !== group) out.push('');
    }
    const summary = mod.summarize?.(results) ?? [];
    if (summary.length > 0) out.push('### Summary', '', ...summary.map((line) => `- ${line}`), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  compile();
  const files = readdirSync(microSrc)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => opts.filters.length === 0 || opts.filters.some((flt) => f.includes(flt)))
    .sort();
  if (files.length === 0) throw new Error('bench: no bench/micro/*.bench.ts matched');
  const sections = [];
  for (const file of files) {
    const compiled = join(microOut, file.replace(/\.ts$/, '.js'));
    const mod = (await import(pathToFileURL(compiled).href)).default;
    if (!isBenchModule(mod)) {
      throw new Error(
        `bench: ${file} must default-export a BenchModule (bench/types.ts): { title, description, groups }`,
      );
    }
    const groups = mod.groups();
    const results = await runModule(file, mod, groups, opts);
    sections.push({ file, mod, groups, results });
  }
  if (opts.write) {
    // The live block (bench/live/run.mjs, `npm run bench:live`) is that script's to rewrite: keep it.
    const path = join(root, 'BENCHMARKS.md');
    const live = existsSync(path)
      ? /<!-- bench:live:begin -->[\s\S]*<!-- bench:live:end -->\n?/.exec(readFileSync(path, 'utf8'))?.[0]
      : undefined;
    writeFileSync(path, markdown(sections, opts) + (live ? `\n${live}` : ''));
    console.log('bench: wrote BENCHMARKS.md');
  } else {
    console.log('bench: BENCHMARKS.md left as it was (filtered or --no-write run)');
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
