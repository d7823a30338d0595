// Reading an exposition in tests: promtool (Debian's prometheus package) checks it as Prometheus itself
// would parse it and lints it; sampleValue() then reads one sample of the checked text.
import { spawnSync } from 'node:child_process';

/** Whether promtool is installed (CI installs the prometheus package; see .ci/run). */
export const HAVE_PROMTOOL = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

/** `promtool check metrics` on `text`: its exit status and what it printed (parse errors, lint problems). */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The value of the sample `name` whose labels are exactly `labels`; undefined when there is none. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => [k!, v!] as const)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    if (got === want) return Number(m[3]);
  }
  return undefined;
}

/** Debian's python3-prometheus-client, the Prometheus project's Python client: its parsers are strict. */
const SYSTEM_PYTHON = '/usr/bin/python3';
const PARSE_OPENMETRICS = `
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = text_string_to_metric_families(sys.stdin.read())
value = lambda v: v if math.isfinite(v) else str(v)  # JSON has no NaN or Inf: 'nan', 'inf', '-inf'
print(json.dumps([[f.name, f.type, [[s.name, s.labels, value(s.value)] for s in f.samples]] for f in families]))
`;

/** Whether the OpenMetrics parser is installed (CI installs python3-prometheus-client; see .ci/run). */
export const HAVE_OPENMETRICS_PARSER =
  spawnSync(SYSTEM_PYTHON, ['-c', 'import prometheus_client.openmetrics.parser'], { stdio: 'ignore' }).status === 0;

export interface ParsedFamily {
  readonly name: string;
  readonly type: string;
  readonly samples: readonly { name: string; labels: Record<string, string>; value: number }[];
}

/** Parses OpenMetrics text with prometheus_client's parser; throws its error when the text is not valid. */
export function parseOpenMetrics(text: string): ParsedFamily[] {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', PARSE_OPENMETRICS], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`OpenMetrics parser: ${r.stderr.trim().split('\n').at(-1)}`);
  const families = JSON.parse(r.stdout) as [string, string, [string, Record<string, string>, number | string][]][];
  const number = (v: number | string) =>
    typeof v === 'number' ? v : v === 'nan' ? Number.NaN : v.startsWith('-') ? -Infinity : Infinity;
  return families.map(([name, type, samples]) => ({
    name,
    type,
    samples: samples.map(([sample, labels, value]) => ({ name: sample, labels, value: number(value) })),
  }));
}
