// The control socket's protocol: one request per connection, each way one line of JSON ended by `\n`.
//   request  {"argv": ["-L", "-n"], "stdin": ""}
//   response {"stdout": "...", "stderr": "", "exitCode": 0}

/** Where uvsadm and the daemon meet unless told otherwise (--socket, UVS_SOCKET, the daemon's config). */
export const DEFAULT_SOCKET_PATH = '/run/uvs/uvs.sock';

/** A rules file for -R is the only large request; anything past this is refused, not buffered. */
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
