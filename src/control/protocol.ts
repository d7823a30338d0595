// The control socket's protocol: one request per connection, each way one line of JSON ended by `\n`.
//   request  {"argv": ["-L", "-n"], "stdin": ""}
//   response {"stdout": "...", "stderr": "", "exitCode": 0}
// A question about the daemon itself, not an ipvsadm command, is a query; its answer has the same shape, with
// the data as one line of JSON in stdout (see counters.ts):
//   request  {"query": "counters"}
// A query has no argv on purpose: uvsadm only ever sends argv, so it cannot ask one (it stays ipvsadm's
// command line and nothing more), and a daemon that predates queries refuses it as malformed instead of
// mistaking it for a bare `uvsadm` (list everything).

/** Where uvsadm and the daemon meet unless told otherwise (--socket, UVS_SOCKET, the daemon's config). */
export const DEFAULT_SOCKET_PATH = '/run/uvs/uvs.sock';

/**
 * A rules file for -R is the only large request; anything past this is refused, not buffered. A rules line is
 * some 50 bytes, so 16 MiB is a restore of a few hundred thousand services and destinations, far past what a
 * director runs. Only root can connect (the socket is 0600), and the server holds at most
 * MAX_CONTROL_CONNECTIONS requests at once and frees each as soon as it is answered or refused.
 */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

export interface ControlRequest {
  readonly argv: readonly string[];
  readonly stdin: string;
}

export interface ControlResponse {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Checks a decoded request's shape; returns undefined when it is not one. */
export function asRequest(value: unknown): ControlRequest | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { argv, stdin } = value as Record<string, unknown>;
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return undefined;
  if (stdin !== undefined && typeof stdin !== 'string') return undefined;
  return { argv: argv as string[], stdin: stdin ?? '' };
}

/** Checks a decoded response's shape; returns undefined when it is not one. */
export function asResponse(value: unknown): ControlResponse | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { stdout, stderr, exitCode } = value as Record<string, unknown>;
  if (typeof stdout !== 'string' || typeof stderr !== 'string') return undefined;
  if (typeof exitCode !== 'number' || !Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) return undefined;
  return { stdout, stderr, exitCode };
}

/** What a query may ask: `counters` (JSON, counters.ts), `metrics` (the Prometheus text of /metrics). */
export const CONTROL_QUERIES = ['counters', 'metrics'] as const;
export type ControlQuery = (typeof CONTROL_QUERIES)[number];

export interface QueryRequest {
  readonly query: ControlQuery;
}

/**
 * Checks a decoded query's shape: undefined when it is not a query at all (then it may be a command), a
 * string naming the problem when it is one that cannot be answered.
 */
export function asQuery(value: unknown): QueryRequest | string | undefined {
  if (typeof value !== 'object' || value === null || !('query' in value)) return undefined;
  const { query, argv } = value as Record<string, unknown>;
  if (argv !== undefined) return 'a control request is either a command (argv) or a query, not both';
  if (typeof query !== 'string' || !(CONTROL_QUERIES as readonly string[]).includes(query)) {
    return `unknown control query ${JSON.stringify(query)}`;
  }
  return { query: query as ControlQuery };
}
