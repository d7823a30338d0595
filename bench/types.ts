// The shape every bench/micro/*.bench.ts file exports (as its default export), so that bench/run.mjs can
// run it and write its figures into BENCHMARKS.md without knowing anything else about it.

/** One measured operation. */
export interface BenchCase {
  /** Row label in BENCHMARKS.md, e.g. "JS inetChecksum". */
  name: string;
  /**
   * Runs the operation `reps` times back to back. The timer is read around each call, and a timer read
   * costs tens of nanoseconds, so cheap operations are repeated inside one call and the runner divides.
   */
  fn: () => void;
  /** Operations per call of `fn`. */
  reps: number;
  /** Units of work (frames, lookups, ...) per operation, for the per-item column; default 1. */
  items?: number;
}

/** Cases that are compared with each other: one table in BENCHMARKS.md. */
export interface BenchGroup {
  title: string;
  /** What one operation is, in a sentence; printed under the title. */
  note?: string;
  cases: BenchCase[];
}

/** The figures of one case. All times are nanoseconds per operation (not per call of `fn`). */
export interface CaseResult {
  group: string;
  name: string;
  reps: number;
  items: number;
  samples: number;
  minNs: number;
  medianNs: number;
  p99Ns: number;
  meanNs: number;
}

export interface BenchModule {
  /** Section heading in BENCHMARKS.md. */
  title: string;
  /** What is measured and why, in a few sentences of Markdown. */
  description: string;
  /** Builds the groups: inputs are prepared here, outside the timed functions. */
  groups(): BenchGroup[];
  /** Optional conclusions drawn from the figures, as Markdown lines (e.g. "native pays off from 576 B"). */
  summarize?(results: CaseResult[]): string[];
}
