// The daemon's control socket: a Unix socket only root can open (mode 0600, created under a umask so it is
// never reachable with wider permissions, even for an instant), answering uvsadm requests one at a time.
//
// The server knows nothing of IPVS: its owner passes the handler (the daemon plugs in executeCommand() with
// its core) and, optionally, what to do after a successful rule change (persist the state file). That hook
// runs before the response is sent, so when uvsadm returns the change is on disk.
//
// Queries (`uvs counters`, protocol.ts) go to a separate handler, in the same queue; they change nothing.
//
// Requests are handled strictly in order, even from concurrent clients: each handler call sees the state the
// previous one left, as with ipvsadm commands run one after another.

import { unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { listenPrivate } from './private-socket.js';
import {
  asQuery,
  asRequest,
  type ControlRequest,
  type ControlResponse,
  MAX_REQUEST_BYTES,
  type QueryRequest,
} from './protocol.js';

export type ControlHandler = (request: ControlRequest) => Promise<ControlResponse & { rulesChanged?: boolean }>;
/** Answers a query (protocol.ts) about the daemon itself; it must not change the rules. */
export type QueryHandler = (request: QueryRequest) => Promise<ControlResponse>;

export interface ControlServerOptions {
  readonly socketPath: string;
  readonly handler: ControlHandler;
  /** Answers queries (`uvs counters`); without it they are refused with a message. */
  readonly queryHandler?: QueryHandler;
  /** Runs after each request that changed the rules, before its response is sent (save the state file). */
  readonly onRulesChanged?: () => void | Promise<void>;
  /** Called with errors of the hook or the handler (logging); the client gets exit 2 with a message. */
  readonly onError?: (err: unknown) => void;
}

// The control socket path taken by a live daemon, or by something that is not a socket.
export { isSocketLive, PrivateSocketError as ControlServerError } from './private-socket.js';

export class ControlServer {
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    readonly socketPath: string,
    private readonly server: Server,
    private readonly options: ControlServerOptions,
  ) {}

  /** Creates the socket (0600) and starts answering. */
  static async start(options: ControlServerOptions): Promise<ControlServer> {
    const path = options.socketPath;
    const server = createServer({ allowHalfOpen: true });
    const control = new ControlServer(path, server, options);
    server.on('connection', (socket) => control.accept(socket));
    await listenPrivate(server, path);
    return control;
  }

  /** Stops accepting, waits for the request in progress, removes the socket file. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.queue;
    await unlink(this.socketPath).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let taken = false;
    const take = (line: string | undefined) => {
      if (taken) return;
      taken = true;
      socket.pause();
      this.queue = this.queue.then(() => this.answer(socket, line)).catch((err) => this.options.onError?.(err));
    };
    socket.on('data', (chunk: Buffer) => {
      if (taken) return;
      const newline = chunk.indexOf(0x0a);
      if (newline >= 0) {
        chunks.push(chunk.subarray(0, newline));
        take(Buffer.concat(chunks).toString('utf8'));
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) take(undefined);
    });
    socket.on('end', () => take(chunks.length > 0 ? Buffer.concat(chunks).toString('utf8') : ''));
    socket.on('error', () => socket.destroy());
  }

  private async answer(socket: Socket, line: string | undefined): Promise<void> {
    let response: ControlResponse;
    if (line === undefined) {
      response = { stdout: '', stderr: `uvs: request larger than ${MAX_REQUEST_BYTES} bytes refused\n`, exitCode: 2 };
    } else {
      let decoded: unknown;
      try {
        decoded = JSON.parse(line);
      } catch {
        decoded = undefined;
      }
      const query = asQuery(decoded);
      const request = query === undefined ? asRequest(decoded) : undefined;
      if (typeof query === 'string') response = { stdout: '', stderr: `uvs: ${query}\n`, exitCode: 2 };
      else if (query !== undefined) response = await this.ask(query);
      else if (request !== undefined) response = await this.run(request);
      else response = { stdout: '', stderr: 'uvs: malformed control request\n', exitCode: 2 };
    }
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.end(`${JSON.stringify(response)}\n`, () => resolve());
      socket.once('error', () => resolve());
    });
  }

  private async ask(request: QueryRequest): Promise<ControlResponse> {
    if (this.options.queryHandler === undefined) {
      return { stdout: '', stderr: `uvs: this daemon does not answer ${request.query} queries\n`, exitCode: 2 };
    }
    try {
      const { stdout, stderr, exitCode } = await this.options.queryHandler(request);
      return { stdout, stderr, exitCode };
    } catch (err) {
      this.options.onError?.(err);
      return { stdout: '', stderr: `uvs: internal error: ${String(err)}\n`, exitCode: 2 };
    }
  }

  private async run(request: ControlRequest): Promise<ControlResponse> {
    try {
      const result = await this.options.handler(request);
      if (result.rulesChanged === true && this.options.onRulesChanged !== undefined) {
        try {
          await this.options.onRulesChanged();
        } catch (err) {
          this.options.onError?.(err);
          return {
            stdout: result.stdout,
            stderr: `${result.stderr}uvs: the rules changed but the state file could not be saved: ${String(err)}\n`,
            exitCode: 2,
          };
        }
      }
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
    } catch (err) {
      this.options.onError?.(err);
      return { stdout: '', stderr: `uvs: internal error: ${String(err)}\n`, exitCode: 2 };
    }
  }
}
