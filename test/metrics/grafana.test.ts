// examples/grafana/uvs-dashboard.json: every panel's query is PromQL that promtool accepts, and every metric
// it names is one the exposition has, so the dashboard cannot drift from the metrics.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countersReport } from '../../src/control/counters.js';
import { MetricsExposition } from '../../src/metrics/registry.js';
import { makeDatapath, run } from '../datapath/helpers.js';
import { clientSyn, RULES } from '../trace/helpers.js';
import { HAVE_PROMTOOL } from './helpers.js';

const dashboardPath = join(import.meta.dirname, '../../examples/grafana/uvs-dashboard.json');

interface Panel {
  title: string;
  targets: { expr: string }[];
}

/** The panels' queries with Grafana's variables replaced by what Grafana substitutes for them. */
function queries(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((p) =>
    p.targets.map((t) => ({
      title: p.title,
      expr: t.expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*'),
    })),
  );
}

/** `promtool check rules` on the queries, each a recording rule. */
function checkQueries(exprs: readonly string[]): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-grafana-'));
  try {
    const rules = exprs.map(
      (expr, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr)}\n`,
    );
    writeFileSync(join(dir, 'rules.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules.join('')}`);
    const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the Grafana dashboard', () => {
  it('names only metrics the exposition has', async () => {
    const dp = makeDatapath(RULES);
    run(dp, clientSyn(1001, 80));
    const { text } = await new MetricsExposition({
      counters: () => countersReport({ datapath: dp, conns: dp.core.conns, ports: [], uptimeSeconds: 1 }),
      rules: () => dp.core.rules.snapshot,
      readStats: (_stats, out) => out,
      neighbours: () => dp.neigh,
    }).render();
    // A family is there by its TYPE line even with no series yet (no drops yet).
    const exposed = new Set(
      text.split('\n').flatMap((line) => /^(?:# TYPE )?([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1] ?? []),
    );
    const used = queries().flatMap(({ expr }) => expr.match(/\b(?:node_ipvs|uvs|nodejs)_[a-z0-9_]+/g) ?? []);
    expect(used.length).toBeGreaterThan(10);
    // A histogram's _sum, _count and _bucket series belong to its family (GC has no series before a first GC).
    const known = (name: string) => exposed.has(name) || exposed.has(name.replace(/_(?:sum|count|bucket)$/, ''));
    for (const name of used) expect(known(name), name).toBe(true);
    expect(known('uvs_no_such_metric')).toBe(false);
  });

  it.skipIf(!HAVE_PROMTOOL)('has queries promtool parses as PromQL (and promtool refuses a broken one)', () => {
    // (Skipped only where promtool is missing: Debian's prometheus package provides it; .ci/run installs it.)
    const check = checkQueries(queries().map((q) => q.expr));
    expect(check.output).toContain('SUCCESS');
    expect(check.status).toBe(0);
    expect(checkQueries(['sum(rate(uvs_drops_total[1m])']).status).not.toBe(0);
  });
});
