// uvsadm's side of the control socket: send one command line to the daemon and return what it printed.
// `uvs counters` uses the same connection code (sendQuery) and the same error messages.
// Connecting is bounded by a short timeout and a missing daemon is reported in one line, so uvsadm never
// hangs; -h and -v are answered locally, so help works without a daemon.

import { createConnection } from 'node:net';
import { RulesError } from '../model/errors.js';
import { parseArgs } from '../model/grammar.js';
import { usageText, versionText } from './handler.js';
import {
  asResponse,
  type ControlRequest,
  type ControlResponse,
  DEFAULT_SOCKET_PATH,
  type QueryRequest,
} from './protocol.js';

export interface SendOptions {
  /** Connecting must succeed within this (default 1 s). */
  connectTimeoutMs?: number;
  /** The answer must arrive within this once connected (default 60 s: name lookups and big restores). */
  responseTimeoutMs?: number;
}

/** Why no answer came: nobody listens, no permission, or the daemon did not answer in time. */
export class DaemonUnavailableError extends Error {
  constructor(
    message: string,
    readonly reason: 'absent' | 'permission' | 'timeout' | 'protocol',
  ) {
    super(message);
    this.name = 'DaemonUnavailableError';
  }
}

/** Sends one request and waits for its response line. */
export function sendCommand(
  socketPath: string,
  request: ControlRequest,
  options: SendOptions = {},
): Promise<ControlResponse> {
  return exchange(socketPath, { argv: request.argv, stdin: request.stdin }, options);
}

/** Sends one query (`uvs counters`) and waits for its response line; uvsadm never calls this. */
export function sendQuery(
  socketPath: string,
  request: QueryRequest,
  options: SendOptions = {},
): Promise<ControlResponse> {
  return exchange(socketPath, { query: request.query }, options);
}

function exchange(socketPath: string, message: object, options: SendOptions): Promise<ControlResponse> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
  const responseTimeoutMs = options.responseTimeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const chunks: Buffer[] = [];
    let connected = false;
    let settled = false;
    const finish = (err: Error | undefined, response?: ControlResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve(response!);
    };
    let timer = setTimeout(
      () => finish(new DaemonUnavailableError(`no answer from ${socketPath} within ${connectTimeoutMs} ms`, 'timeout')),
      connectTimeoutMs,
    );
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(
        () => finish(new DaemonUnavailableError(`the daemon on ${socketPath} did not answer in time`, 'timeout')),
        responseTimeoutMs,
      );
      socket.write(`${JSON.stringify(message)}\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      let response: ControlResponse | undefined;
      try {
        response = asResponse(JSON.parse(text.slice(0, newline)));
      } catch {
        response = undefined;
      }
      if (response === undefined) {
        finish(new DaemonUnavailableError(`malformed answer from ${socketPath}`, 'protocol'));
      } else {
        finish(undefined, response);
      }
    });
    socket.once('end', () =>
      finish(new DaemonUnavailableError(`the daemon on ${socketPath} closed the connection`, 'protocol')),
    );
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (connected) {
        finish(new DaemonUnavailableError(`${socketPath}: ${err.message}`, 'protocol'));
      } else if (err.code === 'EACCES' || err.code === 'EPERM') {
        finish(new DaemonUnavailableError(`${socketPath}: permission denied (you must be root)`, 'permission'));
      } else {
        finish(new DaemonUnavailableError(`no uvs daemon is listening on ${socketPath}`, 'absent'));
      }
    });
  });
}

export interface UvsadmEnvironment {
  /** UVS_SOCKET. */
  readonly socketEnv?: string | undefined;
  /** Reads all of stdin; called for -R only. */
  readonly readStdin: () => Promise<string>;
  readonly program?: string;
  readonly send?: SendOptions;
}

/** The socket to talk to: `--socket PATH` first, then UVS_SOCKET, then the default. */
export function resolveSocketPath(option: string | undefined, socketEnv: string | undefined): string {
  return option ?? (socketEnv !== undefined && socketEnv !== '' ? socketEnv : DEFAULT_SOCKET_PATH);
}

/** What a front end prints when the daemon cannot be reached, one line, with how to start it when absent. */
export function unavailableMessage(program: string, err: DaemonUnavailableError): string {
  const hint = err.reason === 'absent' ? '; start it with `uvs daemon --config FILE`' : '';
  return `${program}: ${err.message}${hint}\n`;
}

/** Takes uvsadm's own `--socket PATH` / `--socket=PATH` out of argv (it is not an ipvsadm option). */
export function extractSocketOption(argv: readonly string[]): { argv: string[]; socket: string | undefined } {
  const rest: string[] = [];
  let socket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === '--socket' && i + 1 < argv.length) {
      socket = argv[++i];
    } else if (arg.startsWith('--socket=')) {
      socket = arg.slice('--socket='.length);
    } else {
      rest.push(arg);
    }
  }
  return { argv: rest, socket };
}

/** The whole of uvsadm, minus process I/O: argv (without node and script) in, what to print and the exit code out. */
export async function runUvsadm(rawArgv: readonly string[], env: UvsadmEnvironment): Promise<ControlResponse> {
  const program = env.program ?? 'uvsadm';
  const { argv, socket } = extractSocketOption(rawArgv);
  const socketPath = resolveSocketPath(socket, env.socketEnv);
  let command: string | undefined;
  try {
    command = argv.length === 0 ? undefined : parseArgs(argv, program).command;
  } catch (err) {
    // The daemon reports grammar errors with the rest; only the command matters here.
    if (!(err instanceof RulesError)) throw err;
  }
  if (command === 'help') return { stdout: usageText(program), stderr: '', exitCode: 0 };
  if (command === 'version') return { stdout: versionText(program), stderr: '', exitCode: 0 };
  const stdin = command === 'restore' ? await env.readStdin() : '';
  try {
    return await sendCommand(socketPath, { argv, stdin }, env.send);
  } catch (err) {
    if (!(err instanceof DaemonUnavailableError)) throw err;
    return { stdout: '', stderr: unavailableMessage(program, err), exitCode: 2 };
  }
}
